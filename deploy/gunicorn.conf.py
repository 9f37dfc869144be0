"""gunicorn settings for tsunagu on a small server (2 cores).

Used by the systemd unit and the container:

    tsunagu serve --host 127.0.0.1 --port 8000 --config deploy/gunicorn.conf.py

Plain gunicorn works too (it reads ``wsgi_app`` below):

    gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8000

Every setting can be changed without editing this file, through the environment
(see deploy/.env.example).  The address comes from the command line.
"""

import os as _os

from bot.logs import logconfig as _logconfig
from bot.server import child_exit, on_exit, on_reload, on_starting  # noqa: F401  (gunicorn hooks: shared metrics, SIGHUP)

wsgi_app = "bot.web:create_app()"

# Worker processes.  Every worker runs the webhook handlers and its own inbox worker
# threads; they share the SQLite database (events are claimed atomically, sessions
# and dedupe live in the database), so any number is correct.  Two per core is plenty:
# the triage itself takes well under a millisecond.
workers = int(_os.environ.get("TSUNAGU_WORKERS", "2"))
worker_class = "gthread"
threads = int(_os.environ.get("TSUNAGU_THREADS", "8"))

# A request that takes longer than this is a stuck worker: gunicorn replaces it.
# Webhooks answer in milliseconds (the answer is sent later by the inbox worker).
timeout = int(_os.environ.get("TSUNAGU_TIMEOUT", "30"))
# On SIGHUP / SIGTERM, workers finish what they are doing within this time.
# Nothing is lost if they do not: unfinished events stay in the database.
graceful_timeout = int(_os.environ.get("TSUNAGU_GRACEFUL_TIMEOUT", "20"))
keepalive = 5

# Behind nginx on the same host: trust its X-Forwarded-* headers only.
forwarded_allow_ips = _os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# JSON lines on stderr (journald / docker logs).  No access log: URLs carry nothing
# useful, and the app logs what matters without message text or user ids.
accesslog = None
logconfig_dict = _logconfig(_os.environ.get("TSUNAGU_LOG_FORMAT", "json"), _os.environ.get("TSUNAGU_LOG_LEVEL", "INFO"))
control_socket_disable = True  # not used; reload with SIGHUP (systemctl reload tsunagu)
