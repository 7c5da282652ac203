# A worker in Python beside the Go ones: the SDK's example worker
# (sdk/python/examples/worker.py, word_count jobs) over the HTTP lease
# protocol, through nginx. The SDK is standard library only, so the image
# needs nothing but Python and the SDK's source.
FROM python:3.12-slim
WORKDIR /app
COPY sdk/python/src /app/src
COPY sdk/python/examples/worker.py /app/worker.py
ENV PYTHONPATH=/app/src PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER nobody
ENTRYPOINT ["python3", "/app/worker.py"]
