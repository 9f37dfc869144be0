"""``tsunagu serve``: the Flask app under gunicorn (a production WSGI server).

Settings are applied in this order: built-in defaults, then a gunicorn config file
(``--config deploy/gunicorn.conf.py``), then what was given on the command line.
The hooks below are used both here and by deploy/gunicorn.conf.py (plain
``gunicorn -c deploy/gunicorn.conf.py`` works too):

- ``on_starting``: with several workers, Prometheus counters must be shared through
  files; this points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before any
  worker starts (workers import prometheus_client after the fork).
- ``child_exit``: a dead worker's live gauges are dropped; its counters are kept.
- ``on_reload`` (SIGHUP): before new workers are started (the old ones still answer), a child
  process trains and judges the knowledge files (``reload.prepare``), so the new workers find both
  kept and the time no worker answers stays that of a plain load.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import Application

log = logging.getLogger("tsunagu.server")

#: What ``tsunagu serve`` uses unless a config file or the command line says otherwise.
DEFAULTS: dict[str, Any] = {
    "worker_class": "gthread",
    "workers": 1,
    "threads": 8,
    "accesslog": None,
    "timeout": 30,
    "graceful_timeout": 20,
    "keepalive": 5,
    # gunicorn 27's control socket is one path per user: two instances on one host would
    # fight over it, and tsunagu does not use it (reload with SIGHUP).
    "control_socket_disable": True,
}


def on_starting(server) -> None:
    """Give the workers an empty shared directory for metrics (kept if the operator set one)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # counts of a previous run of the server
            stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="tsunagu-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        server._tsunagu_metrics_tmp = path  # removed on exit
    server.log.info("metrics directory %s", path)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


#: Longest the master waits for ``reload.prepare`` on SIGHUP (seconds); the new workers then do it themselves.
PREPARE_TIMEOUT = 120


def on_reload(server) -> None:
    """SIGHUP: train and judge the files in a child process while the old workers still answer."""
    try:
        done = subprocess.run([sys.executable, "-c", "from bot.server import prepare_child; prepare_child()"],
                              timeout=PREPARE_TIMEOUT, check=False)
        if done.returncode:
            server.log.warning("preparing the knowledge files exited with %s", done.returncode)
    except (OSError, subprocess.TimeoutExpired) as exc:
        server.log.warning("preparing the knowledge files did not finish (%s)", type(exc).__name__)


def prepare_child() -> None:
    """The child process of :func:`on_reload`: logs as the server does (one JSON object per line)."""
    import logging.config

    from .logs import logconfig
    from .reload import prepare

    logging.config.dictConfig(logconfig(os.environ.get("TSUNAGU_LOG_FORMAT", "json"),
                                        os.environ.get("TSUNAGU_LOG_LEVEL", "INFO")))
    prepare()


def on_exit(server) -> None:
    tmp = getattr(server, "_tsunagu_metrics_tmp", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


HOOKS = {"on_starting": on_starting, "child_exit": child_exit, "on_reload": on_reload, "on_exit": on_exit}


class Server(Application):
    """Gunicorn with the app factory; each worker process builds its own app (and worker threads)."""

    def __init__(self, options: dict[str, Any], config_file: str | None = None):
        self.options = options
        self.config_file = config_file
        super().__init__()

    def load_config(self) -> None:
        for key, value in {**DEFAULTS, **HOOKS}.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)
        if self.config_file:
            self.load_config_from_file(self.config_file)
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from .web import create_app

        return create_app()


def serve(host: str, port: int, *, workers: int | None = None, threads: int | None = None,
          config_file: str | None = None, log_format: str = "json", log_level: str = "INFO") -> None:
    from .logs import logconfig

    Server({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
            "logconfig_dict": logconfig(log_format, log_level)}, config_file).run()
