"""gunicorn settings for Allport; every value can be overridden on the command line."""

import os

from study.config import per_process_rate_limits_warning

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Recycle workers now and then: PDF rendering holds whole documents in memory (DESIGN §9).
max_requests = 1000
max_requests_jitter = 100
# Build the app once, in the master, and fork workers from it: a recycled worker starts at once,
# instead of spending ~1.8 s of CPU in create_app every 1,000 requests (issue 14), and workers
# share the app's pages. Each worker drops the database connections it inherits
# (study.database.configure_engine). New code needs a restart, not a HUP.
preload_app = True
timeout = 60
accesslog = "-"
# Trainee links are credentials: the access log shows /t/<redacted> (DESIGN §9).
logger_class = "study.access_log.RedactingLogger"


def when_ready(server):  # type: ignore[no-untyped-def]
    """Warn once, from the master, when each worker would count rate limits on its own."""
    warning = per_process_rate_limits_warning(server.cfg.workers, os.environ)
    if warning:
        server.log.warning(warning)
