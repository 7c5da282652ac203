"""The Client against the real service: apiservers, Redis and a Go worker
started by e2e/python_sdk_test.go, which passes their addresses:

- JOBQUEUE_TEST_URL, JOBQUEUE_TEST_URL2: two apiservers of one cluster
- JOBQUEUE_TEST_API_KEY: an admin key; JOBQUEUE_TEST_READ_KEY: a read key
- JOBQUEUE_TEST_LIMITED_URL: an apiserver with a rate limit of 1/s

Without JOBQUEUE_TEST_URL these tests are skipped. The job type "demo" is
built in: it sleeps through payload steps, reporting progress, and fails
at step fail_at."""

import os
import re
import unittest
import uuid

import jobqueue
from httpfakes import CutProxy

URL = os.environ.get("JOBQUEUE_TEST_URL")
URL2 = os.environ.get("JOBQUEUE_TEST_URL2") or URL
KEY = os.environ.get("JOBQUEUE_TEST_API_KEY")
READ_KEY = os.environ.get("JOBQUEUE_TEST_READ_KEY")
LIMITED_URL = os.environ.get("JOBQUEUE_TEST_LIMITED_URL")
STATUS_FIELDS = {"job_id", "status", "progress", "current_step", "result", "error", "created_at", "started_at",
                 "completed_at", "updated_at"}


@unittest.skipUnless(URL, "JOBQUEUE_TEST_URL is not set (e2e/python_sdk_test.go sets it)")
class LiveTestCase(unittest.TestCase):
    def setUp(self):
        self.client = jobqueue.Client(URL, api_key=KEY)

    def demo(self, steps=3, step_ms=50, **options):
        return self.client.submit("demo", {"steps": steps, "step_ms": step_ms}, **options)

    def later(self, **options):
        """A job scheduled an hour ahead, cancelled at cleanup."""
        job_id = self.client.submit("demo", {"steps": 1}, delay=3600, **options)
        self.addCleanup(self._cancel_quietly, job_id)
        return job_id

    def _cancel_quietly(self, job_id):
        try:
            self.client.cancel(job_id)
        except jobqueue.InvalidTransition:
            pass


class TestSubmitAndFollow(LiveTestCase):
    def test_submit_status_get_and_wait(self):
        job_id = self.demo(steps=3, priority=7, max_retries=1, timeout=60)
        self.assertEqual(str(uuid.UUID(job_id)), job_id)
        st = self.client.status(job_id)
        self.assertEqual(set(st), STATUS_FIELDS)
        rec = self.client.get(job_id)
        self.assertEqual((rec["type"], rec["queue"], rec["payload"], rec["priority"], rec["max_retries"],
                          rec["timeout_seconds"]), ("demo", "default", {"steps": 3, "step_ms": 50}, 7, 1, 60))
        seen = []
        final = self.client.wait(job_id, timeout=60, on_change=lambda s: seen.append(s["status"]))
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["result"], {"steps": 3, "step_ms": 50})
        self.assertEqual(final["progress"], 100)
        self.assertNotIn("completed", seen)
        self.assertEqual(self.client.get(job_id)["attempts"], 1)

    def test_a_poll_answers_at_once_when_the_status_differs(self):
        job_id = self.demo(steps=1, step_ms=0)
        self.client.wait(job_id, timeout=60)
        self.assertEqual(self.client.poll(job_id, current_status="pending", timeout=300)["status"], "completed")

    def test_wait_gives_up_at_its_timeout(self):
        job_id = self.later()
        with self.assertRaises(TimeoutError):
            self.client.wait(job_id, timeout=1)
        self.assertEqual(self.client.status(job_id)["status"], "scheduled")

    def test_the_stream_follows_a_job_to_its_end(self):
        job_id = self.demo(steps=4, step_ms=100)
        events = list(self.client.stream(job_id))
        ids = [e.id for e in events]
        self.assertEqual(ids, sorted(set(ids)), "ids only grow")
        self.assertEqual(events[-1].status, "completed")
        self.assertIn("running", [e.status for e in events])
        self.assertTrue(all(e.job_id == job_id for e in events))
        progress = [e.progress for e in events]
        self.assertEqual(progress, sorted(progress))
        # Resumed after its terminal event, the stream has nothing more.
        self.assertEqual(list(self.client.stream(job_id, last_event_id=events[-1].id)), [])
        self.assertEqual([e.status for e in self.client.stream(job_id)], ["completed"])

    def test_a_cut_stream_resumes_on_another_apiserver_from_its_last_event(self):
        proxy = CutProxy([URL, URL2], cut_after=1)
        self.addCleanup(proxy.close)
        job_id = self.demo(steps=6, step_ms=150)
        events = list(jobqueue.Client(proxy.url, api_key=KEY).stream(job_id))
        self.assertEqual(proxy.cuts, 1)
        self.assertGreaterEqual(len(proxy.heads), 2)
        self.assertNotRegex(proxy.heads[0], r"(?i)last-event-id")
        resumed = re.search(r"(?im)^last-event-id: *(\d+)", proxy.heads[1])
        self.assertIsNotNone(resumed, proxy.heads[1])
        self.assertEqual(int(resumed.group(1)), events[0].id)
        ids = [e.id for e in events]
        self.assertEqual(ids, sorted(set(ids)), "no event twice, ids only grow")
        self.assertEqual(events[-1].status, "completed")


