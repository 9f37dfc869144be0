"""Load benchmark: a real ``tsunagu serve`` (gunicorn) under signed LINE webhooks at a fixed rate.

Not a test: run it by hand on a quiet machine.

    .venv/bin/python bench/load.py                                  # 100 webhooks/s for 30 s
    .venv/bin/python bench/load.py --rate 300 --duration 60 --workers 2 --threads 8
    .venv/bin/python bench/load.py --rate 300 --duration 60 --workers 2 --fault-ratio 0.3 --kill-at 20 --drain 180
    .venv/bin/python bench/load.py --app-dir /tmp/snapshot ...     # serve another checkout (git archive)
    .venv/bin/python bench/load.py --reload 6 --workers 2          # time starts and hot reloads instead
    .venv/bin/python bench/load.py --db postgresql://tsunagu@127.0.0.1/bench   # PostgreSQL (an empty database)

What runs where (all on 127.0.0.1):
  - this process: the load generator (asyncio, raw keep-alive HTTP/1.1) and the LINE Messaging API
    fake (``tests/fakes/line_api.FakeLine``) the server answers through;
  - a child process group: ``python -m bot serve`` (gunicorn, gthread) with a temporary SQLite file,
    or the PostgreSQL database of ``--db`` (with a hashing key made for the run).

Open loop: webhook i is *scheduled* at ``start + i / rate`` and every latency is measured from that
scheduled time, so a slow server shows up as latency (and a backlog of open connections), never as
a lower send rate (no coordinated omission).  ``gen lag`` in the report is how late sends actually
left compared to their schedule; if it is large, the generator itself could not keep up.

Each webhook carries one fresh text event (timestamp now) of one of ``--users`` users; the texts
rotate over tests/data/dev_cases.jsonl.  Its reply token is registered with the fake first.  An
answer is matched to its event by reply token (reply) or by X-Line-Retry-Key (push; the key is
derived from the event id exactly as the app derives it).  Only delivered calls count (HTTP 200 from
the fake); a 409 "retry key already accepted" is not a second delivery.

  lost        an event the webhook accepted (200) with no delivered answer after the drain
  duplicated  an event with more than one delivered answer
  errors      webhooks answered with something other than 200, or that failed to connect/read

``--kill-at S`` SIGKILLs the server's whole process group S seconds into the run and starts it
again at once; webhooks sent while it is down are errors and are not expected to be answered.  (The
new gunicorn master binds the port before its workers have booted, so most webhooks of the restart
wait in the listen backlog and show up as latency, not as errors.)

Before the measured run, ``--warmup`` seconds of webhooks warm the server's caches (not counted),
and the fake's records are reset.  At the end the server's queue is read (through the served checkout's
``bot.storage``, so it works on either engine) to split the
delivery time into stored->processed (queue + triage) and processed->sent (LINE calls + retries), and
to say where each lost event is (still queued in inbox/outbox, failed, or not stored at all).  Up to
five duplicated and lost events are printed with their LINE calls.  ``other`` CPU is what the rest
of the machine used during the run: numbers taken while it is high are not comparable.

The fake checks every call against the documented limits; its OpenAPI request validation is off by
default here (``--validate-requests`` turns it on) because at 300/s it costs a large share of this
process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from fakes.line_api import FakeLine  # noqa: E402
from fakes.line_webhook import callback, dumps, new_user_id, sign, text_event, validate_webhook  # noqa: E402

#: ``bot.channels.line.retry_key`` of the checkout being served (imported in main, after --app-dir).
retry_key = None

SECRET = "load-bench-secret"
CASES = ROOT / "tests" / "data" / "dev_cases.jsonl"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------ helpers

def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def dist_ms(values: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds of values in seconds."""
    out = {"n": len(values)}
    for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        v = pct(values, p)
        out[name] = None if v is None else round(v * 1000, 1)
    return out


def fmt_dist(d: dict) -> str:
    def f(v):
        return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")
    return f"p50 {f(d['p50'])}  p95 {f(d['p95'])}  p99 {f(d['p99'])}  max {f(d['max'])} ms  (n={d['n']})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_texts() -> list[str]:
    texts = []
    with CASES.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                texts.append(json.loads(line)["text"])
    return texts


