"""Worker: runs Python handlers for jobs of the queue, over the HTTP lease
protocol (POST /api/v1/leases and its heartbeat, complete and fail calls;
jobs that end together complete in one call; docs/api.md). It needs
nothing but the API's URL: no Redis, no Go.

One thread takes work: a lease call (a long poll of up to wait_seconds)
for as many jobs as there are free slots. Each job runs its handler in a
thread of its own, beside a heartbeat thread that extends its lease every
third of it. The main thread, in run(), waits for a signal to stop.
"""

import logging
import os
import re
import signal
import socket
import threading
import time
import uuid

from ._completer import Completer
from ._http import DEFAULT_BASE_URL, Backoff, Transport
from .errors import JobQueueError
from .job import _Lease

log = logging.getLogger("jobqueue.worker")

# The limits of the lease protocol.
MAX_JOBS_PER_LEASE = 100
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 5, 300
MAX_WAIT_SECONDS = 60
_WORKER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# How often the main thread looks for a stop request. A signal handler
# may not take locks (the interrupted thread may hold them), so it only
# sets a flag, which is read this often.
_TICK = 0.1


def default_worker_id():
    """host-pid-random, in the characters the protocol allows."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:80] or "host"
    return "%s-%d-%s" % (host, os.getpid(), uuid.uuid4().hex[:6])


class Worker:
    """Runs handlers for jobs of the queue at base_url.

    Register a handler per job type with ``@worker.handler("type")``; it
    gets a jobqueue.Job and returns the job's result (any JSON value).
    An exception fails the run (retried within the job's max_retries), a
    jobqueue.Permanent exception fails the job at once. Then call
    ``worker.run()``, which blocks until SIGTERM or SIGINT (or stop()).

    - ``types``: the job types to take; default, those of the handlers.
    - ``concurrency``: jobs run at once (one thread each).
    - ``api_key``: sent as ``Authorization: Bearer``; needs the role
      ``worker`` (or ``admin``) when the API has keys.
    - ``worker_id``: 1-128 of ``[A-Za-z0-9._:-]``; default host-pid-random.
    - ``queues``: the queues to take from, in order; default all of them.
    - ``lease_seconds`` (5-300): how long a job stays ours without a
      heartbeat; heartbeats go every third of it. A worker that dies
      loses its jobs to others within about two leases.
    - ``wait_seconds`` (0-60): how long one lease call waits for work; it
      is kept under two thirds of the lease, so an idle worker calls often
      enough to stay known to the server.
    - ``grace_period``: at shutdown, how long running handlers may take to
      finish; those still running then are abandoned (their leases expire
      and the server runs them again elsewhere).
    - ``progress_interval``: the least time between two heartbeats sent
      early for progress.
    - ``timeout``: bounds each request (a lease call's wait comes on top).
    """

    def __init__(self, base_url=DEFAULT_BASE_URL, types=None, concurrency=1, api_key=None, worker_id=None,
                 queues=None, lease_seconds=30, wait_seconds=20, grace_period=30.0, progress_interval=0.5,
                 timeout=10.0):
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError("concurrency must be a positive integer, not %r" % (concurrency,))
        if not _is_int_in(lease_seconds, MIN_LEASE_SECONDS, MAX_LEASE_SECONDS):
            raise ValueError("lease_seconds must be an integer from %d to %d, not %r"
                             % (MIN_LEASE_SECONDS, MAX_LEASE_SECONDS, lease_seconds))
        if not _is_int_in(wait_seconds, 0, MAX_WAIT_SECONDS):
            raise ValueError("wait_seconds must be an integer from 0 to %d, not %r" % (MAX_WAIT_SECONDS, wait_seconds))
        self.worker_id = worker_id or default_worker_id()
        if not _WORKER_ID.match(self.worker_id):
            raise ValueError("worker_id %r: want 1-128 of A-Z a-z 0-9 . _ : -" % (self.worker_id,))
        if types is not None:
            types = _str_list(types, "types")
            if not types:
                raise ValueError("types must not be empty (None: the handlers' types)")
        if queues is not None:
            queues = _str_list(queues, "queues") or None
        if grace_period is None or grace_period < 0 or progress_interval is None or progress_interval < 0:
            raise ValueError("grace_period and progress_interval must be seconds >= 0")
        self._http = Transport(base_url, api_key, timeout)
        # Handlers that end together complete their jobs in one call; a
        # worker running one job at a time has nothing to gather.
        self._completer = Completer(self._http) if concurrency > 1 else None
        self.types = types
        self.concurrency = concurrency
        self.queues = queues
        self.lease_seconds = lease_seconds
        self.wait_seconds = min(wait_seconds, lease_seconds * 2 // 3)
        self.grace_period = float(grace_period)
        self.progress_interval = float(progress_interval)
        self._handlers = {}
        self._cond = threading.Condition()
        self._running = {}  # job id -> _Lease
        self._stop_requested = False  # set by stop() and signal handlers: no lock
        self._signals = 0
        self._stopping = False
        self._fatal = None
        self._started = False
        self._closed = False  # run() is over: leases still arriving are not run

    def __repr__(self):
        return "Worker(%r, id=%r)" % (self._http.base_url, self.worker_id)

    def handler(self, job_type):
        """A decorator that registers fn as the handler of job_type."""
        def register(fn):
            self.add_handler(job_type, fn)
            return fn
        return register

    def add_handler(self, job_type, fn):
        """Registers fn(job) as the handler of job_type."""
        if not isinstance(job_type, str) or not job_type:
            raise ValueError("job type must be a non-empty string, not %r" % (job_type,))
        if not callable(fn):
            raise TypeError("handler of %r is not callable" % job_type)
        if job_type in self._handlers:
            raise ValueError("job type %r already has a handler" % job_type)
        self._handlers[job_type] = fn

    def running(self):
        """The ids of the jobs running now."""
        with self._cond:
            return sorted(self._running)

    def stop(self):
        """Asks run() to stop: no more leases; running handlers get the
        grace period. Safe from any thread and from a signal handler."""
        self._stop_requested = True

    # --- the main loop ---------------------------------------------------

    def run(self, install_signal_handlers=True):
        """Takes and runs jobs until stop(), SIGTERM or SIGINT, then lets the
        running handlers finish within the grace period and returns. A
        second signal ends the grace period at once. Raises the
        JobQueueError that made leasing impossible (a bad API key, a
        server without the lease protocol, a bad worker configuration)."""
        if self._started:
            raise RuntimeError("a Worker runs once; make a new one")
        self._started = True
        types = self._types()
        restore = self._install_signals() if install_signal_handlers else {}
        log.info("worker %s: taking %s from %s (concurrency %d, lease %ds)", self.worker_id,
                 ", ".join(types), self._http.base_url, self.concurrency, self.lease_seconds)
        fetcher = threading.Thread(target=self._fetch, args=(types,), name="jobqueue-lease", daemon=True)
        fetcher.start()
        try:
            with self._cond:
                while not self._stop_requested and self._fatal is None:
                    self._cond.wait(_TICK)
                self._stopping = True
                self._cond.notify_all()
            self._drain()
        finally:
            for signum, previous in restore.items():
                signal.signal(signum, previous)
        if self._fatal is not None:
            raise self._fatal

    def _types(self):
        if not self._handlers:
            raise ValueError("no handlers: register one with @worker.handler(\"type\")")
        if self.types is None:
            return sorted(self._handlers)
        missing = [t for t in self.types if t not in self._handlers]
        if missing:
            raise ValueError("types without a handler: %s" % ", ".join(missing))
        return list(self.types)

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return {}  # only the main thread may; the caller uses stop()
        restore = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            restore[signum] = signal.signal(signum, self._on_signal)
        return restore

    def _on_signal(self, signum, frame):
        # No logging and no locks here: the interrupted code may hold them.
        self._signals += 1
        self._stop_requested = True

    def _drain(self):
        """Waits for the running handlers, up to the grace period (or a
        second signal), then abandons those left."""
        deadline = time.monotonic() + self.grace_period
        signals = self._signals
        with self._cond:
            if self._running:
                log.info("worker %s: stopping; waiting up to %gs for %d running job(s)", self.worker_id,
                         self.grace_period, len(self._running))
            else:
                log.info("worker %s: stopping", self.worker_id)
            while self._running and self._signals == signals:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, _TICK))
            left = list(self._running.values())
            self._closed = True
        if left:
            log.warning("worker %s: abandoning %d job(s) still running (%s): their leases expire and the "
                        "server runs them again", self.worker_id, len(left), ", ".join(r.job.id for r in left))
            for run in left:
                run.abandon()
        log.info("worker %s: stopped", self.worker_id)

    # --- taking work -----------------------------------------------------

    def _fetch(self, types):
        """The lease thread: a bug in it must stop the worker, not leave it
        idle while it looks alive."""
        try:
            self._fetch_loop(types)
        except Exception as e:  # noqa: BLE001 - reported through run()
            log.exception("worker %s: the lease loop failed", self.worker_id)
            with self._cond:
                self._fatal = e
                self._cond.notify_all()

    def _fetch_loop(self, types):
        """Asks for as many jobs as there are free slots, until stopped."""
        backoff = Backoff(retries=1 << 30, base=0.5, cap=30.0)
        while True:
            with self._cond:
                while not self._done_fetching() and len(self._running) >= self.concurrency:
                    self._cond.wait(_TICK)
                if self._done_fetching():
                    return
                free = self.concurrency - len(self._running)
            try:
                leases = self._lease(types, min(free, MAX_JOBS_PER_LEASE))
            except JobQueueError as e:
                if not e.temporary and (e.status or 0) < 500:
                    log.error("worker %s: cannot take jobs: %s", self.worker_id, e)
                    with self._cond:
                        self._fatal = e
                        self._cond.notify_all()
                    return
                delay = backoff.delay(e) or backoff.cap
                log.warning("worker %s: lease call failed (%s); retry in %.1fs", self.worker_id, e, delay)
                with self._cond:
                    end = time.monotonic() + delay
                    while not self._done_fetching() and time.monotonic() < end:
                        self._cond.wait(min(_TICK, end - time.monotonic()))
                continue
            backoff.reset()
            # Jobs leased while stopping are ours all the same: run them
            # within the grace period rather than leave them to expire.
            for lease, leased_at in leases:
                self._start(lease, leased_at)

    def _done_fetching(self):
        return self._stop_requested or self._stopping or self._fatal is not None

    def _lease(self, types, max_jobs):
        body = {"worker_id": self.worker_id, "types": types, "max_jobs": max_jobs,
                "wait_seconds": self.wait_seconds, "lease_seconds": self.lease_seconds}
        if self.queues:
            body["queues"] = self.queues
        leased_at = time.monotonic()
        answer = self._http.call("POST", "/api/v1/leases", body=body,
                                 timeout=self.wait_seconds + self._http.timeout) or {}
        return [(lease, leased_at) for lease in answer.get("leases") or []]

    def _start(self, lease, leased_at):
        try:
            run = _Lease(self._http, lease, leased_at, self.progress_interval, self._completer)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.error("worker %s: a lease without job_id or lease_token: %.300r", self.worker_id, lease)
            return
        handler = self._handlers.get(run.job.type)
        with self._cond:
            if self._closed:
                # run() has returned: nobody would wait for this handler.
                log.warning("job %s arrived after the worker stopped: its lease expires and the server "
                            "runs it again", run.job.id)
                return
            if run.job.id in self._running:
                return  # already ours
            self._running[run.job.id] = run
        log.info("job %s: %s, attempt %s", run.job.id, run.job.type, run.job.attempt)
        t = threading.Thread(target=self._work, args=(run, handler), name="jobqueue-job-" + run.job.id, daemon=True)
        t.start()

    def _work(self, run, handler):
        try:
            if handler is None:  # the server sent a type this worker did not ask for
                run.finish("fail", {"error": "worker %s has no handler for job type %r" % (self.worker_id, run.job.type),
                                    "retryable": True})
            else:
                run.run(handler)
        finally:
            with self._cond:
                self._running.pop(run.job.id, None)
                self._cond.notify_all()


def _is_int_in(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _str_list(v, name):
    if isinstance(v, str):
        v = [v]
    v = list(v)
    if not all(isinstance(s, str) and s for s in v):
        raise ValueError("%s must be non-empty strings, not %r" % (name, v))
    return v
