"""gunicorn settings for production: `gunicorn -c portal/gunicorn_conf.py portal.wsgi`.

Every value can be overridden from the environment (GUNICORN_* or the standard
GUNICORN_CMD_ARGS) or from `.env`, read the same way as the settings read it (variables
already in the environment win).
"""

import multiprocessing
import os
from pathlib import Path

import environ

_DOTENV = Path(__file__).resolve().parent.parent / ".env"
if _DOTENV.is_file():
    environ.Env.read_env(_DOTENV)

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle a worker after this many requests (a guard against slow leaks). Each recycling
# costs a cold start (new database and Redis connections, templates compiled again): at
# 2,000 a busy server restarted a worker every couple of seconds, which showed in p99.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
# The access log without secrets in paths (tracking tokens, confirmation and reset links).
logger_class = "portal.lib.log_redaction.RedactingGunicornLogger"
# Trust X-Forwarded-* only from the local reverse proxy.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
limit_request_fields = 100
