"""Checking the callbacks a job queue POSTs when a job ends.

A job submitted with ``callback_url`` gets its record POSTed there once it
ends (completed, failed for good, or cancelled), signed with the
deployment's secret (its ``WEBHOOK_SECRET``):

    Jobqueue-Delivery: <delivery id, the same on every attempt>
    Jobqueue-Timestamp: <Unix seconds>
    Jobqueue-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">

A delivery may arrive more than once: deduplicate on the delivery id.
"""

import hashlib
import hmac
import time

HEADER_DELIVERY = "Jobqueue-Delivery"
HEADER_TIMESTAMP = "Jobqueue-Timestamp"
HEADER_SIGNATURE = "Jobqueue-Signature"

#: The oldest signature verify_callback accepts by default, in seconds.
DEFAULT_MAX_AGE = 300


class BadSignature(ValueError):
    """A callback whose signature is missing, wrong, or too old."""


def _header(headers, name):
    """headers[name], case-insensitively, for a dict or an
    http.server / email.message headers object; None when absent."""
    get = getattr(headers, "get", None)
    if get is not None:
        value = get(name)
        if value is not None:
            return value
    lower = name.lower()
    for key in headers.keys():
        if key.lower() == lower:
            return headers[key]
    return None


def verify_callback(secret, headers, body, max_age=DEFAULT_MAX_AGE, now=None):
    """Checks a callback POST and returns its delivery id.

    ``secret`` is the deployment's webhook secret (str or bytes),
    ``headers`` the request's headers (a dict, or the ``headers`` of an
    http.server request), ``body`` the raw body bytes as received (not
    re-encoded JSON). Raises BadSignature when the signature does not
    match, or the timestamp is more than ``max_age`` seconds from ``now``
    (default: the current time)."""
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(body, str):
        body = body.encode()
    try:
        ts = int(_header(headers, HEADER_TIMESTAMP))
    except (TypeError, ValueError):
        raise BadSignature("no valid %s header" % HEADER_TIMESTAMP) from None
    now = time.time() if now is None else now
    if abs(now - ts) > max_age:
        raise BadSignature("signed %d s from now, past %d s" % (now - ts, max_age))
    sig = _header(headers, HEADER_SIGNATURE) or ""
    if not sig.startswith("sha256="):
        raise BadSignature("%s is not sha256=<hex>" % HEADER_SIGNATURE)
    want = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig[len("sha256="):], want):
        raise BadSignature("signature does not match")
    delivery = _header(headers, HEADER_DELIVERY)
    if not delivery:
        raise BadSignature("no %s header" % HEADER_DELIVERY)
    return delivery