# ------------------------------------------------------------------------------------ the server

class Server:
    """``python -m bot serve`` in its own process group (so a SIGKILL takes the master and workers)."""

    def __init__(self, tmp: Path, fake: FakeLine, workers: int, threads: int, app_dir: Path = ROOT,
                 env: dict[str, str] | None = None, db: str | None = None):
        self.app_dir = app_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.db = db or str(tmp / "load.db")
        #: the user-id hashing key, given to the server and to the report's reader (PostgreSQL needs one)
        self.hash_key = secrets.token_hex(32)
        self.env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": fake.access_token,
                    "LINE_API_BASE_URL": fake.url, "TSUNAGU_DB": self.db, "TSUNAGU_HASH_KEY": self.hash_key,
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = tmp / "server.log"
        self.log = open(self.log_path, "ab")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> float:
        """Start and wait until /healthz answers; returns the seconds it took.

        A server drowning in webhooks may not answer /healthz in time although it is up: after
        the first few tries, a worker that accepts connections and answers anything counts.
        """
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers), "--threads", str(self.threads)],
            cwd=self.app_dir, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except urllib.error.HTTPError:
                return time.monotonic() - t0       # a worker answered: it is up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start within {timeout:.0f}s; see {self.log_path}")

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()


# ------------------------------------------------------------------------------------ CPU / RSS

def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def _ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime + stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return None


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _machine_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


class Sampler(threading.Thread):
    """Once a second: CPU ticks and RSS of the server process tree (and of this process, and the machine)."""

    def __init__(self, server: Server):
        super().__init__(name="sampler", daemon=True)
        self.server = server
        self.stop_event = threading.Event()
        self.last: dict[int, int] = {}
        self.server_ticks = 0
        self.peak_rss_kb = 0
        self.peak_procs = 0
        self.window: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def sample(self) -> None:
        proc = self.server.proc
        if proc is None or proc.poll() is not None:
            return
        pids = _tree(proc.pid)
        rss = 0
        with self._lock:
            for pid in pids:
                t = _ticks(pid)
                if t is None:
                    continue
                self.server_ticks += t - self.last.get(pid, t)
                self.last[pid] = t
                rss += _rss_kb(pid)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_procs = max(self.peak_procs, len(pids))

    def mark(self):
        """(server ticks, own ticks, machine busy, machine total, monotonic) at this moment."""
        self.sample()
        own = os.times()
        busy, total = _machine_busy()
        with self._lock:
            return self.server_ticks, (own.user + own.system) * CLK_TCK, busy, total, time.monotonic()

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            self.sample()


# ------------------------------------------------------------------------------------ the generator

@dataclass
class Sent:
    index: int
    sched: float                    # monotonic: when it was due
    event_id: str
    reply_token: str
    retry_key: str
    sent_at: float = 0.0            # monotonic: when it actually went out
    written_at: float = 0.0         # monotonic: when it got a connection slot (--max-conns)
    lag: float = 0.0                # how late it actually went out (negative: a little early)
    status: int | None = None       # HTTP status, None: connection/read error
    error: str | None = None
    latency: float | None = None    # answer received - max(sched, sent_at)

    @property
    def origin(self) -> float:
        """Latencies count from the schedule (open loop), or from the send if it left early."""
        return max(self.sched, self.sent_at)


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float = field(default_factory=time.monotonic)


