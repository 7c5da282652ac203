"""A worker process for test_worker_process.py: runs handlers of type
"sleepy" against the lease server at argv[1], with the grace period
argv[2], until a signal stops it. The handler reports progress "started",
sleeps payload["seconds"], and returns {"slept": seconds}."""

import logging
import sys
import time

import jobqueue

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

worker = jobqueue.Worker(sys.argv[1], concurrency=2, lease_seconds=30, wait_seconds=20,
                         grace_period=float(sys.argv[2]))


@worker.handler("sleepy")
def sleepy(job):
    job.progress(1, "started")
    time.sleep(job.payload["seconds"])
    return {"slept": job.payload["seconds"]}


if __name__ == "__main__":
    worker.run()
    print("worker_main: run() returned", flush=True)
