"""A small Python client of the Jobs API, and the tests that drive it.

The client uses the standard library only (urllib, json), so it runs on
any Python 3 with nothing installed. The tests (unittest) run each of the
ways a client follows a job against a live server whose base URL is in
$JOBS_API_URL: polling with backoff, waiting for a change with the long
poll, following the SSE stream until the end, restarting a failed job,
reading the queue's health, and polling at a pace that adapts to the
job's progress.

e2e/python_client_test.go starts the real processes and runs:

    JOBS_API_URL=http://127.0.0.1:PORT python3 -m unittest -v jobs_api_client
"""

import json
import os
import random
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

TERMINAL = ("completed", "failed", "cancelled")


class APIError(Exception):
    """An answer with an error status: its HTTP status and the API's
    machine code and human message."""

    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message


class JobsClient:
    """Calls the Jobs API at base (e.g. "http://localhost:8000")."""

    def __init__(self, base, timeout=10.0):
        self.base = base.rstrip("/")
        self.timeout = timeout

    def _url(self, path, query=None):
        url = self.base + "/api/v1/jobs" + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def _call(self, method, path, body=None, query=None, timeout=None):
        """Sends one request; returns the decoded JSON body, or raises
        APIError for a 4xx/5xx answer."""
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self._url(path, query), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": "", "message": raw.decode(errors="replace")}
            raise APIError(e.code, err.get("code", ""), err.get("message", "")) from None
        return json.loads(raw) if raw else None

    def submit(self, job_type, payload=None, **options):
        """Submits a job; options are the other fields of the request
        (max_retries, priority, ...). Returns the new job's id."""
        body = {"type": job_type, "payload": payload}
        body.update(options)
        return self._call("POST", "", body)["job_id"]

    def status(self, job_id):
        return self._call("GET", "/status/" + job_id)

    def poll(self, job_id, current_status=None, timeout=30):
        """The long poll: answers when the status differs from
        current_status, or after timeout seconds."""
        query = {"timeout": timeout}
        if current_status:
            query["current_status"] = current_status
        return self._call("GET", "/status/%s/poll" % job_id, query=query, timeout=timeout + self.timeout)

    def cancel(self, job_id):
        return self._call("POST", "/cancel/" + job_id)["message"]

    def restart(self, job_id):
        return self._call("POST", "/restart/" + job_id)["message"]

    def record(self, job_id):
        return self._call("GET", "/" + job_id)

    def stats(self):
        return self._call("GET", "/queue/stats")

    def events(self, job_id, last_event_id=None):
        """Follows the job's server-sent events; yields (id, data) per
        event. The server ends the stream after a terminal event, so the
        loop ends by itself."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        req = urllib.request.Request(self._url("/status/%s/stream" % job_id), headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            event_id, data = None, []
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line == "":  # a blank line dispatches the event
                    if data:
                        yield event_id, json.loads("\n".join(data))
                    event_id, data = None, []
                elif line.startswith(":"):  # a comment: keep-alive
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        event_id = int(value)
                    elif field == "data":
                        data.append(value)

    def wait_with_backoff(self, job_id, first=0.05, longest=1.0, deadline=60.0, sleep=time.sleep):
        """Reads the status until the job finishes, sleeping a little
        longer after each read (doubling up to longest, with jitter).
        Returns the final status and the sleeps taken."""
        delay, sleeps = first, []
        end = time.monotonic() + deadline
        while True:
            st = self.status(job_id)
            if st["status"] in TERMINAL:
                return st, sleeps
            if time.monotonic() > end:
                raise TimeoutError("job %s still %s after %.0f s" % (job_id, st["status"], deadline))
            pause = delay * random.uniform(0.8, 1.2)
            sleeps.append(pause)
            sleep(pause)
            delay = min(delay * 2, longest)

    def wait_adaptive(self, job_id, fastest=0.05, slowest=0.5, deadline=60.0):
        """Reads the status until the job finishes, faster while its
        progress moves and slower while it stands still. Returns the final
        status and the intervals used."""
        interval, last, used = fastest, -1.0, []
        end = time.monotonic() + deadline
        while True:
            st = self.status(job_id)
            if st["status"] in TERMINAL:
                return st, used
            if time.monotonic() > end:
                raise TimeoutError("job %s still %s after %.0f s" % (job_id, st["status"], deadline))
            moved = st["progress"] > last
            interval = max(fastest, interval / 2) if moved else min(slowest, interval * 1.5)
            last = st["progress"]
            used.append(interval)
            time.sleep(interval)


def health_warnings(stats):
    """Says in words what in a stats answer deserves attention."""
    out = []
    if stats["queue_health"]["status"] != "healthy":
        out.append("queue is %s" % stats["queue_health"]["status"])
    finished = stats["completed_jobs"] + stats["failed_jobs"] + stats["cancelled_jobs"]
    if finished and stats["failed_jobs"] / finished > 0.1:
        out.append("%d of %d finished jobs failed" % (stats["failed_jobs"], finished))
    if stats["active_workers"] == 0 and stats["pending_jobs"] > 0:
        out.append("%d jobs wait and no worker runs" % stats["pending_jobs"])
    return out


UNKNOWN_JOB = "123e4567-e89b-12d3-a456-426614174000"


class JobsAPIFlows(unittest.TestCase):
    """Each way a client follows a job, against the server at
    $JOBS_API_URL (with at least one worker running the demo type)."""

    @classmethod
    def setUpClass(cls):
        cls.api = JobsClient(os.environ["JOBS_API_URL"])

    def demo(self, steps, step_ms, **options):
        return self.api.submit("demo", {"steps": steps, "step_ms": step_ms, **options.pop("payload", {})}, **options)

    def test_polling_with_backoff_returns_the_result(self):
        job = self.demo(3, 100)
        st, sleeps = self.api.wait_with_backoff(job)
        self.assertEqual(st["status"], "completed")
        self.assertEqual(st["progress"], 100)
        self.assertEqual(st["result"], {"steps": 3, "step_ms": 100})
        self.assertIsNone(st["error"])
        for k in ("created_at", "started_at", "completed_at", "updated_at"):
            self.assertTrue(st[k].endswith("Z"), k)
        # The sleeps grow (each at least 0.8 of double the one before, capped).
        for a, b in zip(sleeps, sleeps[1:]):
            self.assertGreater(b, a * 1.3 if a < 0.4 else 0.7)

    def test_long_poll_answers_at_once_when_the_status_differs(self):
        job = self.demo(2, 300)
        t0 = time.monotonic()
        st = self.api.poll(job, current_status="completed", timeout=20)
        self.assertIn(st["status"], ("pending", "running"))
        self.assertLess(time.monotonic() - t0, 5)

    def test_long_poll_wakes_on_the_change(self):
        job = self.demo(2, 300)
        st = self.api.poll(job, current_status="pending", timeout=20)
        self.assertIn(st["status"], ("running", "completed"))
        if st["status"] == "running":
            st = self.api.poll(job, current_status="running", timeout=20)
        self.assertEqual(st["status"], "completed")

    def test_stream_follows_the_job_to_its_end(self):
        job = self.demo(4, 100)
        events = list(self.api.events(job))
        ids = [i for i, _ in events]
        self.assertEqual(ids, sorted(set(ids)), "event ids only grow")
        last = events[-1][1]
        self.assertEqual(last["status"], "completed")
        self.assertEqual(last["progress"], 100)
        self.assertTrue(any(d["status"] == "running" for _, d in events))
        for _, d in events:
            self.assertEqual(sorted(d), ["current_step", "job_id", "progress", "status", "timestamp"])
        # Reconnecting with the last id repeats nothing.
        self.assertEqual(list(self.api.events(job, last_event_id=ids[-1])), [])

    def test_a_failed_job_restarts_under_the_same_id(self):
        job = self.demo(2, 10, payload={"fail_at": 1}, max_retries=0)
        st, _ = self.api.wait_with_backoff(job)
        self.assertEqual(st["status"], "failed")
        self.assertTrue(st["error"])
        self.assertEqual(self.api.restart(job), "Job %s restarted successfully" % job)
        st, _ = self.api.wait_with_backoff(job)  # fail_at: it fails again
        self.assertEqual(st["status"], "failed")
        self.assertEqual(self.api.record(job)["restarts"], 1)

    def test_a_completed_job_does_not_restart(self):
        job = self.demo(1, 0)
        self.api.wait_with_backoff(job)
        with self.assertRaises(APIError) as cm:
            self.api.restart(job)
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "invalid_transition"))
        self.assertIn("completed", cm.exception.message)

    def test_a_cancelled_job_can_be_restarted(self):
        job = self.demo(100, 100)
        self.assertEqual(self.api.cancel(job), "Job %s cancelled successfully" % job)
        with self.assertRaises(APIError) as cm:
            self.api.cancel(job)
        self.assertEqual(cm.exception.code, "invalid_transition")
        self.api.restart(job)
        self.api.cancel(job)

    def test_an_unknown_job_is_not_found(self):
        for call in (self.api.status, self.api.restart, self.api.cancel):
            with self.assertRaises(APIError) as cm:
                call(UNKNOWN_JOB)
            self.assertEqual((cm.exception.status, cm.exception.code), (404, "not_found"))

    def test_queue_health_reads_every_field(self):
        self.api.wait_with_backoff(self.demo(1, 0))
        st = self.api.stats()
        states = ("pending", "running", "scheduled", "completed", "failed", "cancelled", "retrying")
        self.assertEqual(st["total_jobs"], sum(st[s + "_jobs"] for s in states))
        self.assertGreaterEqual(st["completed_jobs"], 1)
        self.assertGreaterEqual(st["active_workers"], 1)
        self.assertEqual(st["queue_type"], "redis")
        for k in ("cache_size", "cpu_usage_percent", "memory_usage_mb"):
            self.assertIsInstance(st[k], (int, float), k)
        self.assertIn(st["queue_health"]["status"], ("healthy", "degraded", "unhealthy"))
        self.assertIn(st["queue_health"]["resource_utilization"], ("optimal", "high", "critical"))
        self.assertIn(st["queue_health"]["limit_enforcement"], ("active", "inactive"))
        self.assertIsInstance(health_warnings(st), list)

    def test_adaptive_polling_ends_on_the_terminal_state(self):
        job = self.demo(5, 100)
        st, used = self.api.wait_adaptive(job)
        self.assertEqual(st["status"], "completed")
        self.assertTrue(all(0.05 <= i <= 0.5 for i in used), used)


class HealthWarnings(unittest.TestCase):
    """health_warnings on made-up answers (no server needed)."""

    def stats(self, **kw):
        st = {"queue_health": {"status": "healthy"}, "completed_jobs": 9, "failed_jobs": 1,
              "cancelled_jobs": 0, "active_workers": 1, "pending_jobs": 0}
        st.update(kw)
        return st

    def test_nothing_to_say(self):
        self.assertEqual(health_warnings(self.stats()), [])

    def test_each_warning(self):
        st = self.stats(queue_health={"status": "unhealthy"}, failed_jobs=5, active_workers=0, pending_jobs=3)
        self.assertEqual(health_warnings(st), ["queue is unhealthy", "5 of 14 finished jobs failed",
                                               "3 jobs wait and no worker runs"])


if __name__ == "__main__":
    unittest.main()
