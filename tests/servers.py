"""Run the real server (``python -m bot serve`` → gunicorn) as a child process for tests.

Each server gets its own process group, so a test can SIGKILL the master and every worker
at once (a crash) or SIGTERM them (a clean stop).  Its stderr (JSON logs) goes to a file the
test can read.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Settings a test server must never inherit from the developer's shell.
_CLEARED = ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_BASE_URL", "SLACK_SIGNING_SECRET",
            "SLACK_BOT_TOKEN", "SLACK_API_BASE_URL", "SLACK_ESCALATION_CHANNEL", "SLACK_ADMIN_CHANNEL",
            "PROMETHEUS_MULTIPROC_DIR", "TSUNAGU_HASH_KEY")


#: What a cache directory keeps per content (the same files give the same name), so it can be shared by
#: copying: the Sudachi user dictionary, trained models, the knowledge gate's results.  Never the last
#: good copy (``last-good``): that is one installation's history.
SHARED_CACHE = ("user-*.dic", "model-*.npz", "gate-*.json", "gazetteer-*.json")


def seed_cache(target: Path, source: Path | None = None) -> Path:
    """A private cache directory holding what was already built in ``source`` (default: the shared one)."""
    from bot.config import Settings

    source = source or Settings.from_env({}).cache_dir
    target.mkdir(parents=True, exist_ok=True)
    for pattern in SHARED_CACHE:
        for path in source.glob(pattern):
            if not (target / path.name).exists():
                shutil.copy(path, target / path.name)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10) -> tuple[int, bytes, dict]:
    """GET without raising on 4xx/5xx: (status, body, headers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def post(url: str, data: bytes, headers: dict, timeout: float = 10) -> tuple[int, bytes]:
    """POST without raising on 4xx/5xx: (status, body)."""
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_json(url: str, payload: dict, timeout: float = 10) -> dict:
    status, body = post(url, json.dumps(payload, ensure_ascii=False).encode(),
                        {"Content-Type": "application/json"}, timeout)
    assert status == 200, (status, body[:200])
    return json.loads(body)


def until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    end = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class ServerProcess:
    """``tsunagu serve`` on a free loopback port; ``env`` adds to a cleaned copy of os.environ."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None, *, workers: int = 2, threads: int = 4,
                 config: str | os.PathLike | None = None, command: list[str] | None = None, name: str = "server",
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        self.env = {**base, "TSUNAGU_DB": str(tmp / "tsunagu.db"), "TSUNAGU_LOG_FORMAT": "json",
                    # under tmp, so that a SIGKILLed server leaves nothing in /tmp; "" = the server's own
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"metrics-{name}"), **(env or {})}
        if "TSUNAGU_CACHE_DIR" not in (env or {}):
            # its own last good copy (the gate compares with it), the rest reused from the shared cache
            self.env["TSUNAGU_CACHE_DIR"] = str(seed_cache(tmp / "cache"))
        if not self.env["PROMETHEUS_MULTIPROC_DIR"]:
            del self.env["PROMETHEUS_MULTIPROC_DIR"]
        if command is None:
            command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            command += ["--config", str(config)] if config else ["--workers", str(workers), "--threads", str(threads)]
        self.command = command
        self.log_path = tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "ServerProcess":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log,
                                         start_new_session=True)
        end = time.time() + timeout
        while True:
            try:
                if get(self.url + "/healthz", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > end:
                raise AssertionError(f"server did not start (exit {self.proc.poll()}):\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def health(self) -> dict:
        status, body, _ = get(self.url + "/healthz", timeout=5)
        assert status == 200, body
        return json.loads(body)

    def queued(self) -> int:
        h = self.health()
        return h["inbox"] + h["outbox"]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the master and every worker: no clean-up of any kind."""
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # the master stops its workers gracefully
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
