"""The HTTP layer shared by Client and Worker: requests with the SDK's
headers, JSON in and out, answers >= 400 turned into JobQueueError, and
the backoff that paces retries. urllib only, so nothing is installed."""

import http.client
import json
import random
import socket
import urllib.error
import urllib.parse
import urllib.request

from ._version import __version__
from .errors import JobQueueError, NetworkError, error_from_answer

DEFAULT_BASE_URL = "http://localhost:8000"
USER_AGENT = "jobqueue-python/" + __version__

# Failures of the transport: no (whole) answer came.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError)


def job_path(prefix, job_id, suffix=""):
    """An API path with a job id in it. The id is escaped, so a malformed
    one reaches the server (which answers 400) and never another route."""
    return prefix + urllib.parse.quote(str(job_id), safe="") + suffix


class Transport:
    """Sends requests to one API base URL. Safe for use by many threads:
    it holds no connection (urllib opens one per request)."""

    def __init__(self, base_url=None, api_key=None, timeout=10.0):
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base URL %r: want http://host[:port] or https://..." % base_url)
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = base
        self.api_key = api_key
        self.timeout = float(timeout)

    def url(self, path, query=None):
        """The absolute URL of an API path (already escaped) with query
        parameters (None values left out)."""
        url = self.base_url + path
        if query:
            items = [(k, v) for k, v in query.items() if v is not None]
            if items:
                url += "?" + urllib.parse.urlencode(items)
        return url

    def open(self, method, path, query=None, body=None, headers=None, timeout=None):
        """Sends one request and returns the open response (status < 400).
        Raises the JobQueueError of an error answer, or NetworkError."""
        data = None
        hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if self.api_key:
            hdrs["Authorization"] = "Bearer " + self.api_key
        hdrs.update(headers or {})
        what = "%s %s" % (method, path)
        req = urllib.request.Request(self.url(path, query), data=data, headers=hdrs, method=method)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            except _NETWORK_ERRORS:
                raw = b""
            finally:
                e.close()
            raise error_from_answer(e.code, e.headers, raw, what) from None
        except _NETWORK_ERRORS as e:
            reason = getattr(e, "reason", None) or e
            raise NetworkError("%s: %s" % (what, reason or type(e).__name__)) from e

    def call(self, method, path, query=None, body=None, timeout=None, headers=None):
        """Sends one request (with extra headers, if any) and returns its
        decoded JSON answer (None for an empty one)."""
        what = "%s %s" % (method, path)
        resp = self.open(method, path, query=query, body=body, headers=headers, timeout=timeout)
        try:
            raw = resp.read()
        except _NETWORK_ERRORS as e:
            raise NetworkError("%s: reading the answer: %s" % (what, e)) from e
        finally:
            resp.close()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise JobQueueError("%s: the answer is not JSON: %.200r" % (what, raw), status=resp.status) from None


class Backoff:
    """Paces the retries of one operation: a jittered exponential delay
    (between half of and all of base * 2**n, at most cap), or the server's
    Retry-After plus a little jitter; at most ``retries`` in a row."""

    def __init__(self, retries=5, base=0.2, cap=10.0):
        self.retries = retries
        self.base = base
        self.cap = cap
        self.attempts = 0

    def delay(self, err):
        """Seconds to wait before retrying after err, or None when err is
        not temporary or the retries are used up. A Retry-After longer than
        cap ends the retries: the server asks for more patience than
        configured."""
        if not isinstance(err, JobQueueError) or not err.temporary or self.attempts >= self.retries:
            return None
        self.attempts += 1
        if err.retry_after:
            if err.retry_after > self.cap:
                return None
            # Jitter, so the clients told the same thing do not come back in one burst.
            return err.retry_after + random.uniform(0, err.retry_after / 4)
        return self.backoff()

    def backoff(self):
        """The current attempt's exponential delay, jittered."""
        d = min(self.base * (2 ** min(max(self.attempts - 1, 0), 30)), self.cap)
        return random.uniform(d / 2, d)

    def reset(self):
        """Forgets the failures after a success."""
        self.attempts = 0
