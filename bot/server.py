"""``tsunagu serve``: the Flask app under gunicorn (a production WSGI server)."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger("tsunagu.server")


class Server(BaseApplication):
    """Gunicorn with the app factory; each worker process builds its own app (and worker threads)."""

    def __init__(self, options: dict[str, Any], config_file: str | None = None):
        self.options = options
        self.config_file = config_file
        super().__init__()

    def load_config(self) -> None:
        if self.config_file:
            self.load_config_from_file(self.config_file)
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from .web import create_app

        return create_app()


def serve(host: str, port: int, *, workers: int | None = None, threads: int | None = None,
          config_file: str | None = None) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "worker_class": "gthread",
        "workers": workers,
        "threads": threads,
        "accesslog": None,
        "graceful_timeout": 10,
        "timeout": 30,
    }
    if config_file is None:
        options.setdefault("workers", 1)
        options["workers"] = workers or 1
        options["threads"] = threads or 8
    Server(options, config_file).run()