class TestCancelAndRestart(LiveTestCase):
    def test_cancel_then_restart_a_scheduled_job(self):
        job_id = self.later()
        self.assertEqual(self.client.status(job_id)["status"], "scheduled")
        self.assertEqual(self.client.cancel(job_id), "Job %s cancelled successfully" % job_id)
        self.assertEqual(self.client.wait(job_id, timeout=10)["status"], "cancelled")
        with self.assertRaises(jobqueue.InvalidTransition) as ctx:
            self.client.cancel(job_id)
        self.assertEqual((ctx.exception.status, ctx.exception.code), (409, "invalid_transition"))
        self.assertEqual(self.client.restart(job_id), "Job %s restarted successfully" % job_id)
        self.assertEqual(self.client.wait(job_id, timeout=60)["status"], "completed")
        self.assertEqual(self.client.get(job_id)["restarts"], 1)

    def test_cancel_a_running_job(self):
        job_id = self.demo(steps=200, step_ms=100)
        st = self.client.poll(job_id, current_status="pending", timeout=30)
        self.assertEqual(st["status"], "running")
        self.client.cancel(job_id)
        self.assertEqual(self.client.wait(job_id, timeout=30)["status"], "cancelled")

    def test_restart_a_failed_job(self):
        job_id = self.client.submit("demo", {"steps": 2, "step_ms": 10, "fail_at": 1}, max_retries=0)
        final = self.client.wait(job_id, timeout=60)
        self.assertEqual(final["status"], "failed")
        self.assertTrue(final["error"])
        self.client.restart(job_id)
        self.assertEqual(self.client.wait(job_id, timeout=60)["status"], "failed")
        self.assertEqual(self.client.get(job_id)["restarts"], 1)

    def test_a_completed_job_cannot_be_restarted(self):
        job_id = self.demo(steps=1, step_ms=0)
        self.client.wait(job_id, timeout=60)
        with self.assertRaises(jobqueue.InvalidTransition) as ctx:
            self.client.restart(job_id)
        self.assertEqual(ctx.exception.status, 409)
        self.assertIn("completed", ctx.exception.message)


class TestErrors(LiveTestCase):
    def test_an_unknown_job_is_not_found(self):
        missing = str(uuid.uuid4())
        for call in (self.client.status, self.client.get, self.client.cancel, self.client.restart):
            with self.subTest(call=call.__name__), self.assertRaises(jobqueue.NotFound) as ctx:
                call(missing)
            self.assertEqual((ctx.exception.status, ctx.exception.code), (404, "not_found"))
            self.assertIn(missing, ctx.exception.message)
        with self.assertRaises(jobqueue.NotFound):
            list(self.client.stream(missing))

    def test_an_unknown_type_is_refused(self):
        with self.assertRaises(jobqueue.UnknownJobType) as ctx:
            self.client.submit("sdk_no_such_type", {})
        self.assertEqual((ctx.exception.status, ctx.exception.code), (400, "unknown_job_type"))

    def test_bad_input_is_a_bad_request(self):
        with self.assertRaises(jobqueue.BadRequest) as ctx:
            self.client.status("not-a-job-id")
        self.assertEqual(ctx.exception.code, "invalid_argument")
        with self.assertRaises(jobqueue.BadRequest):
            self.client.submit("demo", {"steps": "many"})
        with self.assertRaises(jobqueue.BadRequest):
            self.client.submit("demo", priority=101)

    def test_a_unique_key_in_use_names_its_job(self):
        key = "sdk-" + uuid.uuid4().hex
        first = self.later(unique_key=key)
        with self.assertRaises(jobqueue.Duplicate) as ctx:
            self.client.submit("demo", unique_key=key)
        self.assertEqual(ctx.exception.job_id, first)


