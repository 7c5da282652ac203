"""One leased job: what its handler sees (Job), and the lease behind it
(_Lease): background heartbeats that extend it and carry progress, and
the final complete or fail, retried until the lease would expire
(completions that end together go out in one call: _completer.py).

The wire protocol (docs/api.md, "Workers over HTTP"): a heartbeat
(POST /api/v1/leases/{id}/heartbeat) extends the lease and may carry
``progress`` and ``current_step``; log lines go in batches to
POST /api/v1/leases/{id}/log; 409 lease_lost means the token no
longer holds the job (cancelled, deleted, restarted, or recovered after
the lease expired). ``complete`` is idempotent for its token, so it is
safe to retry after a timeout, through any apiserver.
"""

import datetime
import json
import logging
import math
import threading
import time

from ._http import Backoff, job_path
from .errors import JobQueueError, LeaseLost, NotFound

log = logging.getLogger("jobqueue.worker")

# The longest error message sent with fail; the rest is cut off.
MAX_ERROR_LEN = 4000

# Log lines: the levels, the most lines one call sends, and the most kept
# unsent (the oldest beyond it are dropped: the job's log keeps no more).
LOG_LEVELS = ("debug", "info", "warn", "error")
MAX_LOG_BATCH = 1000
MAX_LOG_PENDING = 1000


class Permanent(Exception):
    """Raise it from a handler to fail the job at once, without retry
    (``retryable: false``): for work that cannot succeed, such as a bad
    payload. Any other exception fails the run and the job is retried
    within its max_retries."""


class Job:
    """A job leased to this worker, as its handler sees it.

    ``id``, ``type``, ``queue``, ``payload``, ``attempt`` (1 on the first
    run), ``max_retries``, ``inputs`` (the lease's ``inputs``, else {}),
    and ``traceparent`` (the W3C trace context of the job's trace, None
    for an untraced job: a handler using OpenTelemetry can continue the
    trace from it; the worker sends it with its calls about the job). ``cancelled`` is a threading.Event, set when the worker learns
    that it no longer holds the job (it was cancelled, deleted or
    restarted, or its lease expired and the job went to another run; also
    when the worker abandons it at shutdown): the handler should stop, and
    whatever it returns is dropped."""

    def __init__(self, lease, run):
        self.id = lease["job_id"]
        self.type = lease.get("type")
        self.queue = lease.get("queue")
        self.payload = lease.get("payload")
        self.attempt = lease.get("attempt")
        self.max_retries = lease.get("max_retries")
        self.inputs = lease.get("inputs") or {}
        self.traceparent = lease.get("traceparent") or None
        self.cancelled = threading.Event()
        self._run = run

    def progress(self, pct, step=None):
        """Reports progress: pct from 0 to 100, and optionally what the
        handler is doing now (e.g. "Processing document 3 of 5"; None keeps
        the last step). Cheap to call in a tight loop: the latest value
        goes out with the next heartbeat, sent early for it but at most
        once per the worker's progress_interval. Does nothing once the job
        is cancelled."""
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or math.isnan(pct) or not 0 <= pct <= 100:
            raise ValueError("progress: want a number from 0 to 100, not %r" % (pct,))
        if step is not None and not isinstance(step, str):
            raise TypeError("progress: step must be a string or None, not %r" % (step,))
        self._run.report(pct, step)

    def log(self, message, level="info"):
        """Writes a line to the job's log, kept with the job on the server
        (GET /api/v1/jobs/{id}/logs, live with ?follow=1; the dashboard's
        job page). level is "debug", "info", "warn" or "error". Never
        blocks on the network: lines go out in batches, and every line is
        sent before the job's result. Does nothing once the job is
        cancelled."""
        if level not in LOG_LEVELS:
            raise ValueError("log: level %r: want one of %s" % (level, ", ".join(LOG_LEVELS)))
        if not isinstance(message, str):
            raise TypeError("log: message must be a string, not %r" % (message,))
        self._run.add_log(level, message)

    def __repr__(self):
        return "Job(id=%r, type=%r, attempt=%r)" % (self.id, self.type, self.attempt)


