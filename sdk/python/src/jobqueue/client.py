"""Client: submit jobs and follow them through the job queue's HTTP API
(docs/api.md). Every call is one method; answers are the API's JSON as
dicts, errors are JobQueueError subclasses."""

import datetime
import logging
import math
import time

from ._http import DEFAULT_BASE_URL, Backoff, Transport, job_path
from .errors import JobQueueError
from .sse import TERMINAL, follow, follow_pipeline

log = logging.getLogger("jobqueue.client")

# The longest long poll the API allows, in seconds.
MAX_POLL_TIMEOUT = 300


class Client:
    """Calls the job queue's API at base_url (e.g. "http://localhost:8000";
    a path prefix is kept).

    ``api_key`` is sent as ``Authorization: Bearer <key>``. ``timeout``
    bounds each request (a long poll gets its own wait on top).
    Idempotent calls (every GET: status, get, poll, wait, stream, list,
    stats, workers) are retried on a network failure and on 429, 502, 503
    and 504, up to ``max_retries`` times in a row, with a jittered backoff
    from ``backoff`` to ``max_backoff`` seconds that honours Retry-After.
    The others (submit, cancel, restart, delete) are sent once: a retry
    could act twice. A stream silent for ``stream_idle_timeout`` seconds
    (three of the server's keep-alives) is taken for dead and reconnected.
    A Client holds no connection and is safe to share between threads.
    """

    def __init__(self, base_url=DEFAULT_BASE_URL, api_key=None, timeout=10.0, max_retries=5,
                 backoff=0.2, max_backoff=10.0, stream_idle_timeout=45.0):
        self._http = Transport(base_url, api_key, timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stream_idle_timeout = stream_idle_timeout

    @property
    def base_url(self):
        """The API's base URL, without a trailing slash."""
        return self._http.base_url

    def __repr__(self):
        return "Client(%r)" % self.base_url

    # --- transport -------------------------------------------------------

    def _backoff(self):
        return Backoff(self.max_retries, self.backoff, self.max_backoff)

    def _get(self, path, query=None, timeout=None):
        """A GET, retried while it fails for a temporary reason."""
        backoff = self._backoff()
        while True:
            try:
                return self._http.call("GET", path, query=query, timeout=timeout)
            except JobQueueError as e:
                delay = backoff.delay(e)
                if delay is None:
                    raise
                log.debug("GET %s failed (%s); retry %d in %.2fs", path, e, backoff.attempts, delay)
                time.sleep(delay)

    def _post(self, path, body=None):
        return self._http.call("POST", path, body=body)

    # --- submitting ------------------------------------------------------

    def submit(self, type, payload=None, **options):
        """Submits a job (POST /api/v1/jobs) and returns its id.

        Options are the other fields of the request: ``queue``,
        ``priority`` (0-100), ``max_retries`` (0-100), ``unique_key``;
        ``timeout`` bounds each run and ``delay`` schedules the job later
        (seconds or a datetime.timedelta, rounded up to whole seconds);
        ``run_at`` schedules it at a time (an aware datetime, or an RFC
        3339 string). Any other option is sent as the API field of that
        name (e.g. ``timeout_seconds``). Raises UnknownJobType when nothing
        runs the type, Duplicate when another job holds the unique_key
        (``e.job_id`` names it), BadRequest for a bad field."""
        body = {"type": type}
        if payload is not None:
            body["payload"] = payload
        for name, value in options.items():
            if value is None:
                continue
            if name == "timeout":
                body["timeout_seconds"] = _whole_seconds(value, "timeout")
            elif name == "delay":
                body["delay_seconds"] = _whole_seconds(value, "delay")
            elif name == "run_at":
                body["run_at"] = _rfc3339(value)
            else:
                body[name] = value
        return self._post("/api/v1/jobs", body)["job_id"]

    def submit_pipeline(self, jobs, unique_key=None, callback_url=None):
        """Submits a pipeline (POST /api/v1/pipelines): jobs that wait on
        other jobs, all created at once or none. ``jobs`` is a list of
        dicts, each with the fields of a submission (``type``,
        ``payload``, ``queue``, ``priority``, ``max_retries``,
        ``timeout_seconds``, ``callback_url``) plus ``key`` (its name in
        the pipeline) and ``depends_on`` (the keys of its parents, whose
        results it receives: a Worker's handler finds them in
        ``job.inputs``). ``callback_url`` is POSTed the pipeline's record,
        signed, each time the pipeline ends (verify_callback checks it).
        Returns {"pipeline_id", "status", "created_at", "jobs": {key: job
        id}}. A bad job raises BadRequest naming it, a unique_key held
        Duplicate."""
        body = {"jobs": list(jobs)}
        if unique_key is not None:
            body["unique_key"] = unique_key
        if callback_url is not None:
            body["callback_url"] = callback_url
        return self._post("/api/v1/pipelines", body)

    # --- reading ---------------------------------------------------------

    def pipeline(self, pipeline_id):
        """A pipeline (GET /api/v1/pipelines/{id}): pipeline_id, status
        (running, completed, failed, cancelled), progress, created_at,
        completed_at, and jobs: [{key, job_id, type, status, progress,
        depends_on}]."""
        return self._get(job_path("/api/v1/pipelines/", pipeline_id))

    def wait_pipeline(self, pipeline_id, timeout=None, interval=0.5):
        """Reads the pipeline until it ends (or timeout seconds pass:
        TimeoutError) and returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            p = self.pipeline(pipeline_id)
            if p["status"] != "running":
                return p
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("pipeline %s still running after %ss" % (pipeline_id, timeout))
            time.sleep(interval)

    def stream_pipeline(self, pipeline_id, last_event_id=None):
        """Yields the pipeline's events (jobqueue.Event) until it ends:
        every event of each of its jobs (``.job_id`` names the job), and
        the pipeline's own status changes (``.job_id`` is None and
        ``["pipeline_id"]`` names it; the last is its terminal one).
        Reconnects with Last-Event-ID as ``stream`` does; give
        ``last_event_id`` (an Event.id seen before) to resume."""
        return follow_pipeline(self._http, pipeline_id, last_event_id=last_event_id,
                               retries=self.max_retries, base=self.backoff, cap=self.max_backoff,
                               idle_timeout=self.stream_idle_timeout, get_pipeline=self.pipeline)

    def status(self, job_id):
        """The job's status (GET /api/v1/jobs/status/{id}): job_id, status,
        progress, current_step, result, error, created_at, started_at,
        completed_at, updated_at."""
        return self._get(job_path("/api/v1/jobs/status/", job_id))

    def get(self, job_id):
        """The job's whole record (GET /api/v1/jobs/{id}): the status
        fields and type, queue, payload, priority, attempts, max_retries,
        worker_id, restarts, version, ..."""
        return self._get(job_path("/api/v1/jobs/", job_id))

    def logs(self, job_id, after=0):
        """The job's kept log lines (GET /api/v1/jobs/{id}/logs): a dict
        with "lines" (each "id", "level", "message", "timestamp"), the
        lines after the line id after, and "dropped", the lines let go."""
        query = {"after": str(int(after))} if after else None
        return self._get(job_path("/api/v1/jobs/", job_id) + "/logs", query=query)

    def poll(self, job_id, current_status=None, timeout=30):
        """One long poll: the job's status as soon as it differs from
        current_status (without one: from the status the job has when the
        request arrives), or after timeout seconds (1-300, rounded up)."""
        secs = int(min(max(math.ceil(timeout), 1), MAX_POLL_TIMEOUT))
        query = {"timeout": secs, "current_status": current_status}
        return self._get(job_path("/api/v1/jobs/status/", job_id, "/poll"), query,
                         timeout=secs + self._http.timeout)

    def wait(self, job_id, timeout=None, poll_timeout=30, on_change=None):
        """Waits until the job is finished (completed, failed or cancelled)
        and returns its final status. A failed or cancelled job is not an
        error: look at ``["status"]`` and ``["error"]``. It long-polls, so
        it costs one request per status change (or per poll_timeout).
        ``on_change`` is called with each status seen before the final one.
        Raises TimeoutError when the job is not finished after ``timeout``
        seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        st, seen = self.status(job_id), None
        while True:
            if st["status"] in TERMINAL:
                return st
            if on_change is not None and st["status"] != seen:
                on_change(st)
            seen = st["status"]
            wait = poll_timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("job %s is still %s after %gs" % (job_id, st["status"], timeout))
                wait = min(wait, left)
            st = self.poll(job_id, st["status"], wait)

    def stream(self, job_id, last_event_id=None):
        """Yields the job's events (jobqueue.Event: ``.id``, ``.status``,
        ``.progress``, ``.current_step``, ``.data``) until it finishes: the
        current state first, then one per change; the terminal event is
        the last. A connection cut short (the instance shut down, the
        network dropped, a load balancer's 502/503, silence) is reopened
        with Last-Event-ID, possibly to another instance, after the
        server's retry hint: no event comes twice and no state is missed.
        Give ``last_event_id`` (an Event.id seen before) to resume."""
        return follow(self._http, job_id, last_event_id=last_event_id, retries=self.max_retries,
                      base=self.backoff, cap=self.max_backoff, idle_timeout=self.stream_idle_timeout,
                      get_job=self.get)

    def list_page(self, status=None, type=None, queue=None, limit=None, cursor=None, include=None):
        """One page of jobs (GET /api/v1/jobs): {"jobs": [summaries],
        "next_cursor": str or None}. See list() for include."""
        if include is not None and not isinstance(include, str):
            include = ",".join(include)
        query = {"status": status, "type": type, "queue": queue, "limit": limit, "cursor": cursor,
                 "include": include}
        return self._get("/api/v1/jobs", query)

    def list(self, status=None, type=None, queue=None, limit=None, cursor=None, include=None):
        """Yields the jobs matching the filters (every one optional), page
        after page of ``limit`` (1-500; the server's default is 50). Each
        job is a summary: the whole record but ``payload`` and ``result``,
        unless ``include`` names them ("payload", "result", or both as a
        list). Jobs come state by state, waiting ones in the order they
        will run, finished ones newest first."""
        while True:
            page = self.list_page(status=status, type=type, queue=queue, limit=limit, cursor=cursor,
                                  include=include)
            for job in page["jobs"]:
                yield job
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def stats(self):
        """The queue's counts and health (GET /api/v1/jobs/queue/stats)."""
        return self._get("/api/v1/jobs/queue/stats")

    def workers(self):
        """The live workers (GET /api/v1/workers), as a list of dicts."""
        return self._get("/api/v1/workers")["workers"]

    # --- acting ----------------------------------------------------------

    def cancel(self, job_id):
        """Cancels a pending, scheduled, retrying or running job (a running
        one's handler is told to stop) and returns the server's message.
        A finished job raises InvalidTransition."""
        return self._post(job_path("/api/v1/jobs/cancel/", job_id))["message"]

    def restart(self, job_id):
        """Puts a failed or cancelled job back to pending under the same id
        and returns the server's message. Any other state raises
        InvalidTransition."""
        return self._post(job_path("/api/v1/jobs/restart/", job_id))["message"]

    def cancel_pipeline(self, pipeline_id):
        """Cancels every unfinished job of a running pipeline and returns
        the server's message; an ended one raises InvalidTransition."""
        return self._post(job_path("/api/v1/pipelines/", pipeline_id, "/cancel"))["message"]

    def restart_pipeline(self, pipeline_id):
        """Runs the failed and cancelled jobs of a failed or cancelled
        pipeline again and returns the server's message; a running or
        completed one raises InvalidTransition."""
        return self._post(job_path("/api/v1/pipelines/", pipeline_id, "/restart"))["message"]

    def delete(self, job_id):
        """Deletes a finished job; an unfinished one raises InvalidTransition."""
        self._http.call("DELETE", job_path("/api/v1/jobs/", job_id))


def _whole_seconds(value, name):
    """Seconds (a number or a timedelta) as the API's whole seconds,
    rounded up so that a job never runs early or is cut short."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise TypeError("%s: want seconds (a number) or a datetime.timedelta, not %r" % (name, value))
    return int(math.ceil(value))


def _rfc3339(value):
    """An aware datetime as RFC 3339 in UTC; a string as it is."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime.datetime):
        raise TypeError("run_at: want a datetime or an RFC 3339 string, not %r" % (value,))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("run_at: a naive datetime is ambiguous; give it a tzinfo "
                         "(e.g. datetime.timezone.utc)")
    utc = value.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (utc.microsecond // 1000)
