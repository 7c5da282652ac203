"""The Worker against the real service (apiservers, Redis; started by
e2e/python_sdk_test.go, which passes their addresses as for
test_client_live.py, and JOBQUEUE_TEST_WORKER_KEY, a key of the worker
role): results, progress seen on a stream, cancellation seen by the
handler within one heartbeat, retries with the server's backoff, and a
worker process killed mid-job whose job runs again on another worker.

Each test uses job types of its own, which its worker's first lease call
makes known to the service. Without JOBQUEUE_TEST_URL they are skipped."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import uuid

import jobqueue

URL = os.environ.get("JOBQUEUE_TEST_URL")
URL2 = os.environ.get("JOBQUEUE_TEST_URL2") or URL
KEY = os.environ.get("JOBQUEUE_TEST_API_KEY")
WORKER_KEY = os.environ.get("JOBQUEUE_TEST_WORKER_KEY") or KEY
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(jobqueue.__file__)))


def fresh_type(name):
    """A job type no other test (or run) uses."""
    return "%s-%s" % (name, uuid.uuid4().hex[:8])


@unittest.skipUnless(URL, "JOBQUEUE_TEST_URL is not set (e2e/python_sdk_test.go sets it)")
class LiveWorkerTestCase(unittest.TestCase):
    def setUp(self):
        self.client = jobqueue.Client(URL2, api_key=KEY)

    def start(self, worker):
        """Runs worker.run() in a thread, stopped at cleanup."""
        t = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        t.start()

        def stop():
            worker.stop()
            t.join(30)
        self.addCleanup(stop)

    def submit(self, job_type, payload=None, **options):
        """Submits once the type is known (the worker announces it with its
        first lease call, which may still be on its way)."""
        deadline = time.monotonic() + 15
        while True:
            try:
                return self.client.submit(job_type, payload, **options)
            except jobqueue.UnknownJobType:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def worker(self, **kw):
        kw.setdefault("api_key", WORKER_KEY)
        kw.setdefault("wait_seconds", 5)
        return jobqueue.Worker(URL, **kw)


class TestLiveWorker(LiveWorkerTestCase):
    def test_results_and_progress_seen_on_the_stream(self):
        typ = fresh_type("double")
        w = self.worker(lease_seconds=10, progress_interval=0)
        go = threading.Event()

        @w.handler(typ)
        def double(job):
            job.progress(50, "Halfway")
            job.log("halfway there", level="warn")
            go.wait(30)
            return {"n": job.payload["n"] * 2, "attempt": job.attempt}

        self.start(w)
        job_id = self.submit(typ, {"n": 21})
        seen = []
        for ev in self.client.stream(job_id):
            seen.append((ev.status, ev.progress, ev.current_step))
            if ev.status == "running" and ev.progress == 50:
                go.set()
        self.assertIn(("running", 50, "Halfway"), seen)
        self.assertEqual(seen[-1][0], "completed")
        rec = self.client.get(job_id)
        self.assertEqual(rec["result"], {"n": 42, "attempt": 1})
        self.assertEqual(rec["worker_id"], w.worker_id)
        logs = self.client.logs(job_id)
        self.assertEqual([(x["level"], x["message"]) for x in logs["lines"]], [("warn", "halfway there")])
        self.assertEqual(logs["dropped"], 0)
        workers = {x["id"]: x for x in self.client.workers()}
        self.assertEqual(workers[w.worker_id]["protocol"], "http")
        self.assertIn(typ, workers[w.worker_id]["types"])

    def test_cancel_is_seen_by_the_handler_within_one_heartbeat(self):
        typ = fresh_type("cancellable")
        lease = 6  # a heartbeat every 2 s
        w = self.worker(lease_seconds=lease)
        started, seen = threading.Event(), {}

        @w.handler(typ)
        def wait_for_cancel(job):
            started.set()
            if job.cancelled.wait(30):
                seen["at"] = time.monotonic()
            return "not cancelled"

        self.start(w)
        job_id = self.submit(typ)
        self.assertTrue(started.wait(15), "the handler never started")
        cancelled_at = time.monotonic()
        self.client.cancel(job_id)
        deadline = time.monotonic() + 15
        while "at" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("at", seen, "the handler never saw the cancellation")
        self.assertLessEqual(seen["at"] - cancelled_at, lease / 3 + 1.5)
        self.assertEqual(self.client.status(job_id)["status"], "cancelled")

    def test_a_failure_is_retried_then_a_permanent_one_fails(self):
        typ = fresh_type("flaky")
        w = self.worker(lease_seconds=10)
        attempts = []

        @w.handler(typ)
        def flaky(job):
            attempts.append(job.attempt)
            if job.payload.get("permanent"):
                raise jobqueue.Permanent("bad input")
            if job.attempt == 1:
                raise RuntimeError("transient")
            return {"attempt": job.attempt}

        self.start(w)
        retried = self.submit(typ, {}, max_retries=2)
        final = self.client.wait(retried, timeout=60)
        self.assertEqual((final["status"], final["result"]), ("completed", {"attempt": 2}))
        permanent = self.submit(typ, {"permanent": True}, max_retries=5)
        final = self.client.wait(permanent, timeout=60)
        self.assertEqual(final["status"], "failed")
        self.assertIn("bad input", final["error"])
        self.assertEqual(self.client.get(permanent)["attempts"], 1)

    def test_a_killed_worker_process_loses_its_job_to_another_within_two_leases(self):
        typ = fresh_type("sleepy")
        lease = 5
        env = dict(os.environ, PYTHONPATH=os.pathsep.join((SOURCE, HERE)))
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "worker_live_main.py"), URL, WORKER_KEY or "",
                                 typ, str(lease)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        job_id = self.submit(typ, {"seconds": 60})
        deadline = time.monotonic() + 15
        while self.client.status(job_id)["status"] != "running":
            self.assertLess(time.monotonic(), deadline, "the worker process never took the job")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        w = self.worker(lease_seconds=lease, wait_seconds=2)
        ran = {}

        @w.handler(typ)
        def sleepy(job):
            ran.setdefault("at", time.monotonic())
            ran["attempt"] = job.attempt
            return {"rescued": True}

        self.start(w)
        final = self.client.wait(job_id, timeout=60)
        self.assertEqual((final["status"], final["result"]), ("completed", {"rescued": True}))
        self.assertEqual(ran["attempt"], 2)
        self.assertLessEqual(ran["at"] - killed_at, 2 * lease)


if __name__ == "__main__":
    unittest.main()
