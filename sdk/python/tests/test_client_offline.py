"""The Client against scripted servers (httpfakes.py), for what a healthy
apiserver rarely does: error bodies of every kind, 503 and 429 with
Retry-After, proxies' pages, streams cut short, retry hints and silence."""

import datetime
import json
import threading
import time
import unittest

import jobqueue
from httpfakes import ScriptedServer, free_port, slow, sse

JOB = "123e4567-e89b-12d3-a456-426614174000"


def err(status, code, message, headers=None, **extra):
    return (status, headers or {}, json.dumps({"error": dict({"code": code, "message": message}, **extra)}))


def ok(body, status=200, headers=None):
    return (status, headers or {}, json.dumps(body))


def event(version, status, progress=0, step=None):
    data = {"job_id": JOB, "status": status, "progress": progress, "current_step": step,
            "timestamp": "2024-01-21T10:30:00.000Z"}
    return "id: %d\ndata: %s\n\n" % (version, json.dumps(data))


class ScriptedTestCase(unittest.TestCase):
    def serve(self, *steps):
        srv = ScriptedServer(*steps)
        self.addCleanup(srv.close)
        return srv

    def client(self, srv, **kw):
        kw.setdefault("backoff", 0.01)
        return jobqueue.Client(srv.url, **kw)


class TestErrors(ScriptedTestCase):
    def test_each_error_answer_has_its_class_status_code_and_message(self):
        cases = [
            (err(404, "not_found", "no job has id " + JOB), jobqueue.NotFound, 404, "not_found"),
            (err(400, "invalid_argument", "job id: want a UUID"), jobqueue.BadRequest, 400, "invalid_argument"),
            (err(400, "unknown_job_type", "unknown job type"), jobqueue.UnknownJobType, 400, "unknown_job_type"),
            (err(401, "unauthenticated", "key needed"), jobqueue.Unauthorized, 401, "unauthenticated"),
            (err(403, "forbidden", "role read"), jobqueue.Forbidden, 403, "forbidden"),
            (err(409, "invalid_transition", "job is completed"), jobqueue.InvalidTransition, 409,
             "invalid_transition"),
            (err(409, "too_many_queues", "1000 queues"), jobqueue.TooManyQueues, 409, "too_many_queues"),
            (err(413, "payload_too_large", "too big"), jobqueue.PayloadTooLarge, 413, "payload_too_large"),
            (err(429, "quota_exceeded", "10000 unfinished"), jobqueue.QuotaExceeded, 429, "quota_exceeded"),
            (err(429, "too_many_streams", "256 streams"), jobqueue.TooManyStreams, 429, "too_many_streams"),
            (err(500, "internal", "internal error"), jobqueue.ServerError, 500, "internal"),
        ]
        for answer, cls, status, code in cases:
            with self.subTest(code=code):
                c = self.client(self.serve(answer))
                with self.assertRaises(cls) as ctx:
                    c.cancel(JOB)
                e = ctx.exception
                self.assertIsInstance(e, jobqueue.JobQueueError)
                self.assertEqual((e.status, e.code, e.message), (status, code, json.loads(answer[2])["error"]["message"]))
        self.assertTrue(issubclass(jobqueue.UnknownJobType, jobqueue.BadRequest))
        self.assertTrue(issubclass(jobqueue.InvalidTransition, jobqueue.Conflict))
        self.assertTrue(issubclass(jobqueue.QuotaExceeded, jobqueue.RateLimited))

    def test_a_duplicate_names_the_job_holding_the_key(self):
        c = self.client(self.serve(err(409, "duplicate", "unique_key is held", job_id=JOB)))
        with self.assertRaises(jobqueue.Duplicate) as ctx:
            c.submit("demo", unique_key="k")
        self.assertEqual(ctx.exception.job_id, JOB)

    def test_an_answer_that_is_not_the_apis_json_still_says_what_happened(self):
        c = self.client(self.serve((502, {"Content-Type": "text/html"}, "<html>Bad Gateway</html>")))
        with self.assertRaises(jobqueue.Unavailable) as ctx:
            c.submit("demo")
        self.assertEqual((ctx.exception.status, ctx.exception.code), (502, ""))
        self.assertIn("HTTP 502", str(ctx.exception))

    def test_no_server_is_a_network_error(self):
        c = jobqueue.Client("http://127.0.0.1:%d" % free_port(), max_retries=1, backoff=0.01)
        with self.assertRaises(jobqueue.NetworkError) as ctx:
            c.status(JOB)
        self.assertIsNone(ctx.exception.status)
        self.assertTrue(ctx.exception.temporary)