class Generator:
    """Open-loop webhook sender over a pool of keep-alive connections (asyncio, hand-written HTTP/1.1)."""

    #: gunicorn closes keep-alive connections idle for 2 s; do not reuse one that old.
    IDLE_REUSE = 1.0
    #: how early a send may leave (latency is then measured from the actual send, never from before it)
    EARLY = 0.0015

    def __init__(self, fake: FakeLine, server: Server, *, rate: float, duration: float, users: int,
                 texts: list[str], timeout: float, max_conns: int, seed: int):
        self.fake, self.server = fake, server
        self.rate, self.duration = rate, duration
        self.texts = texts
        rnd = random.Random(seed)
        self.users = [new_user_id() for _ in range(users)]
        rnd.shuffle(self.texts)
        self.timeout = timeout
        self.max_conns = max_conns
        self.sem: asyncio.Semaphore | None = None
        self.idle: deque[Conn] = deque()
        self.sent: list[Sent] = []
        self.open_conns = 0
        self.peak_conns = 0
        self.reused_retry = 0
        self.host = f"127.0.0.1:{server.port}".encode()
        # the bodies are LINE's own shape: check one against webhook.yml once (not per send: too slow)
        validate_webhook(callback([text_event(self.texts[0], user_id=self.users[0])]))

    async def _connect(self) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open_conns += 1
        self.peak_conns = max(self.peak_conns, self.open_conns)
        return Conn(reader, writer)

    def _close(self, c: Conn) -> None:
        self.open_conns -= 1
        c.writer.close()

    def _take_idle(self) -> Conn | None:
        now = time.monotonic()
        while self.idle:
            c = self.idle.pop()           # LIFO: the hottest connection first; old ones age out
            if now - c.used < self.IDLE_REUSE and not c.writer.is_closing() and not c.reader.at_eof():
                return c
            self._close(c)
        return None

    async def _exchange(self, c: Conn, request: bytes) -> tuple[int, bool]:
        """Send one request and read the answer; returns (status, keep the connection)."""
        c.writer.write(request)
        line = await c.reader.readline()
        if not line:
            raise ConnectionResetError("connection closed before the status line")
        status = int(line.split(None, 2)[1])
        length, keep = 0, True
        while True:
            h = await c.reader.readline()
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise ConnectionResetError("connection closed in the headers")
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        if length:
            await c.reader.readexactly(length)
        return status, keep

    async def _send(self, s: Sent, request: bytes) -> None:
        c: Conn | None = None
        try:
            # the timeout runs from the schedule, including any wait for a free connection slot
            async with asyncio.timeout_at(s.origin + self.timeout):
                async with self.sem:
                    s.written_at = time.monotonic()
                    c = self._take_idle()
                    reused = c is not None
                    while True:
                        if c is None:
                            c = await self._connect()
                        try:
                            status, keep = await self._exchange(c, request)
                            break
                        except (ConnectionError, asyncio.IncompleteReadError, OSError):
                            self._close(c)
                            c = None
                            if not reused:
                                raise
                            # a kept-alive connection the server had just closed: try once on a fresh one
                            reused = False
                            self.reused_retry += 1
                    s.status, s.latency = status, time.monotonic() - s.origin
                    c.used = time.monotonic()
                    if keep:
                        self.idle.append(c)
                    else:
                        self._close(c)
                    c = None
        except TimeoutError:
            s.error = "timeout"
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            s.error = type(exc).__name__
        except Exception as exc:   # never let one request stop the run
            s.error = f"{type(exc).__name__}: {exc}"
        finally:
            if c is not None:      # cut off mid-exchange: the connection cannot be reused
                self._close(c)

    def _request(self, i: int, sched: float) -> tuple[Sent, bytes]:
        user = self.users[i % len(self.users)]
        text = self.texts[(i // len(self.users) + i) % len(self.texts)]
        event = text_event(text, user_id=user)     # fresh: timestamp now, new ULID, new reply token
        self.fake.issue_reply_token(event["replyToken"], user_id=user)
        raw = dumps(callback([event]))
        head = (b"POST /line/webhook HTTP/1.1\r\nHost: " + self.host +
                b"\r\nContent-Type: application/json; charset=utf-8\r\nUser-Agent: LineBotWebhook/2.0"
                b"\r\nX-Line-Signature: " + sign(raw, SECRET).encode() +
                b"\r\nContent-Length: " + str(len(raw)).encode() + b"\r\n\r\n")
        eid = event["webhookEventId"]
        return Sent(i, sched, eid, event["replyToken"], retry_key("line:" + eid)), head + raw

    async def run(self, rate: float, duration: float, on_tick=None) -> tuple[float, float]:
        """Send ``rate × duration`` webhooks on schedule into ``self.sent``; returns (start, end of the last send)."""
        n = int(round(rate * duration))
        interval = 1.0 / rate
        tasks: set[asyncio.Task] = set()
        self.sent = []
        self.sem = asyncio.Semaphore(self.max_conns)
        start = time.monotonic() + 0.2
        for i in range(n):
            sched = start + i * interval
            now = time.monotonic()
            if sched - now > self.EARLY:
                # the loop wakes up to ~1 ms late; wake a little early and never measure from before the send
                await asyncio.sleep(sched - now - self.EARLY)
            if on_tick is not None:
                on_tick(sched - start)
            s, request = self._request(i, sched)
            s.sent_at = time.monotonic()
            s.lag = s.sent_at - sched
            self.sent.append(s)
            t = asyncio.create_task(self._send(s, request))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        end = time.monotonic()
        if tasks:
            await asyncio.wait(tasks)
        while self.idle:
            self._close(self.idle.pop())
        return start, end


# ------------------------------------------------------------------------------------ analysis

def match_deliveries(fake: FakeLine, sent: list[Sent]) -> dict:
    """Map the fake's reply/push calls to events: delivered ones (200) and every call (for the examples)."""
    by_token = {s.reply_token: s.index for s in sent}
    by_key = {s.retry_key: s.index for s in sent}
    delivered: dict[int, list[float]] = {}
    history: dict[int, list[tuple[str, int, float]]] = {}
    calls = Counter()
    unmatched = 0
    for d in fake.deliveries:
        calls[f"{d.kind} {d.status}"] += 1
        idx = by_token.get(d.reply_token) if d.kind == "reply" else by_key.get(d.retry_key)
        if idx is None:
            unmatched += d.delivered
            continue
        history.setdefault(idx, []).append((d.kind, d.status, d.received_at))
        if d.delivered:
            delivered.setdefault(idx, []).append(d.received_at)
    return {"delivered": delivered, "history": history, "calls": dict(sorted(calls.items())),
            "unmatched": unmatched}


def example(s: Sent, history: list[tuple[str, int, float]]) -> str:
    """One event's LINE calls, times relative to its webhook: 'reply 500 @0.01s, reply 400 @1.2s, push 200 @1.3s'."""
    calls = ", ".join(f"{k} {st} @{t - s.origin:.2f}s" for k, st, t in sorted(history, key=lambda h: h[2]))
    return f"{s.event_id} (sent at {s.sched - EPOCH[0]:.2f}s): {calls or 'no call'}"


EPOCH = [0.0]   # monotonic start of the measured run (for the examples)


def db_breakdown(server: Server, sent: list[Sent], lost: list[int]) -> dict:
    """Server-side stages from its store: webhook stored -> processed -> delivered, and where lost ones are."""
    try:
        from bot.storage import open_store   # the served checkout's (sys.path); older ones have no bot.storage
        store = open_store(server.db, server.hash_key.encode())
        inbox, outbox = store.inbox(), store.outbox()
        store.close()
    except Exception as exc:  # noqa: BLE001 - the report says why the breakdown is missing, the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"}
    ours = {"line:" + s.event_id for s in sent}
    info = {r["event_id"]: r for r in inbox if r["event_id"] in ours}
    first = {o["event_id"]: o for o in outbox if o["seq"] == 0}
    process, deliver = [], []
    attempts: Counter = Counter()
    kinds: Counter = Counter()
    for event_id, r in info.items():
        if r["received_at"] and r["done_at"]:
            process.append(r["done_at"] - r["received_at"])
        o = first.get(event_id)
        if o and o["created_at"] and o["sent_at"] and o["status"] == "sent":
            deliver.append(o["sent_at"] - o["created_at"])
            attempts[o["attempts"]] += 1
            kinds[o["sent_kind"]] += 1
    where: Counter = Counter()
    for idx in lost:
        event_id = "line:" + sent[idx].event_id
        r, o = info.get(event_id), first.get(event_id)
        if r is None:
            where["not in inbox"] += 1
        elif o is None:
            where[f"inbox {r['status']}, no outbox row"] += 1
        else:
            where[f"outbox {o['status']} ({o['last_error'] or ''})"] += 1
    return {"stored_to_processed": dist_ms(process), "processed_to_sent": dist_ms(deliver),
            "send_attempts": dict(sorted(attempts.items())), "sent_kind": dict(kinds), "lost_where": dict(where),
            "inbox_rows": len(info)}


def wait_answered(fake: FakeLine, server: Server, accepted: list[Sent], timeout: float) -> float:
    """Wait until every accepted event has a delivered answer and the server's queues are empty."""
    t0 = time.monotonic()
    while True:
        delivered = match_deliveries(fake, accepted)["delivered"]
        missing = sum(1 for s in accepted if s.index not in delivered)
        h = server.health()
        queued = h.get("inbox", 0) + h.get("outbox", 0) if h else None
        if (missing == 0 and queued == 0) or time.monotonic() - t0 > timeout:
            return time.monotonic() - t0
        time.sleep(0.5)


# ------------------------------------------------------------------------------------ reload timing

#: Edits timed by ``--reload``: (label, file under the copy, text appended).  A comment changes the
#: files' version (so everything is loaded, validated and judged again) without changing any answer.
RELOAD_EDITS = (("reply file edited", "responses/replies/tenken.yml", "\n# bench {n}\n"),
                ("intent file edited", "intents/tenken.yml", "\n# bench {n}\n"))


def _versions(server: Server, workers: int, tries: int = 60) -> dict[int, tuple[str, str]]:
    """(knowledge version, reload status) of each worker, told apart by pid (several /healthz calls)."""
    seen: dict[int, tuple[str, str]] = {}
    for _ in range(tries):
        h = server.health()
        if h:
            seen[h["pid"]] = (h["knowledge"], (h.get("reload") or {}).get("status"))
        if len(seen) >= workers:
            break
    return seen


def reload_bench(args, app_dir: Path) -> int:
    """Time what makes an edit live on a running server: a start with nothing kept, a start on unchanged
    files (what N workers and a SIGHUP do), and the hot reload of edits until every worker serves them."""
    tmp = Path(tempfile.mkdtemp(prefix="tsunagu-reload-"))
    shutil.copytree(app_dir / "intents", tmp / "intents")
    shutil.copytree(app_dir / "responses", tmp / "responses")
    cache = tmp / "cache"
    cache.mkdir()
    shared = Path(os.environ.get("TSUNAGU_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                  / "tsunagu")
    for dic in shared.glob("user-*.dic"):       # the Sudachi user dictionary is not what is measured
        shutil.copy(dic, cache / dic.name)
    env = {"TSUNAGU_INTENTS_DIR": str(tmp / "intents"), "TSUNAGU_RESPONSES_DIR": str(tmp / "responses"),
           "TSUNAGU_CACHE_DIR": str(cache), "TSUNAGU_RELOAD_INTERVAL": str(args.reload_interval),
           "TSUNAGU_LOG_FORMAT": "json"}
    fake = FakeLine(validate_responses=False).start()
    results: dict[str, list[float]] = {}
    try:
        for label in ("start, nothing kept", "start, unchanged files"):
            server = Server(tmp, fake, args.workers, args.threads, app_dir, env)
            try:
                t0 = time.monotonic()
                server.start(timeout=300)
                # every worker up (gunicorn answers as soon as the first one is)
                while len(_versions(server, args.workers)) < args.workers and time.monotonic() - t0 < 300:
                    time.sleep(0.1)
                results[label] = [time.monotonic() - t0]
            finally:
                server.stop()
        server = Server(tmp, fake, args.workers, args.threads, app_dir, env)
        server.start(timeout=300)
        try:
            for n in range(args.reload):
                label, rel, text = RELOAD_EDITS[n % len(RELOAD_EDITS)]
                before = {v for v, _ in _versions(server, args.workers).values()}
                with open(tmp / rel, "a", encoding="utf-8") as f:
                    f.write(text.format(n=n))
                t0 = time.monotonic()
                while time.monotonic() - t0 < 300:
                    seen = _versions(server, args.workers, tries=2 * args.workers)
                    if len(seen) >= args.workers and all(v not in before for v, _ in seen.values()):
                        break
                    time.sleep(0.05)
                else:
                    print(f"{label}: not live after 300 s", file=sys.stderr)
                results.setdefault(label, []).append(time.monotonic() - t0)
        finally:
            server.stop()
        replays = sum(line.count("items replayed on version") for line in
                      (tmp / "server.log").read_text(encoding="utf-8", errors="replace").splitlines())
    finally:
        fake.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntsunagu reload: workers {args.workers}, reload interval {args.reload_interval:g} s, app {app_dir}")
    for label, values in results.items():
        values = sorted(values)
        print(f"  {label:<24} median {values[len(values) // 2]:.1f} s   max {values[-1]:.1f} s   (n={len(values)})")
    print(f"  gate replays in the log: {replays} (one per new version of the files, whatever the workers)")
    if args.keep:
        print(f"  kept          {tmp}")
    if args.json:
        print(json.dumps({"reload": {k: [round(v, 2) for v in vs] for k, vs in results.items()},
                          "workers": args.workers, "gate_replays": replays}))
    return 0


# ------------------------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0, help="webhooks per second (default 100)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of sending (default 30)")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    ap.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (default 8)")
    ap.add_argument("--users", type=int, default=50, help="distinct LINE users (default 50)")
    ap.add_argument("--fault-ratio", type=float, default=0.0, help="share of LINE API calls the fake answers 500")
    ap.add_argument("--kill-at", type=float, help="SIGKILL the server group this many seconds in, then restart it")
    ap.add_argument("--drain", type=float, default=30.0, help="max seconds to wait for outstanding answers (30)")
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="seconds of webhooks (at up to 100/s, not counted) before the measured run (2)")
    ap.add_argument("--timeout", type=float, default=10.0, help="webhook answer timeout in seconds (10)")
    ap.add_argument("--max-conns", type=int, default=512, help="max open webhook connections (512)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="run the server from this checkout (e.g. a `git archive HEAD` copy); default: this repo")
    ap.add_argument("--validate-requests", action="store_true",
                    help="keep the fake's OpenAPI request validation on (costs ~1 ms CPU per LINE call here)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server.log)")
    ap.add_argument("--db", metavar="URL", help="a postgresql:// URL to an empty database (default: a temporary"
                                              " SQLite file)")
    ap.add_argument("--json", action="store_true", help="also print one JSON summary line")
    ap.add_argument("--reload", type=int, metavar="N", default=0,
                    help="instead of webhooks: time two starts and N hot reloads of edited files (all workers)")
    ap.add_argument("--reload-interval", type=float, default=0.5, help="TSUNAGU_RELOAD_INTERVAL for --reload (0.5)")
    args = ap.parse_args(argv)
    app_dir = args.app_dir.resolve()
    if args.reload:
        return reload_bench(args, app_dir)
    sys.path.insert(0, str(app_dir))
    global retry_key
    from bot.channels.line import retry_key   # the app's own derivation of X-Line-Retry-Key

    # This process runs the generator and the fake; keep GIL hand-overs short so neither side's
    # timing waits the default 5 ms switch interval for the other.
    sys.setswitchinterval(0.001)
    b0 = _machine_busy()
    time.sleep(1.0)
    b1 = _machine_busy()
    busy_before = round((b1[0] - b0[0]) / max(1, b1[1] - b0[1]) * 100)
    if busy_before > 10:
        print(f"warning: the machine was already {busy_before}% busy before the run; numbers will be off",
              file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="tsunagu-load-"))
    texts = load_texts()
    fake = FakeLine(validate_responses=False, validate_requests=args.validate_requests).start()
    server = Server(tmp, fake, args.workers, args.threads, app_dir, db=args.db)
    sampler = Sampler(server)
    kill_info: dict = {}
    try:
        boot = server.start()
        sampler.start()
        gen = Generator(fake, server, rate=args.rate, duration=args.duration, users=args.users, texts=texts,
                        timeout=args.timeout, max_conns=args.max_conns, seed=args.seed)

        def kill_and_restart() -> None:
            kill_info["killed_at"] = time.monotonic()
            server.kill()
            try:
                kill_info["restart_s"] = server.start()
            except RuntimeError as exc:
                kill_info["restart_error"] = str(exc)
                print(f"restart: {exc}", file=sys.stderr)
            kill_info["up_at"] = time.monotonic()

        def on_tick(elapsed: float) -> None:
            if args.kill_at is not None and "thread" not in kill_info and elapsed >= args.kill_at:
                kill_info["thread"] = threading.Thread(target=kill_and_restart, name="killer", daemon=True)
                kill_info["thread"].start()

        print(f"server up in {boot:.1f}s (workers {args.workers}, threads {args.threads}); "
              f"warm-up {args.warmup:g}s ...", file=sys.stderr)
        if args.warmup > 0:
            # cold caches (Sudachi, triage, SDK models) make the first answers slow: not what we measure
            asyncio.run(gen.run(min(args.rate, 100.0), args.warmup))
            warm = [s for s in gen.sent if s.status == 200]
            wait_answered(fake, server, warm, 30.0)
            fake.reset()
        if args.fault_ratio > 0:
            fake.fail_ratio(args.fault_ratio, 500, seed=args.seed)
        print(f"sending {args.rate:g}/s for {args.duration:g}s to {server.url} ...", file=sys.stderr)
        m0 = sampler.mark()
        EPOCH[0] = time.monotonic() + 0.2
        start, end = asyncio.run(gen.run(args.rate, args.duration, on_tick))
        EPOCH[0] = start
        m1 = sampler.mark()
        if "thread" in kill_info:
            kill_info["thread"].join(120)

        # -- drain: wait for every accepted event to be answered and the server's queues to empty
        sent = gen.sent
        accepted = [s for s in sent if s.status == 200]
        drained_in = wait_answered(fake, server, accepted, args.drain)
        time.sleep(1.0)    # anything still in flight would show up as a duplicate now
        h = server.health() or {}
        m2 = sampler.mark()
    finally:
        sampler.stop_event.set()
        server.stop()
        fake.stop()
    matched = match_deliveries(fake, sent)   # after the stop: whatever went out during shutdown counts too

    # -- numbers
    delivered = matched["delivered"]
    acc_idx = [s.index for s in accepted]
    lost = [i for i in acc_idx if i not in delivered]
    dup = [i for i in acc_idx if len(delivered.get(i, ())) > 1]
    errors = Counter(s.error or f"HTTP {s.status}" for s in sent if s.status != 200)
    answered_unaccepted = sum(1 for s in sent if s.status != 200 and s.index in delivered)
    webhook_lat = [s.latency for s in sent if s.status == 200]
    # the restart (kill .. up + 1 s) queues webhooks in the new master's listen backlog: also report without it
    down = (kill_info["killed_at"], kill_info.get("up_at", kill_info["killed_at"]) + 1.0) \
        if kill_info.get("killed_at") else None
    webhook_lat_steady = [s.latency for s in sent if s.status == 200 and not (down and down[0] <= s.sched <= down[1])]
    delivery_lat = [min(delivered[s.index]) - s.origin for s in accepted if s.index in delivered]
    send_wall = end - start
    cpu = {}
    dt1, dt2 = m1[4] - m0[4], m2[4] - m1[4]
    if dt1 > 0:
        cpu = {"server_cpu_pct": round((m1[0] - m0[0]) / CLK_TCK / dt1 * 100),
               "bench_cpu_pct": round((m1[1] - m0[1]) / CLK_TCK / dt1 * 100),
               "machine_busy_pct": round((m1[2] - m0[2]) / max(1, m1[3] - m0[3]) * 100),
               # everything else on the machine (other processes, kernel), in % of one core
               "other_cpu_pct": round(((m1[2] - m0[2]) / max(1, m1[3] - m0[3]) * os.cpu_count()
                                       - (m1[0] - m0[0] + m1[1] - m0[1]) / CLK_TCK / dt1) * 100),
               "server_cpu_pct_drain": round((m2[0] - m1[0]) / CLK_TCK / max(dt2, 1e-9) * 100),
               "machine_busy_pct_before": busy_before,
               "server_peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
               "server_procs": sampler.peak_procs}
    db = db_breakdown(server, sent, lost)
    summary = {
        "config": {"rate": args.rate, "duration": args.duration, "workers": args.workers, "threads": args.threads,
                   "users": args.users, "fault_ratio": args.fault_ratio, "kill_at": args.kill_at,
                   "drain": args.drain, "warmup": args.warmup, "validate_requests": args.validate_requests, "cpus": os.cpu_count(),
                   "app_dir": str(app_dir)},
        "sent": len(sent),
        "achieved_rate": round(len(sent) / send_wall, 1) if send_wall > 0 else None,
        "gen_lag": dist_ms([max(0.0, s.lag) for s in sent]),
        "conn_slot_wait": dist_ms([s.written_at - s.sent_at for s in sent if s.written_at]),
        "accepted": len(accepted),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "webhook_latency_ms": dist_ms(webhook_lat),
        "webhook_latency_ms_outside_restart": dist_ms(webhook_lat_steady) if down else None,
        "delivery_latency_ms": dist_ms(delivery_lat),
        "lost": len(lost),
        "duplicated": len(dup),
        "answered_though_not_accepted": answered_unaccepted,
        "unmatched_deliveries": matched["unmatched"],
        "duplicated_examples": [example(sent[i], matched["history"].get(i, [])) for i in dup[:5]],
        "lost_examples": [example(sent[i], matched["history"].get(i, [])) for i in lost[:5]],
        "line_calls": matched["calls"],
        "drained_in_s": round(drained_in, 1),
        "queued_at_end": (h.get("inbox"), h.get("outbox")) if h else None,
        "peak_webhook_conns": gen.peak_conns,
        "reused_conn_retries": gen.reused_retry,
        "server": cpu,
        "server_stages_ms": db,
    }
    if kill_info.get("killed_at"):
        summary["kill"] = {"at_s": round(kill_info["killed_at"] - start, 1),
                           "restart_s": round(kill_info["restart_s"], 1) if "restart_s" in kill_info else None,
                           "restart_error": kill_info.get("restart_error")}

    c = summary["config"]
    kill = f", SIGKILL at {c['kill_at']:g}s" if c["kill_at"] is not None else ""
    print(f"\ntsunagu load: {c['rate']:g}/s x {c['duration']:g}s, workers {c['workers']} x threads {c['threads']},"
          f" {c['users']} users, fault ratio {c['fault_ratio']:g}{kill}")
    print(f"  sent          {summary['sent']} at {summary['achieved_rate']}/s  (gen lag {fmt_dist(summary['gen_lag'])})")
    print(f"  accepted      {summary['accepted']}   errors {summary['errors']} {summary['error_kinds'] or ''}")
    print(f"  webhook       {fmt_dist(summary['webhook_latency_ms'])}")
    if down:
        print(f"  webhook*      {fmt_dist(summary['webhook_latency_ms_outside_restart'])}"
              f"  (* without sends from the kill to 1 s after the restart)")
    print(f"  delivery      {fmt_dist(summary['delivery_latency_ms'])}")
    print(f"  lost          {summary['lost']}   duplicated {summary['duplicated']}   "
          f"(answered though not accepted: {answered_unaccepted}; unmatched calls: {matched['unmatched']})")
    print(f"  LINE calls    {summary['line_calls']}")
    print(f"  drain         {summary['drained_in_s']}s, queued at end (inbox, outbox) {summary['queued_at_end']}")
    if "kill" in summary:
        print(f"  kill          at {summary['kill']['at_s']}s, back up after {summary['kill']['restart_s']}s")
    if cpu:
        print(f"  CPU           server {cpu['server_cpu_pct']}% , bench (generator + fake) {cpu['bench_cpu_pct']}%,"
              f" other {cpu['other_cpu_pct']}%; machine busy {cpu['machine_busy_pct']}% of {os.cpu_count()} cores"
              f" ({busy_before}% before); server during drain "
              f"{cpu['server_cpu_pct_drain']}%; server RSS peak {cpu['server_peak_rss_mb']} MB"
              f" ({cpu['server_procs']} processes)")
    if "stored_to_processed" in db:
        print(f"  server stages stored->processed {fmt_dist(db['stored_to_processed'])}")
        print(f"                processed->sent   {fmt_dist(db['processed_to_sent'])}")
        print(f"                send attempts {db['send_attempts']}  kinds {db['sent_kind']}")
    if db.get("lost_where"):
        print(f"  lost where    {db['lost_where']}")
    for label, idxs in (("duplicated", dup), ("lost", lost)):
        for i in idxs[:5]:
            print(f"  {label:<13} {example(sent[i], matched['history'].get(i, []))}")
    print(f"  connections   peak {gen.peak_conns}, stale keep-alive retries {gen.reused_retry}; wait for a slot "
          f"{fmt_dist(summary['conn_slot_wait'])}")
    if args.keep:
        print(f"  kept          {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
