"""verify_callback: a signature made by the job queue's deliverers (the
vector below is checked on the Go side too, TestSignatureVector) passes;
forgeries, other bodies, stale or missing headers do not."""

import unittest

from jobqueue import BadSignature, verify_callback

SECRET = "whsec-test"
BODY = b'{"job_id":"123e4567-e89b-12d3-a456-426614174000","status":"completed"}'
TS = 1700000000
SIG = "sha256=762c92a0ba276fc6ac670ad0b55a621a5db8bbcd496007abc29b8cb7cb04928c"
HEADERS = {"Jobqueue-Delivery": "123e4567-e89b-12d3-a456-426614174000.5",
           "Jobqueue-Timestamp": str(TS), "Jobqueue-Signature": SIG}


class VerifyCallbackTest(unittest.TestCase):
    def test_valid(self):
        self.assertEqual(verify_callback(SECRET, HEADERS, BODY, now=TS + 10),
                         "123e4567-e89b-12d3-a456-426614174000.5")

    def test_headers_any_case(self):
        lower = {k.lower(): v for k, v in HEADERS.items()}
        self.assertTrue(verify_callback(SECRET.encode(), lower, BODY.decode(), now=TS))

    def test_refused(self):
        cases = {
            "another secret": ("other", HEADERS, BODY, TS),
            "another body": (SECRET, HEADERS, BODY + b" ", TS),
            "too old": (SECRET, HEADERS, BODY, TS + 301),
            "no timestamp": (SECRET, {k: v for k, v in HEADERS.items() if k != "Jobqueue-Timestamp"}, BODY, TS),
            "no delivery id": (SECRET, {k: v for k, v in HEADERS.items() if k != "Jobqueue-Delivery"}, BODY, TS),
            "bad form": (SECRET, dict(HEADERS, **{"Jobqueue-Signature": SIG[7:]}), BODY, TS),
        }
        for name, (secret, headers, body, now) in cases.items():
            with self.subTest(name):
                with self.assertRaises(BadSignature):
                    verify_callback(secret, headers, body, now=now)


if __name__ == "__main__":
    unittest.main()
