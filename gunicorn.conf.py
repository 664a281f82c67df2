"""gunicorn settings for Allport; every value can be overridden on the command line."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Recycle workers now and then: PDF rendering holds whole documents in memory (DESIGN §9).
max_requests = 1000
max_requests_jitter = 100
timeout = 60
accesslog = "-"
