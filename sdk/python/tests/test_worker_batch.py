"""The Worker's batched completions against the fake lease server:
handlers that end together complete their jobs in one call, each job's
answer read on its own; an older server without the route, or a failed
batch, makes each completion go alone."""

import threading
import unittest

from fakeleases import FakeLeaseServer
from test_worker import WorkerTestCase

BATCH = "/api/v1/leases/complete"


class BatchTestCase(WorkerTestCase):
    def gated(self, w, n, job_type="gated"):
        """n jobs whose handlers wait for the returned gate, all running."""
        gate = threading.Event()

        @w.handler(job_type)
        def handler(job):
            gate.wait(30)
            return {"id": job.id}

        ids = [self.fake.submit(job_type) for _ in range(n)]
        self.start(w)
        for job_id in ids:
            self.fake.wait_status(job_id, "running")
        return ids, gate

    def batches(self):
        return [c for c in self.fake.calls_to("/complete") if c[1] == BATCH]

    def singles(self, job_id=None):
        return [c for c in self.fake.calls_to("/complete", job_id) if c[1] != BATCH]

    def wait_done(self, ids, w):
        for job_id in ids:
            job = self.fake.wait_status(job_id, "completed")
            self.assertEqual(job["result"], {"id": job_id})
            self.assertEqual(job["history"].count("completed"), 1)
        self.fake.wait_until(lambda: not w.running(), what="the runs to end")


class TestBatchedCompletions(BatchTestCase):
    def test_handlers_that_end_together_complete_in_one_call(self):
        w = self.worker(concurrency=8, lease_seconds=300)
        ids, gate = self.gated(w, 8)
        gate.set()
        self.wait_done(ids, w)
        batches = self.batches()
        self.assertTrue(batches, "no batched completion")
        self.assertTrue(all(c[3] == 200 for c in batches))
        batched = [item["job_id"] for c in batches for item in c[2]["completions"]]
        self.assertEqual(len(batched), len(set(batched)))
        self.assertGreater(len(batched), 1)
        for c in batches:
            self.assertTrue(all(set(item) == {"job_id", "lease_token", "result"} for item in c[2]["completions"]))
        # Those batched were not sent again alone; the others went alone once.
        for job_id in ids:
            self.assertEqual(len(self.singles(job_id)), 0 if job_id in batched else 1)

    def test_a_lost_lease_in_a_batch_is_refused_alone_and_not_retried(self):
        w = self.worker(concurrency=4, lease_seconds=300)  # no heartbeat comes before the end
        ids, gate = self.gated(w, 4)
        self.fake.cancel(ids[0])
        gate.set()
        self.wait_done(ids[1:], w)
        self.assertEqual(self.fake.job(ids[0])["status"], "cancelled")
        answered = {}
        for c in self.batches():
            for item in c[2]["completions"]:
                answered[item["job_id"]] = c[3]
        for c in self.singles():
            answered[c[1].split("/")[-2]] = c[3]
        self.assertEqual(sorted(answered), sorted(ids), "every job's completion was sent once")
        self.assertEqual(len(self.fake.calls_to("/complete", ids[0])) + sum(
            1 for c in self.batches() for item in c[2]["completions"] if item["job_id"] == ids[0]), 1)

    def test_a_traced_job_completes_alone_with_its_trace(self):
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        w = self.worker(concurrency=4, lease_seconds=300)
        gate = threading.Event()

        @w.handler("gated")
        def handler(job):
            gate.wait(30)
            return {"id": job.id}

        traced = self.fake.submit("gated", traceparent=tp)
        plain = [self.fake.submit("gated") for _ in range(3)]
        self.start(w)
        for job_id in plain + [traced]:
            self.fake.wait_status(job_id, "running")
        gate.set()
        self.wait_done(plain + [traced], w)
        self.assertEqual([c[3] for c in self.singles(traced)], [200])
        with self.fake.cond:
            sent = list(self.fake.traceparents)
        self.assertIn(("/api/v1/leases/%s/complete" % traced, tp), sent)
        self.assertFalse(any(item["job_id"] == traced for c in self.batches() for item in c[2]["completions"]))

    def test_a_failed_batch_is_sent_alone(self):
        self.fake.inject(BATCH, 503, times=1)
        w = self.worker(concurrency=6, lease_seconds=300)
        ids, gate = self.gated(w, 6)
        gate.set()
        self.wait_done(ids, w)
        first = self.batches()[0]
        self.assertEqual(first[3], 503)
        for item in first[2]["completions"]:
            self.assertEqual([c[3] for c in self.singles(item["job_id"])], [200])


class TestOlderServer(BatchTestCase):
    def setUp(self):
        self.fake = FakeLeaseServer(batch_complete=False)
        self.addCleanup(self.fake.close)

    def test_without_the_route_each_completion_goes_alone(self):
        w = self.worker(concurrency=5, lease_seconds=300)
        gates = [threading.Event()]

        @w.handler("gated")
        def handler(job):
            gates[-1].wait(30)
            return {"id": job.id}

        self.start(w)
        tried = 0
        for burst in range(2):
            ids = [self.fake.submit("gated") for _ in range(5)]
            for job_id in ids:
                self.fake.wait_status(job_id, "running")
            gates[-1].set()
            self.wait_done(ids, w)
            gates.append(threading.Event())
            for job_id in ids:
                self.assertEqual([c[3] for c in self.singles(job_id)], [200])
            self.assertTrue(all(c[3] == 404 for c in self.batches()))
            if burst == 0:
                tried = len(self.batches())
                self.assertLessEqual(tried, 1)
        # Known after the first 404: later completions do not ask again.
        self.assertEqual(len(self.batches()), tried)


if __name__ == "__main__":
    unittest.main()