class TestListAndStats(LiveTestCase):
    def test_list_pages_through_every_job(self):
        queue = "sdk-" + uuid.uuid4().hex[:12]
        ids = {self.later(queue=queue) for _ in range(5)}
        page = self.client.list_page(queue=queue, limit=2)
        self.assertEqual(len(page["jobs"]), 2)
        self.assertTrue(page["next_cursor"])
        listed = [j["job_id"] for j in self.client.list(queue=queue, limit=2)]
        self.assertEqual(sorted(listed), sorted(ids))
        self.assertTrue(all(j["queue"] == queue for j in self.client.list(queue=queue, status="scheduled")))
        summary = next(self.client.list(queue=queue))
        self.assertNotIn("payload", summary)
        full = next(self.client.list(queue=queue, include=["payload", "result"]))
        self.assertEqual((full["payload"], full["result"]), ({"steps": 1}, None))
        self.assertEqual(next(self.client.list(queue=queue, include="payload"))["payload"], {"steps": 1})
        self.assertEqual(list(self.client.list(queue=queue, status="running")), [])

    def test_stats_and_workers(self):
        self.demo(steps=1, step_ms=0)
        stats = self.client.stats()
        for field in ("pending_jobs", "running_jobs", "completed_jobs", "failed_jobs", "cancelled_jobs",
                      "total_jobs", "active_workers", "queue_health"):
            self.assertIn(field, stats)
        self.assertGreaterEqual(stats["active_workers"], 1)
        self.assertIn(stats["queue_health"]["status"], ("healthy", "degraded", "unhealthy"))
        self.assertGreaterEqual(len(self.client.workers()), 1)


@unittest.skipUnless(URL and READ_KEY, "JOBQUEUE_TEST_READ_KEY is not set")
class TestKeys(LiveTestCase):
    def test_no_key_is_unauthorized(self):
        with self.assertRaises(jobqueue.Unauthorized) as ctx:
            jobqueue.Client(URL).stats()
        self.assertEqual((ctx.exception.status, ctx.exception.code), (401, "unauthenticated"))

    def test_a_read_key_reads_but_cannot_submit(self):
        reader = jobqueue.Client(URL, api_key=READ_KEY)
        self.assertIn("total_jobs", reader.stats())
        with self.assertRaises(jobqueue.Forbidden) as ctx:
            reader.submit("demo")
        self.assertEqual((ctx.exception.status, ctx.exception.code), (403, "forbidden"))


@unittest.skipUnless(URL and LIMITED_URL, "JOBQUEUE_TEST_LIMITED_URL is not set")
class TestRateLimit(LiveTestCase):
    def test_a_rate_limited_read_waits_retry_after_and_succeeds(self):
        impatient = jobqueue.Client(LIMITED_URL, api_key=KEY, max_retries=0)
        with self.assertRaises(jobqueue.RateLimited) as ctx:
            for _ in range(10):
                impatient.stats()
        self.assertEqual((ctx.exception.status, ctx.exception.code), (429, "rate_limited"))
        self.assertGreaterEqual(ctx.exception.retry_after, 1)
        patient = jobqueue.Client(LIMITED_URL, api_key=KEY, max_retries=5)
        for _ in range(3):
            self.assertIn("total_jobs", patient.stats())


if __name__ == "__main__":
    unittest.main()


class TestPipelines(LiveTestCase):
    def test_product_pipeline(self):
        created = self.client.submit_pipeline([
            {"key": "parse", "type": "document_parsing",
             "payload": {"documents": ["A queue is a list of jobs waiting to run. Workers take jobs from it."]}},
            {"key": "chunk", "type": "chunking", "payload": {"chunk_size": 8}, "depends_on": ["parse"]},
            {"key": "taxonomy", "type": "taxonomy_generation", "depends_on": ["chunk"]},
            {"key": "dataset", "type": "dataset_generation", "depends_on": ["chunk", "taxonomy"]},
        ])
        self.assertEqual(set(created["jobs"]), {"parse", "chunk", "taxonomy", "dataset"})
        p = self.client.wait_pipeline(created["pipeline_id"], timeout=60)
        self.assertEqual(p["status"], "completed")
        self.assertEqual([j["key"] for j in p["jobs"]], ["parse", "chunk", "taxonomy", "dataset"])
        self.assertEqual(self.client.get(created["jobs"]["dataset"])["pipeline_id"], created["pipeline_id"])
        with self.assertRaises(jobqueue.InvalidTransition):
            self.client.cancel_pipeline(created["pipeline_id"])

    def test_the_pipeline_stream_follows_it_to_its_end(self):
        created = self.client.submit_pipeline([
            {"key": "a", "type": "demo", "payload": {"steps": 2, "step_ms": 50}},
            {"key": "b", "type": "demo", "payload": {"steps": 2, "step_ms": 50}, "depends_on": ["a"]},
        ])
        evs = list(self.client.stream_pipeline(created["pipeline_id"]))
        self.assertEqual((evs[-1].job_id, evs[-1]["pipeline_id"], evs[-1].status),
                         (None, created["pipeline_id"], "completed"))
        done = {e.job_id for e in evs if e.status == "completed" and e.job_id}
        self.assertEqual(done, set(created["jobs"].values()))
        ids = [e.id for e in evs]
        self.assertEqual(ids, sorted(set(ids)))

    def test_invalid_pipeline_names_the_job(self):
        with self.assertRaises(jobqueue.BadRequest) as cm:
            self.client.submit_pipeline([{"key": "a", "type": "demo", "depends_on": ["b"]},
                                         {"key": "b", "type": "demo", "depends_on": ["a"]}])
        self.assertIn('(key "a")', str(cm.exception))
