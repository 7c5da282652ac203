"""The errors of the SDK: one class per kind of answer a caller handles
differently, all under JobQueueError.

Every error answer of the API has the body ``{"error": {"code", "message"}}``;
``code`` is stable (match on it, or on these classes), ``message`` is for
people. An error raised for an HTTP answer carries its ``status``, ``code``,
``message`` and, for 429 and 503, the server's ``retry_after`` in seconds.
"""

import email.utils
import json
import time

__all__ = [
    "JobQueueError",
    "NetworkError",
    "BadRequest",
    "UnknownJobType",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "InvalidTransition",
    "Duplicate",
    "TooManyQueues",
    "LeaseLost",
    "PayloadTooLarge",
    "RateLimited",
    "QuotaExceeded",
    "TooManyStreams",
    "ServerError",
    "Unavailable",
    "error_from_answer",
]


class JobQueueError(Exception):
    """Any failure of a call to the job queue's API.

    ``status`` is the HTTP status (None when no answer came, see
    NetworkError), ``code`` the API's machine code ("not_found", ...; ""
    when the answer was not the API's JSON, e.g. a proxy's error page),
    ``message`` the human message, ``retry_after`` the seconds the server
    asked to wait (429, 503), else None, and ``details`` every other field
    of the error body (``job_id`` of a duplicate, ``status`` of a lost
    lease, ...).
    """

    def __init__(self, message, status=None, code="", retry_after=None, details=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.details = dict(details or {})

    def __str__(self):
        if self.status is None:
            return self.message
        return "%s (%d %s)" % (self.message, self.status, self.code or "error")

    @property
    def temporary(self):
        """Whether the same request may succeed later: a network failure,
        429, 502, 503 or 504 (a load balancer's answer while an instance
        restarts)."""
        return self.status is None or self.status in (429, 502, 503, 504)


class NetworkError(JobQueueError):
    """No answer: the connection was refused, cut or timed out. The
    request may or may not have reached the server."""


class BadRequest(JobQueueError):
    """400: a malformed id, parameter or body (code invalid_argument)."""


class UnknownJobType(BadRequest):
    """400 unknown_job_type: no built-in handler and no live worker runs
    the submitted type."""


class Unauthorized(JobQueueError):
    """401: the API has keys and the request had none, or an unknown one."""


class Forbidden(JobQueueError):
    """403: the key's role does not allow the call."""


class NotFound(JobQueueError):
    """404: no such job (never submitted, deleted or expired), or no such
    route (an older server)."""


class Conflict(JobQueueError):
    """409: the job's state or the call's token does not allow it."""


class InvalidTransition(Conflict):
    """409 invalid_transition: e.g. cancelling a finished job, restarting
    a completed one."""


class Duplicate(Conflict):
    """409 duplicate: another job holds the unique_key; ``job_id`` names it."""

    @property
    def job_id(self):
        """The id of the job that holds the key."""
        return self.details.get("job_id")


class TooManyQueues(Conflict):
    """409 too_many_queues: a job for a new queue, while the server holds
    its most queue names; nothing was submitted."""


class LeaseLost(Conflict):
    """409 lease_lost: the lease token no longer holds the job (it was
    cancelled, deleted, restarted, or recovered after its lease expired).
    ``job_status`` is the job's status as the server names it, if it does."""

    @property
    def job_status(self):
        """The job's current status, when the server said it."""
        return self.details.get("status") or self.details.get("job_status")


class PayloadTooLarge(JobQueueError):
    """413: the body is over the server's limit."""


class RateLimited(JobQueueError):
    """429: over the caller's rate limit; ``retry_after`` says for how long."""


class QuotaExceeded(RateLimited):
    """429 quota_exceeded: the caller has its quota of unfinished jobs;
    nothing was submitted. Jobs free their place as they finish."""


class TooManyStreams(RateLimited):
    """429 too_many_streams: the caller holds its most streams and long
    polls on that instance; retried like any 429 by the reading calls."""


class ServerError(JobQueueError):
    """5xx: the server (or a proxy before it) failed."""


class Unavailable(ServerError):
    """502, 503, 504: the server cannot answer now (its Redis is away, or
    the load balancer has no instance); retry after ``retry_after``."""


_BY_CODE = {
    "unknown_job_type": UnknownJobType,
    "invalid_transition": InvalidTransition,
    "duplicate": Duplicate,
    "too_many_queues": TooManyQueues,
    "lease_lost": LeaseLost,
    "quota_exceeded": QuotaExceeded,
    "too_many_streams": TooManyStreams,
}

_BY_STATUS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def parse_retry_after(value, now=None):
    """Reads a Retry-After header (delay-seconds or an HTTP date) into
    seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def error_from_answer(status, headers, body, what=""):
    """Builds the JobQueueError for an answer of status >= 400: its class
    from the API's error code, else from the HTTP status. ``what`` (e.g.
    "GET /api/v1/jobs/...") prefixes the message of answers that are not
    the API's JSON."""
    retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
    code, message, details = "", "", {}
    try:
        err = json.loads(body)["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        details = {k: v for k, v in err.items() if k not in ("code", "message")}
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    if not code:
        # Not the API's body: a proxy or load balancer answered.
        text = body.decode("utf-8", "replace").strip() if isinstance(body, bytes) else str(body or "")
        if not text or len(text) > 200 or text.startswith("<"):
            text = "HTTP %d" % status
        message = (what + ": " if what else "") + text
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else JobQueueError
    return cls(message, status=status, code=code, retry_after=retry_after, details=details)
