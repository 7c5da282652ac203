# Runs the seed's client functions (seed_client.py, verbatim) against a
# live server at $BASE, the way the seed's users would, and exits non-zero
# on the first surprise. Prints one "ok: ..." line per flow.
import io
import os
import sys
from contextlib import redirect_stdout

import requests

BASE = os.environ["BASE"]
here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "seed_client.py")).read().replace("http://localhost:8000", BASE)
seed = {}
exec(compile(src, "seed_client.py", "exec"), seed)


def submit(payload, **extra):
    r = requests.post(BASE + "/api/v1/jobs", json={"type": "demo", "payload": payload, **extra})
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()["job_id"]


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


# Real-time streaming: the loop ends by itself on the terminal event.
job = submit({"steps": 4, "step_ms": 100})
out = io.StringIO()
with redirect_stdout(out):
    seed["stream_job_updates"](job)
lines = out.getvalue().splitlines()
check(lines and lines[-1] == "Job finished" and any("'status': 'running'" in l for l in lines),
      "stream_job_updates follows a job to 'Job finished' (%d updates)" % (len(lines) - 1))

# Polling with backoff returns the finished status.
job = submit({"steps": 3, "step_ms": 100})
with redirect_stdout(io.StringIO()):
    st = seed["monitor_job_completion"](job, max_attempts=20, poll_interval=0.2)
check(st["status"] == "completed" and st["progress"] == 100.0 and st["result"] == {"steps": 3, "step_ms": 100},
      "monitor_job_completion returns the completed status with its result")

# Long polling: returns at once when the status differs, or on the change.
job = submit({"steps": 2, "step_ms": 300})
st = seed["wait_for_job_change"](job, current_status="completed", timeout=5)
check(st["status"] in ("pending", "running"), "wait_for_job_change returns at once when the status differs")
st = seed["wait_for_job_change"](job, current_status=st["status"], timeout=30)
check(st["status"] in ("running", "completed"), "wait_for_job_change returns on the change (%s)" % st["status"])

# Recovery: a failed job is restarted through the API and monitored again.
job = submit({"steps": 2, "step_ms": 10, "fail_at": 1}, max_retries=0)
with redirect_stdout(io.StringIO()):
    seed["monitor_job_completion"](job, max_attempts=20, poll_interval=0.2)
out = io.StringIO()
with redirect_stdout(out):
    st = seed["monitor_job_with_recovery"](job)
check("Job restarted successfully" in out.getvalue() and st["status"] == "failed" and st["error"],
      "monitor_job_with_recovery restarts a failed job (which fails again: fail_at)")

# Queue health reads every field it uses.
out = io.StringIO()
with redirect_stdout(out):
    stats = seed["check_queue_health"]()
check(stats is not None and stats["total_jobs"] >= 4 and "Queue health:" in out.getvalue(),
      "check_queue_health reads the stats (%s)" % out.getvalue().splitlines()[0])

# Adaptive polling ends on the terminal state.
job = submit({"steps": 2, "step_ms": 100})
with redirect_stdout(io.StringIO()):
    st = seed["adaptive_polling"](job, initial_interval=0.1, max_interval=0.5)
check(st["status"] == "completed", "adaptive_polling ends on completed")

# The seed's error handling: an unknown job is a 404 its code catches.
out = io.StringIO()
with redirect_stdout(out):
    seed["monitor_job_with_recovery"]("123e4567-e89b-12d3-a456-426614174000")
check("not found" in out.getvalue(), "monitor_job_with_recovery reports an unknown job as not found")
