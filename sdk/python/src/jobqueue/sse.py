"""Following a job's server-sent events (GET
/api/v1/jobs/status/{job_id}/stream) across reconnections.

The server sends the job's current state first, then one event per change;
each event's ``id`` is the job's version and its ``data`` the whole visible
state, so a client that resumes with ``Last-Event-ID`` misses no state and
gets no duplicate. The stream closes after a terminal event. When an
instance shuts down or loses Redis it sends ``retry: <ms>`` and closes; the
client comes back (to any instance) after that long.
"""

import http.client
import json
import socket
import time

from ._http import Backoff, job_path
from .errors import JobQueueError, NetworkError, NotFound

TERMINAL = ("completed", "failed", "cancelled")

# One line of the stream at most; an event's data is one line of JSON.
_MAX_LINE = 1 << 20


class Event:
    """One event of a job's stream: ``id`` (the job's version, an int, or
    None if the server sent none) and ``data``, the decoded JSON with
    ``job_id``, ``status``, ``progress``, ``current_step`` and
    ``timestamp`` (also readable as attributes, or as ``event["status"]``)."""

    __slots__ = ("id", "data")

    def __init__(self, id, data):
        self.id = id
        self.data = data

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        """data.get(key, default)."""
        return self.data.get(key, default)

    @property
    def job_id(self):
        """The job's id."""
        return self.data.get("job_id")

    @property
    def status(self):
        """The job's status at this event."""
        return self.data.get("status")

    @property
    def progress(self):
        """The job's progress, 0 to 100."""
        return self.data.get("progress")

    @property
    def current_step(self):
        """What the handler said it is doing, or None."""
        return self.data.get("current_step")

    @property
    def timestamp(self):
        """When the change happened (RFC 3339)."""
        return self.data.get("timestamp")

    @property
    def terminal(self):
        """Whether the job is finished at this event (the stream's last)."""
        return self.status in TERMINAL

    def __eq__(self, other):
        return isinstance(other, Event) and (self.id, self.data) == (other.id, other.data)

    def __repr__(self):
        return "Event(id=%r, status=%r, progress=%r, current_step=%r)" % (
            self.id, self.status, self.progress, self.current_step)


class _Hints:
    """What the server said about reconnecting (SSE ``retry:``), in seconds."""

    def __init__(self):
        self.retry = None


