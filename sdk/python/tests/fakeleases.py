"""A fake of the job queue's HTTP lease protocol, in memory, for the
worker's tests: POST /api/v1/leases and /api/v1/leases/{id}/heartbeat,
/complete and /fail (and many completions in one POST
/api/v1/leases/complete), with the contract's rules (docs/api.md, "Workers
over HTTP"): strict bodies and ranges, leases woken by submissions,
heartbeats answering 409 lease_lost once the token no longer holds the
job, complete idempotent for its token, fail retried within max_retries
unless retryable is false, expired leases recovered.

Tests drive it directly (submit, cancel, inject faults) and read what
the worker sent (calls, job records).
"""

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_WORKER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ROUTE = re.compile(r"^/api/v1/leases/([^/]+)/(heartbeat|complete|fail|log)$")
_LEVELS = ("debug", "info", "warn", "error")


class HTTPError(Exception):
    """An error answer: status, code, message and extra fields."""

    def __init__(self, http_status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = http_status, code, message, extra


def _bad(message):
    return HTTPError(400, "invalid_argument", message)


def _int_field(body, name, lo, hi, default):
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad("%s %r: want an integer from %d to %d" % (name, v, lo, hi))
    return v


def _strict(body, allowed, required=()):
    if not isinstance(body, dict):
        raise _bad("request body: want a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad("request body: unknown field %r" % unknown[0])
    for name in required:
        if body.get(name) is None:
            raise _bad("%s is required" % name)


class FakeJob:
    """One job of the fake."""

    def __init__(self, job_type, payload, queue, max_retries, inputs, traceparent=None):
        self.id = str(uuid.uuid4())
        self.traceparent = traceparent
        self.type = job_type
        self.payload = payload
        self.queue = queue
        self.max_retries = max_retries
        self.inputs = inputs
        self.status = "pending"
        self.attempt = 0
        self.token = None  # the live lease token, if running
        self.completed_token = None
        self.expires = 0.0
        self.lease_seconds = 0
        self.worker_id = None
        self.progress = 0.0
        self.current_step = None
        self.result = None
        self.error = None
        self.history = ["pending"]  # every status, in order
        self.progress_seen = []  # (progress, current_step) per heartbeat carrying progress
        self.log = []  # (level, message, time) of every line written

    def view(self):
        """A copy of the record, as a dict."""
        d = dict(self.__dict__)
        d["history"] = list(self.history)
        d["progress_seen"] = list(self.progress_seen)
        d["log"] = list(self.log)
        return d

    def set_status(self, status):
        self.status = status
        self.history.append(status)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client gone before its answer (a worker process killed) is no news
        super().handle_error(request, client_address)


class FakeLeaseServer:
    """The fake, serving on a free loopback port until close()."""

    def __init__(self, keys=None, batch_complete=True):
        # keys: {api key: role}; None means no authentication.
        # batch_complete: serve POST /api/v1/leases/complete (an older
        # server answers it 404).
        self.keys = keys
        self.batch_complete = batch_complete
        self.cond = threading.Condition()
        self.jobs = {}
        self.calls = []  # (monotonic time the call came, path, body, status)
        self.traceparents = []  # (path, traceparent header or None) of every call
        self.faults = []
        self._closed = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                fake._serve(self)

            def do_GET(self):
                fake._reply(self, 404, {"error": {"code": "not_found", "message": "no such route"}})

            def log_message(self, *args):
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        threading.Thread(target=self._reap, daemon=True).start()

    def close(self):
        with self.cond:
            self._closed = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what tests do ---------------------------------------------------

    def submit(self, job_type, payload=None, queue="default", max_retries=3, inputs=None, traceparent=None):
        """Adds a pending job and wakes waiting lease calls; returns its id."""
        job = FakeJob(job_type, {} if payload is None else payload, queue, max_retries, inputs, traceparent)
        with self.cond:
            self.jobs[job.id] = job
            self.cond.notify_all()
        return job.id

    def cancel(self, job_id):
        """Cancels a job as the API's cancel does: its lease token dies."""
        with self.cond:
            job = self.jobs[job_id]
            job.token = None
            job.set_status("cancelled")
            self.cond.notify_all()

    def job(self, job_id):
        """The job's record (a copy)."""
        with self.cond:
            return self.jobs[job_id].view()

    def wait_until(self, predicate, timeout=15.0, what="condition"):
        """Waits until predicate() (called under the lock) holds; fails the
        test after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("fake lease server: timed out waiting for " + what)
                self.cond.wait(left)

    def wait_status(self, job_id, *statuses, timeout=15.0):
        """Waits until the job is in one of statuses; returns its record."""
        self.wait_until(lambda: self.jobs[job_id].status in statuses, timeout,
                        "job %s to be %s" % (job_id, "/".join(statuses)))
        return self.job(job_id)

    def inject(self, suffix, status, times=1, apply=False, retry_after=None):
        """The next `times` calls whose path ends with suffix answer status
        (an error). With apply, the call is carried out first and only its
        answer is replaced: a response lost after the fact."""
        with self.cond:
            self.faults.append({"suffix": suffix, "status": status, "times": times, "apply": apply,
                                "retry_after": retry_after})

    def calls_to(self, suffix, job_id=None):
        """The calls (time, path, body, status) whose path ends with suffix."""
        with self.cond:
            return [c for c in self.calls if c[1].endswith(suffix) and (job_id is None or job_id in c[1])]

    # --- serving ---------------------------------------------------------

    def _reply(self, req, status, body, headers=None):
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _serve(self, req):
        path = req.path
        body = None
        started = time.monotonic()
        try:
            raw = req.rfile.read(int(req.headers.get("Content-Length") or 0))
            with self.cond:
                self.traceparents.append((path, req.headers.get("traceparent")))
            self._authorize(req.headers.get("Authorization", ""))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise _bad("request body: malformed JSON")
            if body is None:
                raise _bad("request body is empty: want a JSON object")
            fault = self._take_fault(path)
            answer = self._route(path, body) if fault is None or fault["apply"] else None
            if fault is not None:
                headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] else {}
                raise HTTPError(fault["status"], "unavailable", "injected fault", headers=headers)
            status = 200
        except HTTPError as e:
            headers = e.extra.pop("headers", {})
            status, answer = e.status, {"error": dict({"code": e.code, "message": e.message}, **e.extra)}
            with self.cond:
                self.calls.append((started, path, body, status))
                self.cond.notify_all()
            self._reply(req, status, answer, headers)
            return
        with self.cond:
            self.calls.append((started, path, body, status))
            self.cond.notify_all()
        self._reply(req, status, answer)

    def _authorize(self, header):
        if self.keys is None:
            return
        key = header[7:] if header.startswith("Bearer ") else ""
        role = self.keys.get(key)
        if role is None:
            raise HTTPError(401, "unauthenticated", "a valid API key is required")
        if role not in ("worker", "admin"):
            raise HTTPError(403, "forbidden", "the role %s may not take jobs" % role)

    def _take_fault(self, path):
        with self.cond:
            for f in self.faults:
                if f["times"] > 0 and path.endswith(f["suffix"]):
                    f["times"] -= 1
                    return f
        return None

    def _route(self, path, body):
        if path == "/api/v1/leases":
            return self._lease(body)
        if path == "/api/v1/leases/complete" and self.batch_complete:
            return self._complete_batch(body)
        m = _ROUTE.match(path)
        if not m:
            raise HTTPError(404, "not_found", "no such route")
        job_id, action = m.groups()
        if not _UUID.match(job_id):
            raise _bad("job id %r: want a UUID" % job_id)
        return getattr(self, "_" + action)(job_id, body)

    def _lease(self, body):
        _strict(body, ("worker_id", "types", "queues", "max_jobs", "wait_seconds", "lease_seconds"),
                ("worker_id", "types"))
        wid = body["worker_id"]
        if not isinstance(wid, str) or not _WORKER_ID.match(wid):
            raise _bad("worker_id %r: want 1-128 of [A-Za-z0-9._:-]" % (wid,))
        types = body["types"]
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
            raise _bad("types: want a non-empty list of job types")
        queues = body.get("queues")
        if queues is not None and (not isinstance(queues, list) or not all(isinstance(q, str) and q for q in queues)):
            raise _bad("queues: want a list of queue names")
        max_jobs = _int_field(body, "max_jobs", 1, 100, 1)
        wait = _int_field(body, "wait_seconds", 0, 60, 0)
        lease_seconds = _int_field(body, "lease_seconds", 5, 300, 30)
        deadline = time.monotonic() + wait
        with self.cond:
            while True:
                taken = self._take(wid, types, queues, max_jobs, lease_seconds)
                left = deadline - time.monotonic()
                if taken or left <= 0 or self._closed:
                    break
                self.cond.wait(left)  # a submission wakes it
            self.cond.notify_all()
        return {"leases": taken}

    def _take(self, wid, types, queues, max_jobs, lease_seconds):
        ready = [j for j in self.jobs.values()
                 if j.status == "pending" and j.type in types and (queues is None or j.queue in queues)]
        if queues is not None:
            ready.sort(key=lambda j: queues.index(j.queue))
        out = []
        for job in ready[:max_jobs]:
            job.set_status("running")
            job.attempt += 1
            job.token = uuid.uuid4().hex
            job.lease_seconds = lease_seconds
            job.expires = time.monotonic() + lease_seconds
            job.worker_id = wid
            lease = {"job_id": job.id, "type": job.type, "queue": job.queue, "payload": job.payload,
                     "attempt": job.attempt, "max_retries": job.max_retries, "lease_token": job.token,
                     "lease_seconds": lease_seconds}
            if job.inputs is not None:
                lease["inputs"] = job.inputs
            if job.traceparent is not None:
                lease["traceparent"] = job.traceparent
            out.append(lease)
        return out

    def _held(self, job_id, body):
        """The job the body's lease_token holds, or 404/409."""
        token = body.get("lease_token")
        if not isinstance(token, str) or not token:
            raise _bad("lease_token is required")
        job = self.jobs.get(job_id)
        if job is None:
            raise HTTPError(404, "not_found", "no job has id " + job_id)
        if job.token != token or job.status != "running":
            raise HTTPError(409, "lease_lost", "the lease token no longer holds job %s; it is %s"
                            % (job_id, job.status), status=job.status)
        return job

    def _heartbeat(self, job_id, body):
        _strict(body, ("lease_token", "progress", "current_step"), ("lease_token",))
        progress, step = body.get("progress"), body.get("current_step")
        if progress is not None and (isinstance(progress, bool) or not isinstance(progress, (int, float))
                                     or not 0 <= progress <= 100):
            raise _bad("progress %r: want a number from 0 to 100" % (progress,))
        if step is not None and not isinstance(step, str):
            raise _bad("current_step: want a string")
        with self.cond:
            job = self._held(job_id, body)
            job.expires = time.monotonic() + job.lease_seconds
            if progress is not None:
                job.progress = progress
                if step is not None:
                    job.current_step = step
                job.progress_seen.append((progress, step))
            self.cond.notify_all()
            return {"lease_seconds": job.lease_seconds}

    def _log(self, job_id, body):
        _strict(body, ("lease_token", "lines"), ("lease_token", "lines"))
        lines = body["lines"]
        if not isinstance(lines, list) or not 1 <= len(lines) <= 1000:
            raise _bad("lines: want 1-1000")
        for line in lines:
            _strict(line, ("level", "message", "time"), ("message",))
            if line.get("level", "info") not in _LEVELS or not isinstance(line["message"], str):
                raise _bad("a line: want a level of %s and a message string" % (_LEVELS,))
        with self.cond:
            job = self._held(job_id, body)
            job.log.extend((line.get("level", "info"), line["message"], line.get("time")) for line in lines)
            self.cond.notify_all()
            return {"lines": len(lines)}

    def _complete(self, job_id, body):
        _strict(body, ("lease_token", "result"), ("lease_token",))
        with self.cond:
            job = self.jobs.get(job_id)
            if job is not None and job.status == "completed" and job.completed_token == body.get("lease_token"):
                return {"status": "completed"}  # a repeat of a complete that succeeded
            job = self._held(job_id, body)
            job.token, job.completed_token = None, body["lease_token"]
            job.result = body.get("result")
            job.progress = 100
            job.set_status("completed")
            self.cond.notify_all()
            return {"status": "completed"}

    def _complete_batch(self, body):
        """Every item checked first (400 names it, nothing applied), then
        each answered as its single complete would be."""
        _strict(body, ("completions",), ("completions",))
        items = body["completions"]
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            raise _bad("completions: want 1-100 items")
        for i, item in enumerate(items):
            try:
                _strict(item, ("job_id", "lease_token", "result"), ("job_id", "lease_token"))
            except HTTPError as e:
                raise _bad("completions[%d]: %s" % (i, e.message))
            if not isinstance(item["job_id"], str) or not _UUID.match(item["job_id"]):
                raise _bad("completions[%d].job_id: want a UUID" % i)
        results = []
        for item in items:
            job_id = item["job_id"]
            single = {k: v for k, v in item.items() if k != "job_id"}
            try:
                results.append(dict(self._complete(job_id, single), job_id=job_id))
            except HTTPError as e:
                results.append({"job_id": job_id, "error": dict({"code": e.code, "message": e.message}, **e.extra)})
        return {"results": results}

    def _fail(self, job_id, body):
        _strict(body, ("lease_token", "error", "retryable"), ("lease_token", "error"))
        if not isinstance(body["error"], str):
            raise _bad("error: want a string")
        retryable = body.get("retryable", True)
        if not isinstance(retryable, bool):
            raise _bad("retryable: want true or false")
        with self.cond:
            job = self._held(job_id, body)
            job.token = None
            job.error = body["error"]
            self._retry_or_fail(job, retryable)
            self.cond.notify_all()
            return {"status": job.history[-2] if job.status == "pending" else job.status}

    def _retry_or_fail(self, job, retryable):
        if retryable and job.attempt <= job.max_retries:
            job.set_status("retrying")
            job.set_status("pending")  # the fake's backoff is nil
        else:
            job.set_status("failed")

    def _reap(self):
        """Recovers the jobs whose lease expired, as for a dead worker."""
        while True:
            with self.cond:
                if self._closed:
                    return
                now = time.monotonic()
                for job in self.jobs.values():
                    if job.status == "running" and job.expires < now:
                        job.token = None
                        job.error = "lease expired"
                        self._retry_or_fail(job, True)
                        self.cond.notify_all()
                self.cond.wait(0.05)
