"""The Worker against a fake of the HTTP lease protocol (fakeleases.py):
results, progress, cancellation through heartbeats, failures and retries,
concurrency, retried completions, shutdown with a grace period."""

import json
import logging
import os
import threading
import time
import unittest

import jobqueue
from fakeleases import FakeLeaseServer
from httpfakes import ScriptedServer

# Quiet unless asked (JOBQUEUE_TEST_LOG=DEBUG): failures are these tests' point.
logging.basicConfig(level=os.environ.get("JOBQUEUE_TEST_LOG", "CRITICAL"))


class WorkerTestCase(unittest.TestCase):
    def setUp(self):
        self.fake = FakeLeaseServer()
        self.addCleanup(self.fake.close)

    def worker(self, **kw):
        kw.setdefault("lease_seconds", 30)
        kw.setdefault("wait_seconds", 1)
        return jobqueue.Worker(self.fake.url, **kw)

    def start(self, worker):
        """Runs worker.run() in a thread; stops it at cleanup. Returns a
        dict whose "error" is what run() raised."""
        out = {}

        def run():
            try:
                worker.run(install_signal_handlers=False)
            except BaseException as e:  # noqa: B902 - handed to the test
                out["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        out["thread"] = t

        def stop():
            worker.stop()
            t.join(30)
        self.addCleanup(stop)
        return out

    def heartbeats(self, job_id):
        return self.fake.calls_to("/heartbeat", job_id)


class TestResults(WorkerTestCase):
    def test_the_result_completes_the_job_and_the_handler_sees_the_lease(self):
        w = self.worker()
        seen = []

        @w.handler("double")
        def double(job):
            seen.append((job.id, job.type, job.queue, job.payload, job.attempt, job.max_retries, job.inputs))
            return {"n": job.payload["n"] * 2}

        plain = self.fake.submit("double", {"n": 21}, queue="q1", max_retries=2)
        with_inputs = self.fake.submit("double", {"n": 1}, inputs={"previous": {"rows": 3}})
        self.start(w)
        done = self.fake.wait_status(plain, "completed")
        self.assertEqual(done["result"], {"n": 42})
        self.assertEqual(self.fake.wait_status(with_inputs, "completed")["result"], {"n": 2})
        self.assertIn((plain, "double", "q1", {"n": 21}, 1, 2, {}), seen)
        self.assertIn((with_inputs, "double", "default", {"n": 1}, 1, 3, {"previous": {"rows": 3}}), seen)
        self.assertEqual(self.fake.calls_to("/fail"), [])
        lease = self.fake.calls_to("/api/v1/leases")[0][2]
        self.assertEqual(lease["types"], ["double"])
        self.assertEqual(lease["worker_id"], w.worker_id)

    def test_calls_about_a_traced_job_carry_its_trace(self):
        w = self.worker()
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        seen = []

        @w.handler("double")
        def double(job):
            seen.append(job.traceparent)
            job.progress(50, "half")
            return None

        traced = self.fake.submit("double", traceparent=tp)
        plain = self.fake.submit("double")
        self.start(w)
        self.fake.wait_status(traced, "completed")
        self.fake.wait_status(plain, "completed")
        self.assertCountEqual(seen, [None, tp])
        with self.fake.cond:
            sent = list(self.fake.traceparents)
        self.assertIn(("/api/v1/leases/%s/complete" % traced, tp), sent)
        self.assertIn(("/api/v1/leases/%s/complete" % plain, None), sent)
        self.assertTrue(all(h == tp for p, h in sent if traced in p))

    def test_a_type_of_another_worker_is_left_alone(self):
        w = self.worker(types=["mine"])
        w.handler("mine")(lambda job: "ok")
        w.handler("unused")(lambda job: "no")
        theirs = self.fake.submit("theirs")
        mine = self.fake.submit("mine")
        self.start(w)
        self.fake.wait_status(mine, "completed")
        self.assertEqual(self.fake.job(theirs)["status"], "pending")
        self.assertTrue(all(c[2]["types"] == ["mine"] for c in self.fake.calls_to("/api/v1/leases")))


class TestProgress(WorkerTestCase):
    def test_progress_goes_out_without_waiting_for_the_heartbeat(self):
        # A 300 s lease beats every 100 s: progress seen sooner was sent for itself.
        w = self.worker(lease_seconds=300)
        release = threading.Event()

        @w.handler("steps")
        def steps(job):
            job.progress(40, "Reading document 2 of 5")
            release.wait(30)
            return "done"

        job_id = self.fake.submit("steps")
        self.start(w)
        self.fake.wait_until(lambda: (40, "Reading document 2 of 5") in self.fake.jobs[job_id].progress_seen,
                             what="the progress")
        release.set()
        self.assertEqual(self.fake.wait_status(job_id, "completed")["result"], "done")

    def test_progress_in_a_tight_loop_is_coalesced_and_the_latest_arrives(self):
        w = self.worker(lease_seconds=300, progress_interval=0.2)
        calls = 20000
        spent = {}

        @w.handler("busy")
        def busy(job):
            start = time.monotonic()
            for i in range(1, calls + 1):
                job.progress(i * 100.0 / calls, "item %d" % i)
            # The last value must arrive, however the calls were coalesced.
            self.fake.wait_until(lambda: job.id in self.fake.jobs and
                                 self.fake.jobs[job.id].progress == 100.0, what="the last progress")
            spent["s"] = time.monotonic() - start
            return None

        job_id = self.fake.submit("busy")
        self.start(w)
        self.fake.wait_status(job_id, "completed")
        beats = self.heartbeats(job_id)
        self.assertEqual(beats[-1][2]["current_step"], "item %d" % calls)
        # At most one heartbeat per progress_interval (plus the first).
        self.assertLessEqual(len(beats), spent["s"] / 0.2 + 2, beats)
        self.assertLess(len(beats), calls / 100)

    def test_bad_progress_is_refused_in_the_handler(self):
        w = self.worker()
        errors = []

        @w.handler("bad")
        def bad(job):
            for pct in (-1, 101, float("nan"), "50", True):
                try:
                    job.progress(pct)
                except (ValueError, TypeError) as e:
                    errors.append(type(e))
            return "ok"

        job_id = self.fake.submit("bad")
        self.start(w)
        self.fake.wait_status(job_id, "completed")
        self.assertEqual(errors, [ValueError] * 5)


class TestLog(WorkerTestCase):
    def test_lines_reach_the_job_log_in_order_before_the_result(self):
        w = self.worker()

        @w.handler("chatty")
        def chatty(job):
            for i in range(250):
                job.log("line %d" % i)
            job.log("careful", level="warn")
            return "done"

        job_id = self.fake.submit("chatty")
        self.start(w)
        done = self.fake.wait_status(job_id, "completed")
        self.assertEqual([m for _, m, _ in done["log"]], ["line %d" % i for i in range(250)] + ["careful"])
        self.assertEqual(done["log"][-1][0], "warn")
        self.assertTrue(all(t and t.endswith("+00:00") for _, _, t in done["log"]))
        # Every line went out before the result.
        calls = [c[1] for c in self.fake.calls if c[1].startswith("/api/v1/leases/" + job_id)]
        self.assertEqual(calls[-1], "/api/v1/leases/%s/complete" % job_id)
        self.assertLess(len(self.fake.calls_to("/log", job_id)), 250, "lines are sent in batches")

    def test_lines_of_a_failing_handler_are_sent_before_the_failure(self):
        w = self.worker()

        @w.handler("doomed")
        def doomed(job):
            job.log("about to fail", level="error")
            raise jobqueue.Permanent("no")

        job_id = self.fake.submit("doomed")
        self.start(w)
        failed = self.fake.wait_status(job_id, "failed")
        self.assertEqual([(lv, m) for lv, m, _ in failed["log"]], [("error", "about to fail")])

    def test_bad_lines_are_refused_in_the_handler(self):
        w = self.worker()
        errors = []

        @w.handler("bad")
        def bad(job):
            for args in (("x", "loud"), (3, "info")):
                try:
                    job.log(*args)
                except (ValueError, TypeError) as e:
                    errors.append(type(e))
            return "ok"

        job_id = self.fake.submit("bad")
        self.start(w)
        self.assertEqual(self.fake.wait_status(job_id, "completed")["log"], [])
        self.assertEqual(errors, [ValueError, TypeError])


class TestCancel(WorkerTestCase):
    def test_a_cancel_is_seen_at_the_next_heartbeat_and_the_result_dropped(self):
        w = self.worker(lease_seconds=5)  # a heartbeat every 5/3 s
        started, saw_cancel, returned = threading.Event(), threading.Event(), threading.Event()

        @w.handler("long")
        def long(job):
            started.set()
            if job.cancelled.wait(30):
                saw_cancel.set()
            returned.set()
            return {"late": True}

        job_id = self.fake.submit("long")
        self.start(w)
        self.assertTrue(started.wait(15))
        self.fake.cancel(job_id)
        self.assertTrue(saw_cancel.wait(15), "the handler never saw the cancel")
        self.assertTrue(returned.wait(15))
        self.fake.wait_until(lambda: not w.running(), what="the run to end")
        beats = self.heartbeats(job_id)
        # Every heartbeat before the cancel was accepted; the first after it
        # answered 409 and was the last: the cancel came within one heartbeat.
        self.assertEqual([b[3] for b in beats[:-1]], [200] * (len(beats) - 1))
        self.assertEqual(beats[-1][3], 409)
        self.assertEqual(self.fake.calls_to("/complete"), [])
        self.assertEqual(self.fake.calls_to("/fail"), [])
        job = self.fake.job(job_id)
        self.assertEqual((job["status"], job["result"]), ("cancelled", None))

    def test_a_complete_refused_for_a_lost_lease_is_not_retried(self):
        w = self.worker(lease_seconds=300)  # no heartbeat comes before the end
        gate = threading.Event()

        @w.handler("gated")
        def gated(job):
            gate.wait(30)
            return "too late"

        job_id = self.fake.submit("gated")
        self.start(w)
        self.fake.wait_status(job_id, "running")
        self.fake.cancel(job_id)
        gate.set()
        self.fake.wait_until(lambda: len(self.fake.calls_to("/complete")) == 1, what="the complete")
        self.fake.wait_until(lambda: not w.running(), what="the run to end")
        self.assertEqual([c[3] for c in self.fake.calls_to("/complete")], [409])
        self.assertEqual(self.fake.job(job_id)["status"], "cancelled")


class TestFailures(WorkerTestCase):
    def test_an_exception_fails_the_run_and_the_job_is_retried(self):
        w = self.worker()

        @w.handler("flaky")
        def flaky(job):
            if job.attempt == 1:
                raise ValueError("disk on fire")
            return {"attempt": job.attempt}

        job_id = self.fake.submit("flaky", max_retries=3)
        self.start(w)
        job = self.fake.wait_status(job_id, "completed")
        self.assertEqual(job["result"], {"attempt": 2})
        self.assertEqual(job["history"], ["pending", "running", "retrying", "pending", "running", "completed"])
        (fail,) = self.fake.calls_to("/fail")
        self.assertEqual((fail[2]["error"], fail[2]["retryable"], fail[3]), ("disk on fire", True, 200))

    def test_permanent_fails_the_job_without_retry(self):
        w = self.worker()

        @w.handler("strict")
        def strict(job):
            raise jobqueue.Permanent("payload has no documents")

        job_id = self.fake.submit("strict", max_retries=3)
        self.start(w)
        job = self.fake.wait_status(job_id, "failed")
        self.assertEqual((job["attempt"], job["error"]), (1, "payload has no documents"))
        (fail,) = self.fake.calls_to("/fail")
        self.assertIs(fail[2]["retryable"], False)

    def test_a_result_that_is_not_json_fails_the_job_without_retry(self):
        w = self.worker()
        w.handler("odd")(lambda job: {"when": object()})
        job_id = self.fake.submit("odd")
        self.start(w)
        job = self.fake.wait_status(job_id, "failed")
        self.assertIn("not JSON", job["error"])
        self.assertEqual(job["attempt"], 1)


class TestConcurrency(WorkerTestCase):
    def test_no_more_jobs_run_than_the_concurrency(self):
        w = self.worker(concurrency=3)
        cond, gate = threading.Condition(), threading.Event()
        now = {"in": 0, "max": 0}

        @w.handler("slot")
        def slot(job):
            with cond:
                now["in"] += 1
                now["max"] = max(now["max"], now["in"])
                cond.notify_all()
            gate.wait(30)
            with cond:
                now["in"] -= 1
            return job.id

        ids = [self.fake.submit("slot") for _ in range(7)]
        self.start(w)
        with cond:
            self.assertTrue(cond.wait_for(lambda: now["in"] == 3, 15), "three handlers never ran at once")
        self.assertEqual(sum(j["status"] == "running" for j in map(self.fake.job, ids)), 3)
        gate.set()
        for job_id in ids:
            self.fake.wait_status(job_id, "completed")
        self.assertEqual(now["max"], 3)
        leases = self.fake.calls_to("/api/v1/leases")
        self.assertEqual(leases[0][2]["max_jobs"], 3, "the first call takes every free slot")
        self.assertTrue(all(1 <= c[2]["max_jobs"] <= 3 for c in leases))

    def test_an_idle_worker_calls_within_its_lease(self):
        w = jobqueue.Worker(self.fake.url, lease_seconds=6, wait_seconds=60)
        w.handler("x")(lambda job: None)
        self.assertEqual(w.wait_seconds, 4)


class TestRetriedCalls(WorkerTestCase):
    def test_complete_is_retried_on_503(self):
        self.fake.inject("/complete", 503, times=2)
        w = self.worker()
        w.handler("ok")(lambda job: "fine")
        job_id = self.fake.submit("ok")
        self.start(w)
        self.assertEqual(self.fake.wait_status(job_id, "completed")["result"], "fine")
        self.assertEqual([c[3] for c in self.fake.calls_to("/complete")], [503, 503, 200])

    def test_a_complete_whose_answer_was_lost_is_accepted_when_retried(self):
        # The first complete is carried out but its answer lost (a dying
        # instance behind a load balancer): the retry must succeed, once.
        self.fake.inject("/complete", 502, apply=True)
        w = self.worker()
        w.handler("ok")(lambda job: "once")
        job_id = self.fake.submit("ok")
        self.start(w)
        job = self.fake.wait_status(job_id, "completed")
        self.fake.wait_until(lambda: len(self.fake.calls_to("/complete")) == 2, what="the retried complete")
        self.assertEqual([c[3] for c in self.fake.calls_to("/complete")], [502, 200])
        self.assertEqual(job["history"].count("completed"), 1)
        self.assertEqual(self.fake.calls_to("/fail"), [])

    def test_fail_is_retried_on_503(self):
        self.fake.inject("/fail", 503, times=1, retry_after=1)
        w = self.worker()

        @w.handler("broken")
        def broken(job):
            raise jobqueue.Permanent("no")

        job_id = self.fake.submit("broken")
        self.start(w)
        self.fake.wait_status(job_id, "failed")
        self.assertEqual([c[3] for c in self.fake.calls_to("/fail")], [503, 200])

    def test_lease_calls_are_retried_while_the_server_is_away(self):
        self.fake.inject("/api/v1/leases", 503, times=2)
        w = self.worker()
        w.handler("ok")(lambda job: "after all")
        job_id = self.fake.submit("ok")
        self.start(w)
        self.fake.wait_status(job_id, "completed")
        self.assertEqual([c[3] for c in self.fake.calls_to("/api/v1/leases")][:3], [503, 503, 200])


class TestKeys(unittest.TestCase):
    def setUp(self):
        self.fake = FakeLeaseServer(keys={"worker-key-0123456789": "worker", "read-key-0123456789": "read"})
        self.addCleanup(self.fake.close)

    def run_worker(self, key):
        w = jobqueue.Worker(self.fake.url, api_key=key, wait_seconds=0)
        w.handler("ok")(lambda job: "ok")
        w.run(install_signal_handlers=False)

    def test_a_read_key_cannot_take_jobs(self):
        with self.assertRaises(jobqueue.Forbidden) as ctx:
            self.run_worker("read-key-0123456789")
        self.assertEqual((ctx.exception.status, ctx.exception.code), (403, "forbidden"))

    def test_an_unknown_key_cannot_take_jobs(self):
        with self.assertRaises(jobqueue.Unauthorized):
            self.run_worker("nobody")

    def test_a_worker_key_goes_as_a_bearer_token(self):
        job_id = self.fake.submit("ok")
        w = jobqueue.Worker(self.fake.url, api_key="worker-key-0123456789", wait_seconds=1)
        w.handler("ok")(lambda job: "ok")
        t = threading.Thread(target=w.run, kwargs={"install_signal_handlers": False}, daemon=True)
        t.start()
        self.fake.wait_status(job_id, "completed")
        w.stop()
        t.join(30)
        self.assertFalse(t.is_alive())


class TestOddAnswers(unittest.TestCase):
    def test_a_malformed_lease_is_skipped_and_the_worker_goes_on(self):
        srv = ScriptedServer((200, {}, json.dumps({"leases": [{"job_id": "no token"}]})),
                             (403, {}, json.dumps({"error": {"code": "forbidden", "message": "key revoked"}})))
        self.addCleanup(srv.close)
        w = jobqueue.Worker(srv.url, wait_seconds=0)
        w.handler("ok")(lambda job: "ok")
        out = {}

        def run():
            try:
                w.run(install_signal_handlers=False)
            except jobqueue.JobQueueError as e:
                out["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(15)
        if t.is_alive():
            w.stop()
            self.fail("run() did not end: the lease loop died on the malformed lease")
        self.assertIsInstance(out.get("error"), jobqueue.Forbidden)
        self.assertEqual(len(srv.requests), 2)
        self.assertEqual(w.running(), [])


class TestStop(WorkerTestCase):
    def test_stop_lets_a_running_handler_finish_and_takes_no_more(self):
        w = self.worker(grace_period=30)
        started, gate = threading.Event(), threading.Event()

        @w.handler("slow")
        def slow(job):
            started.set()
            gate.wait(30)
            return "finished"

        first = self.fake.submit("slow")
        out = self.start(w)
        self.assertTrue(started.wait(15))
        stopped_at = time.monotonic()
        w.stop()
        second = self.fake.submit("slow")
        gate.set()
        out["thread"].join(30)
        self.assertFalse(out["thread"].is_alive(), "run() did not return")
        self.assertEqual(self.fake.job(first)["result"], "finished")
        self.assertEqual(self.fake.job(second)["status"], "pending")
        self.assertEqual([c for c in self.fake.calls_to("/api/v1/leases") if c[0] > stopped_at], [])

    def test_a_handler_past_the_grace_period_is_abandoned_and_its_job_recovered(self):
        w = self.worker(grace_period=0.2, lease_seconds=5)
        started, told = threading.Event(), threading.Event()

        @w.handler("stuck")
        def stuck(job):
            started.set()
            if job.cancelled.wait(30):
                told.set()
            return "never sent"

        job_id = self.fake.submit("stuck", max_retries=1)
        out = self.start(w)
        self.assertTrue(started.wait(15))
        w.stop()
        out["thread"].join(30)
        self.assertFalse(out["thread"].is_alive())
        self.assertTrue(told.wait(15), "the abandoned handler was not told")
        # No more heartbeats: the lease expires and the job goes back to run again.
        job = self.fake.wait_status(job_id, "pending", timeout=20)
        self.assertEqual(job["history"], ["pending", "running", "retrying", "pending"])
        self.assertEqual(self.fake.calls_to("/complete"), [])


class TestConfig(unittest.TestCase):
    def test_bad_settings_are_refused(self):
        for kw in ({"concurrency": 0}, {"lease_seconds": 4}, {"lease_seconds": 301}, {"wait_seconds": 61},
                   {"worker_id": "has space"}, {"worker_id": "x" * 129}, {"types": []}, {"grace_period": -1}):
            with self.subTest(kw=kw), self.assertRaises(ValueError):
                jobqueue.Worker("http://127.0.0.1:1", **kw)
        with self.assertRaises(ValueError):
            jobqueue.Worker("ftp://example")

    def test_run_needs_a_handler_for_every_type(self):
        with self.assertRaises(ValueError):
            jobqueue.Worker("http://127.0.0.1:1").run(install_signal_handlers=False)
        w = jobqueue.Worker("http://127.0.0.1:1", types=["a", "b"])
        w.handler("a")(lambda job: None)
        with self.assertRaisesRegex(ValueError, "b"):
            w.run(install_signal_handlers=False)

    def test_a_type_has_one_handler(self):
        w = jobqueue.Worker("http://127.0.0.1:1")
        w.handler("a")(lambda job: None)
        with self.assertRaises(ValueError):
            w.handler("a")(lambda job: None)

    def test_the_default_worker_id_is_valid_and_unique(self):
        a, b = jobqueue.Worker("http://127.0.0.1:1"), jobqueue.Worker("http://127.0.0.1:1")
        self.assertRegex(a.worker_id, r"^[A-Za-z0-9._:-]{1,128}$")
        self.assertNotEqual(a.worker_id, b.worker_id)


if __name__ == "__main__":
    unittest.main()