def parse_events(lines, hints):
    """Yields an (id, data string) per event of an SSE byte stream given as
    an iterable of lines; comments (the keep-alive) are skipped and
    ``retry:`` fields recorded in hints."""
    data, event_id = [], None
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n") if isinstance(raw, bytes) else raw.rstrip("\r\n")
        if line == "":  # a blank line dispatches the event
            if data:
                yield event_id, "\n".join(data)
            data, event_id = [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "id":
            try:
                event_id = int(value)
            except ValueError:
                event_id = None
        elif field == "retry" and value.isdigit():
            hints.retry = int(value) / 1000.0


def _lines(resp):
    """The lines of a response, as read; read failures become NetworkError
    (an idle stream's socket timeout included)."""
    while True:
        try:
            line = resp.readline(_MAX_LINE)
        except socket.timeout:
            raise NetworkError("the stream was silent too long (no event or keep-alive)") from None
        except (http.client.HTTPException, OSError) as e:
            raise NetworkError("the stream broke: %s" % (e or type(e).__name__)) from e
        if not line:
            return
        yield line


class StreamEnded(NetworkError):
    """The server closed a stream before a terminal event (it shut down,
    or lost Redis); the stream reconnects."""


def follow(transport, job_id, last_event_id=None, retries=5, base=0.2, cap=10.0,
           idle_timeout=45.0, get_job=None, sleep=time.sleep):
    """Yields the job's events (Event) until a terminal one, reconnecting
    with Last-Event-ID when a connection ends early. Raises the last error
    after ``retries`` reconnections in a row that brought no event, or at
    once for an error that retrying cannot fix (404, 400, 401, 403)."""
    finished = None
    if get_job is not None:
        def finished(last):
            return _finished(get_job, job_id, last)
    return _follow(transport, job_path("/api/v1/jobs/status/", job_id, "/stream"), "job %s" % job_id,
                   lambda ev: ev.terminal, finished, last_event_id, Backoff(retries, base, cap),
                   idle_timeout, sleep)


def follow_pipeline(transport, pipeline_id, last_event_id=None, retries=5, base=0.2, cap=10.0,
                    idle_timeout=45.0, get_pipeline=None, sleep=time.sleep):
    """Yields the events of a pipeline's stream (Event) until the
    pipeline's own terminal one: every event of each of its jobs (its
    data names the job's ``job_id``) and the pipeline's status changes
    (their data names ``pipeline_id`` and no job), reconnecting with
    Last-Event-ID as follow does."""
    finished = None
    if get_pipeline is not None:
        def finished(last):
            return _pipeline_finished(get_pipeline, pipeline_id, last)
    return _follow(transport, job_path("/api/v1/pipelines/", pipeline_id, "/stream"),
                   "pipeline %s" % pipeline_id, _pipeline_end, finished, last_event_id,
                   Backoff(retries, base, cap), idle_timeout, sleep)


def _pipeline_end(ev):
    """Whether ev is the pipeline's own terminal event (a stream's last)."""
    return "job_id" not in ev.data and ev.get("pipeline_id") is not None and ev.status in TERMINAL


def _follow(transport, path, what, is_last, finished, last_event_id, backoff, idle_timeout, sleep):
    """The stream at path (of what, a job or a pipeline) until is_last
    says an event is its last; finished(last) says, after a connection
    closed without an event, whether the stream is over all the same."""
    last = last_event_id
    hints = _Hints()
    while True:
        err = None
        resp = None
        events = 0
        try:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            resp = transport.open("GET", path, headers=headers, timeout=idle_timeout)
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("text/event-stream"):
                raise JobQueueError("GET %s: the answer is %r, not an event stream" % (path, ctype),
                                    status=resp.status)
            for event_id, raw in parse_events(_lines(resp), hints):
                if event_id is not None and last is not None and event_id <= last:
                    continue  # seen before this reconnection
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise JobQueueError("stream of %s: event data is not JSON: %.200r" % (what, raw)) from None
                if event_id is not None:
                    last = event_id
                backoff.reset()
                events += 1
                ev = Event(event_id, data)
                yield ev
                if is_last(ev):
                    return
            err = StreamEnded("stream of %s: ended before its end" % what)
        except JobQueueError as e:
            err = e
        finally:
            if resp is not None:
                resp.close()
        # A connection closed without an event may be a stream resumed after
        # its terminal event (the server then sends nothing): look once.
        if isinstance(err, StreamEnded) and events == 0 and finished is not None and finished(last):
            return
        delay = backoff.delay(err)
        if delay is None:
            raise err
        if hints.retry is not None and not err.retry_after:
            # The server said when to come back; the backoff still grows
            # should the reconnections keep failing.
            delay = max(delay, hints.retry)
        sleep(delay)


def _finished(get_job, job_id, last):
    """After a stream closed without an event: whether it is over all the
    same (the job finished in an event already seen, as when a stream is
    resumed after its terminal event). A deleted job raises NotFound; any
    other failure means "not known": the stream reconnects."""
    try:
        job = get_job(job_id)
    except NotFound:
        raise
    except JobQueueError:
        return False
    return job.get("status") in TERMINAL and last is not None and job.get("version", 0) <= last


def _pipeline_finished(get_pipeline, pipeline_id, last):
    """_finished for a pipeline: whether it has ended (its stream closes
    once it has, having sent the end)."""
    try:
        p = get_pipeline(pipeline_id)
    except NotFound:
        raise
    except JobQueueError:
        return False
    return p.get("status") != "running" and last is not None