class TestRetries(ScriptedTestCase):
    def test_a_read_is_retried_on_503_and_429_honouring_retry_after(self):
        srv = self.serve(err(503, "unavailable", "redis away", {"Retry-After": "1"}),
                         err(429, "rate_limited", "slow down", {"Retry-After": "1"}),
                         ok({"job_id": JOB, "status": "running"}))
        st = self.client(srv).status(JOB)
        self.assertEqual(st["status"], "running")
        self.assertEqual(len(srv.requests), 3)
        gaps = [b.at - a.at for a, b in zip(srv.requests, srv.requests[1:])]
        self.assertTrue(all(g >= 0.95 for g in gaps), gaps)

    def test_a_submission_is_not_retried(self):
        srv = self.serve(err(503, "unavailable", "redis away", {"Retry-After": "1"}), ok({"job_id": JOB}, 201))
        with self.assertRaises(jobqueue.Unavailable) as ctx:
            self.client(srv).submit("demo")
        self.assertEqual(ctx.exception.retry_after, 1.0)
        self.assertEqual(len(srv.requests), 1)

    def test_the_retries_end(self):
        srv = self.serve(*[err(503, "unavailable", "redis away")] * 3)
        with self.assertRaises(jobqueue.Unavailable):
            self.client(srv, max_retries=2).get(JOB)
        self.assertEqual(len(srv.requests), 3)

    def test_a_rate_limit_longer_than_the_backoff_cap_is_raised(self):
        srv = self.serve(err(429, "rate_limited", "slow down", {"Retry-After": "60"}))
        with self.assertRaises(jobqueue.RateLimited) as ctx:
            self.client(srv, max_backoff=5).stats()
        self.assertEqual(ctx.exception.retry_after, 60.0)


