"""The Python SDK of the job queue: a Client to submit and follow jobs
over its HTTP API, and a Worker that runs Python handlers for jobs over
the HTTP lease protocol. Standard library only.

    from jobqueue import Client
    client = Client("http://localhost:8000")
    job_id = client.submit("demo", {"steps": 3})
    print(client.wait(job_id)["status"])
"""

import logging

from ._version import __version__
from .callbacks import BadSignature, verify_callback
from .client import Client
from . import errors as _errors
from .errors import *  # noqa: F401,F403 the exceptions, as errors.__all__ lists them
from .job import Job, Permanent
from .sse import TERMINAL, Event
from .worker import Worker

__all__ = [
    "__version__",
    "Client",
    "Worker",
    "verify_callback",
    "BadSignature",
    "Job",
    "Permanent",
    "Event",
    "TERMINAL",
] + [name for name in _errors.__all__ if name != "error_from_answer"]

# A library logs, the application decides where to: nothing is printed
# unless the application configures logging.
logging.getLogger("jobqueue").addHandler(logging.NullHandler())