class _Lease:
    """The lease of one job: its token, when it expires, the progress not
    yet sent, and the heartbeat loop that keeps it."""

    def __init__(self, transport, lease, leased_at, progress_interval, completer=None):
        self.transport = transport
        self.completer = completer  # sends completions with others (_completer.py), or None
        self.job = Job(lease, self)
        self.token = lease["lease_token"]
        self.seconds = float(lease.get("lease_seconds") or 30)
        # Counted from when the lease call was sent: the server's clock
        # started no earlier, so this never overestimates the lease.
        self.expires = leased_at + self.seconds
        self.last_sent = leased_at
        self.progress_interval = progress_interval
        self.cv = threading.Condition()
        self.pending = None  # (pct, step) not yet sent
        self.done = False  # the handler returned: no more heartbeats
        self.abandoned = False  # the worker gave up on it at shutdown
        self.path = job_path("/api/v1/leases/", self.job.id)
        # Calls about the job carry its trace, so the server's spans of
        # them join it.
        self.headers = {"traceparent": self.job.traceparent} if self.job.traceparent else None
        self.log_lines = []  # log lines not yet sent
        self.log_dropped = 0  # lines dropped for want of room
        self.log_cv = threading.Condition()
        self.log_closed = False  # the handler returned: the sender sends what is left and ends

    # --- progress and heartbeats -----------------------------------------

    def report(self, pct, step):
        with self.cv:
            if self.done or self.job.cancelled.is_set():
                return
            self.pending = (pct, step)
            self.cv.notify()

    def _next_send(self, next_due):
        """Waits until a heartbeat is due: at next_due, or earlier with
        progress waiting, but no sooner than progress_interval after the
        last one. Returns the progress to send (or None), or False when
        the heartbeats are over."""
        with self.cv:
            while True:
                if self.done:
                    return False
                now = time.monotonic()
                due = next_due
                if self.pending is not None:
                    due = min(due, self.last_sent + self.progress_interval)
                if now >= due:
                    progress, self.pending = self.pending, None
                    return progress
                self.cv.wait(due - now)

    def heartbeats(self):
        """Extends the lease every third of it until the handler returns,
        with the latest progress. A lost lease sets job.cancelled."""
        interval = self.seconds / 3
        next_due = self.last_sent + interval
        failures = Backoff(retries=1 << 30, base=0.5, cap=max(interval / 2, 0.5))
        while True:
            progress = self._next_send(next_due)
            if progress is False:
                return
            body = {"lease_token": self.token}
            if progress is not None:
                body["progress"] = progress[0]
                if progress[1] is not None:
                    body["current_step"] = progress[1]
            sent_at = time.monotonic()
            try:
                answer = self.transport.call("POST", self.path + "/heartbeat", body=body, headers=self.headers) or {}
            except (LeaseLost, NotFound) as e:
                self._lost(e)
                return
            except JobQueueError as e:
                with self.cv:
                    if self.pending is None:
                        self.pending = progress  # not delivered: send it with the next one
                    self.last_sent = sent_at
                delay = failures.delay(e) or failures.cap
                next_due = time.monotonic() + min(delay, interval)
                log.warning("job %s: heartbeat failed (%s); next try in %.1fs, lease ends in %.1fs",
                            self.job.id, e, min(delay, interval), self.expires - time.monotonic())
                continue
            failures.reset()
            seconds = answer.get("lease_seconds")
            with self.cv:
                if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
                    self.seconds = float(seconds)
                    interval = self.seconds / 3
                self.expires = sent_at + self.seconds
                self.last_sent = sent_at
            next_due = sent_at + interval

    # --- log lines --------------------------------------------------------

    def add_log(self, level, message):
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        with self.log_cv:
            if self.log_closed or self.job.cancelled.is_set():
                return
            if len(self.log_lines) >= MAX_LOG_PENDING:
                del self.log_lines[0]
                self.log_dropped += 1
            self.log_lines.append({"level": level, "message": message, "time": now})
            self.log_cv.notify()

    def log_sender(self):
        """Sends the lines as they come, in batches, until the handler
        returned and every line is out (or the lease is lost). A failed
        call is tried again, with backoff, with the lines that came since."""
        backoff = Backoff(retries=1 << 30, base=0.2, cap=5.0)
        while True:
            with self.log_cv:
                while not self.log_lines and not self.log_closed:
                    self.log_cv.wait()
                if not self.log_lines:
                    return
                batch = self.log_lines[:MAX_LOG_BATCH]
            try:
                self.transport.call("POST", self.path + "/log", body={"lease_token": self.token, "lines": batch},
                                    headers=self.headers)
            except (LeaseLost, NotFound) as e:
                with self.log_cv:
                    self.log_lines = []
                self._lost(e)
                return
            except JobQueueError as e:
                with self.log_cv:
                    closed = self.log_closed
                delay = backoff.delay(e) or backoff.cap
                if closed and time.monotonic() + delay >= self.expires:
                    log.warning("job %s: %d log lines not sent: %s", self.job.id, len(self.log_lines), e)
                    return
                time.sleep(delay)
                continue
            backoff.reset()
            with self.log_cv:
                del self.log_lines[:len(batch)]

    def _close_log(self, sender):
        """Ends the log: waits for the sender to send what is left."""
        with self.log_cv:
            self.log_closed = True
            self.log_cv.notify()
        sender.join()
        if self.log_dropped:
            log.warning("job %s: %d log lines dropped: more came than the server took", self.job.id,
                        self.log_dropped)

    def _lost(self, err):
        with self.cv:
            if self.done:
                return  # the handler returned meanwhile; finish() deals with it
            self.job.cancelled.set()
            self.pending = None
        status = getattr(err, "job_status", None) or ("deleted" if isinstance(err, NotFound) else "unknown")
        log.warning("job %s: lease lost (job is %s): the handler should stop; its result will be dropped",
                    self.job.id, status)

    def abandon(self):
        """Gives the job up (shutdown after the grace period): no more
        heartbeats, so the lease expires and the server runs the job again;
        the handler is told through job.cancelled and its result dropped."""
        with self.cv:
            self.abandoned = True
            self.done = True
            self.cv.notify()
        self.job.cancelled.set()

    # --- the end of the run ----------------------------------------------

    def finish(self, action, body):
        """Stops the heartbeats and sends complete or fail, retrying network
        failures and 5xx answers with backoff until the lease would expire.
        Dropped when the lease was lost or abandoned."""
        with self.cv:
            self.done = True
            self.cv.notify()
            if self.abandoned or self.job.cancelled.is_set():
                log.info("job %s: %s dropped: this worker no longer holds the job", self.job.id, action)
                return
        body = dict(body, lease_token=self.token)
        # A traced job's complete goes alone: its traceparent header puts
        # the server's span of it in the job's trace.
        if (action == "complete" and self.completer is not None and self.headers is None
                and self.completer.complete(self.job.id, body)):
            return
        backoff = Backoff(retries=1 << 30, base=0.2, cap=5.0)
        tries = 0
        while True:
            tries += 1
            try:
                answer = self.transport.call("POST", self.path + "/" + action, body=body, headers=self.headers) or {}
            except LeaseLost as e:
                if tries > 1 and action == "fail":
                    # An earlier try most likely went through; its answer was lost.
                    log.info("job %s: fail retried after its answer was lost: %s", self.job.id, e)
                else:
                    log.warning("job %s: %s refused, the lease was lost (job is %s)",
                                self.job.id, action, e.job_status or "unknown")
                return
            except JobQueueError as e:
                retry = e.temporary or (e.status is not None and e.status >= 500)
                delay = backoff.delay(e) if e.temporary else None
                if retry and delay is None:  # a 500, or a Retry-After past the cap
                    backoff.attempts += 1
                    delay = backoff.backoff()
                if not retry or time.monotonic() + delay >= self.expires:
                    why = "the lease is about to expire" if retry else "the server refused it"
                    log.error("job %s: %s failed after %d tries, giving up (%s): %s",
                              self.job.id, action, tries, why, e)
                    return
                log.warning("job %s: %s failed (%s); retry in %.2fs", self.job.id, action, e, delay)
                time.sleep(delay)
                continue
            log.info("job %s: %s (job is %s)", self.job.id, "completed" if action == "complete" else "failed",
                     answer.get("status", "?"))
            return

    def run(self, handler):
        """Runs the handler with heartbeats and the log's sender beside it,
        then, once every log line is out, reports."""
        beat = threading.Thread(target=self.heartbeats, name="jobqueue-heartbeat-" + self.job.id, daemon=True)
        beat.start()
        sender = threading.Thread(target=self.log_sender, name="jobqueue-log-" + self.job.id, daemon=True)
        sender.start()
        try:
            result = handler(self.job)
        except Permanent as e:
            self._close_log(sender)
            log.warning("job %s: failed permanently: %s", self.job.id, _message(e))
            self.finish("fail", {"error": _message(e), "retryable": False})
            return
        except Exception as e:  # the handler's failure is the job's, not the worker's
            self._close_log(sender)
            log.warning("job %s: attempt %s failed: %s", self.job.id, self.job.attempt, _message(e), exc_info=True)
            self.finish("fail", {"error": _message(e), "retryable": True})
            return
        self._close_log(sender)
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as e:
            # A programming error: running the handler again gives the same result.
            self.finish("fail", {"error": "the handler's result is not JSON: %s" % e, "retryable": False})
            return
        self.finish("complete", {"result": result})


def _message(exc):
    """An exception's message for the job's error, bounded."""
    msg = str(exc) or type(exc).__name__
    if len(msg) > MAX_ERROR_LEN:
        msg = msg[:MAX_ERROR_LEN] + "..."
    return msg
