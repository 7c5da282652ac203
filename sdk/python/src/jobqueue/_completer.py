"""Completions that go out together: handlers of one worker that end
within a few milliseconds of each other complete their jobs in one
POST /api/v1/leases/complete (docs/api.md) instead of one request each.

A completion handed over waits for a batch. The first of a batch waits up
to GATHER for others (at most MAX_BATCH); a batch of one, or any batch
the server did not answer, is handed back and its run sends it alone with
its own retries (complete is idempotent for its token, so sending again
what may have gone through is safe). A server without the batched route
(404, an older server) makes every later completion go alone.
"""

import logging
import threading
import time

from .errors import JobQueueError, NotFound

log = logging.getLogger("jobqueue.worker")

# How long the first completion of a batch waits for others, and the most
# one batch holds (the server's limit).
GATHER = 0.003
MAX_BATCH = 100

PATH = "/api/v1/leases/complete"


class _Pending:
    __slots__ = ("job_id", "body", "done", "sent")

    def __init__(self, job_id, body):
        self.job_id, self.body = job_id, body
        self.done = threading.Event()
        self.sent = False  # answered in a batch; otherwise its run sends it alone


class Completer:
    """Gathers a worker's completions into batched calls."""

    def __init__(self, transport, gather=GATHER):
        self.transport = transport
        self.gather = gather
        self.supported = True  # False once the server said it has no such route
        self._cond = threading.Condition()
        self._waiting = []
        self._busy = False  # a sender thread runs

    def complete(self, job_id, body):
        """Sends body (lease_token and result) with other completions.
        Returns True when the server answered for it (completed, or
        refused and logged), False when the caller must send it alone."""
        if not self.supported:
            return False
        item = _Pending(job_id, body)
        with self._cond:
            self._waiting.append(item)
            self._cond.notify()
            if not self._busy:
                self._busy = True
                threading.Thread(target=self._send_loop, name="jobqueue-complete", daemon=True).start()
        item.done.wait()
        return item.sent

    def _send_loop(self):
        """Sends batches while completions wait, then ends."""
        while True:
            with self._cond:
                if not self._waiting:
                    self._busy = False
                    return
                deadline = time.monotonic() + self.gather
                while len(self._waiting) < MAX_BATCH:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
            try:
                if len(batch) > 1 and self.supported:
                    self._send(batch)
            except Exception:  # noqa: BLE001 - a bug here must not strand the completions
                log.exception("a batch of %d completions failed; each is sent alone", len(batch))
            finally:
                for item in batch:
                    item.done.set()

    def _send(self, batch):
        body = {"completions": [dict(item.body, job_id=item.job_id) for item in batch]}
        try:
            answer = self.transport.call("POST", PATH, body=body) or {}
        except NotFound:
            log.info("the server has no %s: completing one job a call", PATH)
            self.supported = False
            return
        except JobQueueError as e:
            log.warning("a batch of %d completions failed (%s); each is sent alone", len(batch), e)
            return
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(batch):
            log.warning("a batch of %d completions got a malformed answer; each is sent alone", len(batch))
            return
        for item, res in zip(batch, results):
            if not isinstance(res, dict) or res.get("job_id") != item.job_id:
                continue  # sent alone
            err = res.get("error")
            if res.get("status") == "completed":
                log.info("job %s: completed (job is completed)", item.job_id)
            elif isinstance(err, dict):
                log.warning("job %s: complete refused (%s), the lease was lost (job is %s)", item.job_id,
                            err.get("code") or "error", err.get("status") or "unknown")
            else:
                continue
            item.sent = True
