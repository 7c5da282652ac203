"""A worker process for test_worker_live.py: runs handlers of the type
argv[3] against the service at argv[1] (API key argv[2], lease argv[4]
seconds) until it is killed. The handler sleeps payload["seconds"]."""

import sys
import time

import jobqueue

worker = jobqueue.Worker(sys.argv[1], api_key=sys.argv[2] or None, lease_seconds=int(sys.argv[4]),
                         wait_seconds=2)


@worker.handler(sys.argv[3])
def sleepy(job):
    time.sleep(job.payload["seconds"])
    return {"slept": job.payload["seconds"]}


if __name__ == "__main__":
    worker.run()
