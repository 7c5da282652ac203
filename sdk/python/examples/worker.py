"""worker.py: counts the words of documents, as jobs of type "word_count"."""
import logging
import os

from jobqueue import Permanent, Worker

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

worker = Worker(
    os.environ.get("JOBQUEUE_URL", "http://localhost:8000"),
    api_key=os.environ.get("JOBQUEUE_API_KEY"),  # a "worker" key, when the API has keys
    concurrency=4,
)


@worker.handler("word_count")
def word_count(job):
    payload = job.payload if isinstance(job.payload, dict) else {}
    documents = payload.get("documents")
    if not isinstance(documents, list) or not documents:
        raise Permanent("payload.documents: want a non-empty list of texts")  # fails, no retry
    counts = []
    for i, text in enumerate(documents, 1):
        if job.cancelled.is_set():  # cancelled meanwhile: stop; a result would be dropped
            return None
        counts.append(len(str(text).split()))
        job.progress(100 * i / len(documents), f"Counted document {i} of {len(documents)}")
    return {"words": counts, "total": sum(counts)}


if __name__ == "__main__":
    worker.run()  # until SIGTERM or Ctrl-C; running jobs then get 30 s to finish