class TestRequests(ScriptedTestCase):
    def test_the_key_goes_as_a_bearer_token(self):
        srv = self.serve(ok({"pending_jobs": 0}))
        self.client(srv, api_key="s3cret-0123456789abcdef").stats()
        self.assertEqual(srv.requests[0].headers["Authorization"], "Bearer s3cret-0123456789abcdef")

    def test_submit_sends_the_options_as_the_apis_fields(self):
        srv = self.serve(*[ok({"job_id": JOB, "status": "pending"}, 201)] * 3)
        c = self.client(srv)
        self.assertEqual(c.submit("demo", {"steps": 2}, queue="q", priority=5, max_retries=0, unique_key="u",
                                  timeout=datetime.timedelta(minutes=2), delay=1.5), JOB)
        when = datetime.datetime(2030, 1, 2, 4, 5, 6, 789000, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
        c.submit("demo", run_at=when, timeout_seconds=7)
        c.submit("demo")
        bodies = [json.loads(r.body) for r in srv.requests]
        self.assertEqual(bodies[0], {"type": "demo", "payload": {"steps": 2}, "queue": "q", "priority": 5,
                                     "max_retries": 0, "unique_key": "u", "timeout_seconds": 120,
                                     "delay_seconds": 2})
        self.assertEqual(bodies[1], {"type": "demo", "run_at": "2030-01-02T03:05:06.789Z", "timeout_seconds": 7})
        self.assertEqual(bodies[2], {"type": "demo"})

    def test_submit_pipeline_sends_its_callback_urls(self):
        srv = self.serve(*[ok({"pipeline_id": JOB, "status": "running", "jobs": {"a": JOB}}, 201)] * 2)
        c = self.client(srv)
        jobs = [{"key": "a", "type": "demo", "callback_url": "https://example.com/job"}]
        c.submit_pipeline(jobs, unique_key="u", callback_url="https://example.com/pipeline")
        c.submit_pipeline(jobs)
        bodies = [json.loads(r.body) for r in srv.requests]
        self.assertEqual(bodies[0], {"jobs": jobs, "unique_key": "u", "callback_url": "https://example.com/pipeline"})
        self.assertEqual(bodies[1], {"jobs": jobs})

    def test_submit_refuses_an_ambiguous_time(self):
        c = jobqueue.Client("http://127.0.0.1:1")
        with self.assertRaises(ValueError):
            c.submit("demo", run_at=datetime.datetime(2030, 1, 1))
        with self.assertRaises(TypeError):
            c.submit("demo", delay="soon")

    def test_a_job_id_stays_in_its_path_segment(self):
        srv = self.serve(err(400, "invalid_argument", "bad id"))
        with self.assertRaises(jobqueue.BadRequest):
            self.client(srv).status("../queue/stats")
        self.assertEqual(srv.requests[0].path, "/api/v1/jobs/status/..%2Fqueue%2Fstats")

    def test_wait_gives_up_at_its_timeout(self):
        pending = ok({"job_id": JOB, "status": "pending"})
        srv = self.serve(pending, slow(pending, 0.6))
        with self.assertRaises(TimeoutError):
            self.client(srv).wait(JOB, timeout=0.5)
        self.assertIn("timeout=1&current_status=pending", srv.requests[1].path)
        self.assertEqual(len(srv.requests), 2)


class TestStream(ScriptedTestCase):
    def test_events_comments_and_the_end(self):
        srv = self.serve(sse(": keep-alive\n\n", event(3, "running", 10, "a"),
                             "id: 4\ndata: {\"job_id\": \"%s\",\ndata: \"status\": \"completed\"}\n\n" % JOB,
                             event(5, "running")))
        evs = list(self.client(srv).stream(JOB))
        self.assertEqual([(e.id, e.status) for e in evs], [(3, "running"), (4, "completed")])
        self.assertEqual((evs[0].progress, evs[0].current_step, evs[0]["job_id"]), (10, "a", JOB))
        self.assertEqual(srv.requests[0].headers["Accept"], "text/event-stream")
        self.assertNotIn("Last-Event-ID", srv.requests[0].headers)

    def test_a_stream_closed_early_resumes_after_the_retry_hint_with_its_last_id(self):
        srv = self.serve(sse(event(3, "running", 10), "retry: 300\n\n"),
                         sse(event(3, "running", 10), event(4, "running", 50), event(6, "completed", 100)))
        evs = list(self.client(srv).stream(JOB))
        self.assertEqual([e.id for e in evs], [3, 4, 6])
        self.assertEqual(srv.requests[1].headers["Last-Event-ID"], "3")
        self.assertGreaterEqual(srv.requests[1].at - srv.requests[0].at, 0.3)

    def test_a_silent_stream_is_reconnected(self):
        hold = threading.Event()
        self.addCleanup(hold.set)
        srv = self.serve(sse(event(1, "pending"), hold=hold), sse(event(2, "completed")))
        evs = list(self.client(srv, stream_idle_timeout=0.3).stream(JOB))
        self.assertEqual([e.id for e in evs], [1, 2])
        self.assertEqual(srv.requests[1].headers["Last-Event-ID"], "1")

    def test_a_load_balancers_503_is_waited_out(self):
        srv = self.serve(sse(event(1, "running")), err(503, "unavailable", "away", {"Retry-After": "1"}),
                         sse(event(2, "completed")))
        evs = list(self.client(srv).stream(JOB))
        self.assertEqual([e.id for e in evs], [1, 2])
        self.assertGreaterEqual(srv.requests[2].at - srv.requests[1].at, 0.95)

    def test_a_resumed_stream_of_a_finished_job_ends_at_once(self):
        # The server sends nothing after the id of the terminal event and
        # closes; the record says the job finished at that version.
        srv = self.serve(sse(), ok({"job_id": JOB, "status": "completed", "version": 9}))
        self.assertEqual(list(self.client(srv).stream(JOB, last_event_id=9)), [])
        self.assertEqual(srv.requests[0].headers["Last-Event-ID"], "9")

    def test_a_job_deleted_meanwhile_ends_the_stream_with_not_found(self):
        srv = self.serve(sse(event(1, "running")), err(404, "not_found", "no job has id " + JOB))
        it = self.client(srv).stream(JOB)
        self.assertEqual(next(it).id, 1)
        with self.assertRaises(jobqueue.NotFound):
            next(it)

    def test_an_answer_that_is_not_a_stream_is_an_error(self):
        srv = self.serve(ok({"status": "running"}))
        with self.assertRaises(jobqueue.JobQueueError):
            list(self.client(srv).stream(JOB))
        self.assertEqual(len(srv.requests), 1)

    def test_a_consumer_may_stop_early(self):
        hold = threading.Event()
        self.addCleanup(hold.set)
        srv = self.serve(sse(event(1, "running"), event(2, "running"), hold=hold))
        it = self.client(srv).stream(JOB)
        self.assertEqual(next(it).id, 1)
        it.close()  # closes the connection: no thread or socket is left reading
        self.assertEqual(len(srv.requests), 1)


PIPELINE = "9b2e4567-e89b-12d3-a456-426614174999"


def pipeline_event(eid, status):
    data = {"pipeline_id": PIPELINE, "status": status, "progress": 100 if status == "completed" else 0,
            "timestamp": "2024-01-21T10:30:00.000Z"}
    return "id: %d\ndata: %s\n\n" % (eid, json.dumps(data))


class TestPipelineStream(ScriptedTestCase):
    def test_jobs_events_then_the_pipelines_end(self):
        # A job's terminal event does not end it; the pipeline's does.
        srv = self.serve(sse(pipeline_event(10, "running"), event(11, "completed", 100), "retry: 10\n\n"),
                         sse(event(11, "completed", 100), event(12, "running", 50),
                             pipeline_event(13, "completed"), event(14, "running")))
        evs = list(self.client(srv).stream_pipeline(PIPELINE))
        self.assertEqual([e.id for e in evs], [10, 11, 12, 13])
        self.assertEqual([e.job_id for e in evs], [None, JOB, JOB, None])
        self.assertEqual(evs[-1]["pipeline_id"], PIPELINE)
        self.assertEqual(srv.requests[0].path, "/api/v1/pipelines/%s/stream" % PIPELINE)
        self.assertEqual(srv.requests[1].headers["Last-Event-ID"], "11")

    def test_a_resumed_stream_of_an_ended_pipeline_ends_at_once(self):
        srv = self.serve(sse(), ok({"pipeline_id": PIPELINE, "status": "failed", "jobs": []}))
        self.assertEqual(list(self.client(srv).stream_pipeline(PIPELINE, last_event_id=13)), [])
        self.assertEqual(srv.requests[1].path, "/api/v1/pipelines/" + PIPELINE)


if __name__ == "__main__":
    unittest.main()
