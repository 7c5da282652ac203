"""The README's examples run as written: its worker against the fake
lease server, its client block against the real service (when
JOBQUEUE_TEST_URL names one)."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

import jobqueue
from fakeleases import FakeLeaseServer

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
# Where the jobqueue package under test lives, for the example's process.
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(jobqueue.__file__)))


def example(name):
    """The code block that follows the README's "<!-- example: name" marker."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- example: %s\b[^\n]*-->\n```python\n(.*?)\n```" % re.escape(name), text, re.S)
    if m is None:
        raise AssertionError("README.md has no example %s" % name)
    return m.group(1) + "\n"


def run_example(test, name, env):
    """Writes the example to a file and starts it; killed at cleanup."""
    d = tempfile.mkdtemp()
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(example(name))
    env = dict(os.environ, PYTHONPATH=SOURCE, **env)
    proc = subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)

    def cleanup():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    test.addCleanup(cleanup)
    return proc


class TestWorkerExample(unittest.TestCase):
    def test_the_shipped_example_is_the_readme_one(self):
        # deploy/python-worker.Dockerfile runs examples/worker.py.
        path = os.path.join(os.path.dirname(README), "examples", "worker.py")
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), example("worker.py"))

    def test_the_worker_example_runs_its_jobs(self):
        fake = FakeLeaseServer()
        self.addCleanup(fake.close)
        good = fake.submit("word_count", {"documents": ["Jobs wait in a queue.", "A worker runs each job."]})
        bad = fake.submit("word_count", {"documents": []})
        proc = run_example(self, "worker.py", {"JOBQUEUE_URL": fake.url})
        self.assertEqual(fake.wait_status(good, "completed")["result"], {"words": [5, 5], "total": 10})
        failed = fake.wait_status(bad, "failed")
        self.assertEqual(failed["attempt"], 1, "a Permanent error is not retried")
        self.assertIn("documents", failed["error"])
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, out.decode(errors="replace"))
        self.assertIn(b"stopped", out)


@unittest.skipUnless(os.environ.get("JOBQUEUE_TEST_URL"), "JOBQUEUE_TEST_URL is not set")
class TestClientExample(unittest.TestCase):
    def test_the_client_example_runs_against_the_service(self):
        proc = run_example(self, "client.py", {"JOBQUEUE_URL": os.environ["JOBQUEUE_TEST_URL"],
                                               "JOBQUEUE_API_KEY": os.environ.get("JOBQUEUE_TEST_API_KEY", "")})
        out, _ = proc.communicate(timeout=120)
        text = out.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, text)
        self.assertTrue(text.startswith("completed {"), text)
        self.assertIn("after restart: failed", text)
        self.assertIn("404 not_found", text)


if __name__ == "__main__":
    unittest.main()
