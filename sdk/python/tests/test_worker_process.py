"""A Worker in its own process, stopped by signals as an orchestrator
stops it: SIGTERM or SIGINT stops the leasing and lets running handlers
finish within the grace period; past it, the process exits and the
abandoned job is recovered by the server once its lease expires."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import jobqueue
from fakeleases import FakeLeaseServer

HERE = os.path.dirname(os.path.abspath(__file__))
# Where the jobqueue package under test lives, for the worker's process.
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(jobqueue.__file__)))


class WorkerProcess:
    """worker_main.py running against url; its stderr is collected."""

    def __init__(self, url, grace):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join((SOURCE, HERE))
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "worker_main.py"), url, str(grace)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self.cond.notify_all()

    def wait_log(self, text, timeout=15):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(text in line for line in self.lines), timeout)
        if not ok:
            raise AssertionError("no log line with %r in:\n%s" % (text, "\n".join(self.lines)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@unittest.skipIf(os.name != "posix", "signals as on POSIX")
class TestSignals(unittest.TestCase):
    def setUp(self):
        self.new_fake()

    def new_fake(self):
        # One per worker process: a lease call left waiting by a process
        # that exited would take the next test's job (the fake does not
        # notice a client gone, while a real server should).
        self.fake = FakeLeaseServer()
        self.addCleanup(self.fake.close)

    def start(self, grace):
        p = WorkerProcess(self.fake.url, grace)
        self.addCleanup(p.stop)
        return p

    def started(self, job_id):
        self.fake.wait_until(lambda: (1, "started") in self.fake.jobs[job_id].progress_seen,
                             what="the handler to start")

    def test_a_signal_lets_the_running_job_finish_and_takes_no_more(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name):
                self.new_fake()
                job_id = self.fake.submit("sleepy", {"seconds": 1})
                p = self.start(grace=30)
                self.started(job_id)
                signalled_at = time.monotonic()
                p.proc.send_signal(signum)
                later = self.fake.submit("sleepy", {"seconds": 0})
                self.assertEqual(p.proc.wait(20), 0, "\n".join(p.lines))
                self.assertEqual(self.fake.job(job_id)["result"], {"slept": 1})
                self.assertIn(b"run() returned", p.proc.stdout.read())
                p.wait_log("stopping; waiting up to 30s for ")
                # No lease call starts after the signal. The one waiting then
                # may still hand over the job submitted meanwhile: the worker
                # runs it within the grace period rather than strand it.
                self.assertEqual([c for c in self.fake.calls_to("/api/v1/leases") if c[0] > signalled_at], [])
                self.assertIn(self.fake.job(later)["status"], ("pending", "completed"))

    def test_past_the_grace_period_the_job_is_abandoned_to_the_server(self):
        job_id = self.fake.submit("sleepy", {"seconds": 60}, max_retries=1)
        p = self.start(grace=0.5)
        self.started(job_id)
        p.proc.send_signal(signal.SIGTERM)
        self.assertEqual(p.proc.wait(20), 0, "\n".join(p.lines))
        p.wait_log("abandoning 1 job(s)")
        job = self.fake.job(job_id)
        self.assertEqual(job["status"], "running", "the job stays leased until its lease expires")
        self.assertEqual(self.fake.calls_to("/complete") + self.fake.calls_to("/fail"), [])

    def test_a_second_signal_ends_the_grace_period(self):
        job_id = self.fake.submit("sleepy", {"seconds": 60})
        p = self.start(grace=300)
        self.started(job_id)
        p.proc.send_signal(signal.SIGTERM)
        p.wait_log("stopping; waiting up to 300s")
        p.proc.send_signal(signal.SIGTERM)
        self.assertEqual(p.proc.wait(20), 0, "\n".join(p.lines))
        p.wait_log("abandoning 1 job(s)")


if __name__ == "__main__":
    unittest.main()
