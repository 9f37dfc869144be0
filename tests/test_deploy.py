"""deploy/ as an operator uses it: the gunicorn config, the systemd units, nginx with HTTPS,
the container files and .env.example — each run for real where this machine allows.

- gunicorn: ``tsunagu serve --config deploy/gunicorn.conf.py`` and plain ``gunicorn -c`` serve
  /healthz and /metrics; SIGHUP replaces the workers without a failed request; SIGTERM stops
  cleanly.
- systemd: ``systemd-analyze verify`` on the units (paths pointed at this checkout), and the
  unit's own ExecStart line, with its Environment= lines, starts a working server.
- nginx (installed by .ci/run): the shipped site config, with a self-signed certificate, in
  front of the server: a signed LINE webhook over HTTPS is answered; /healthz, /metrics and /try
  are not reachable from outside; plain HTTP redirects; bodies over 1 MB are refused; no nginx
  version is shown; HTTPS answers carry HSTS.
- Docker is not running here: the Dockerfile and compose file are checked statically.
"""

from __future__ import annotations

import http.client
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from fakes.line_api import FakeLine
from fakes.line_webhook import callback, post_signed, text_event
from servers import ServerProcess, free_port, get, until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONF = DEPLOY / "gunicorn.conf.py"
VENV_BIN = Path(sys.executable).parent


def _pids(server: ServerProcess, n: int = 2) -> set[int]:
    seen: set[int] = set()
    until(lambda: seen.add(server.health()["pid"]) or len(seen) >= n, 30, what=f"{n} workers")
    return seen


def _metrics_dir(log: str) -> Path:
    m = re.search(r'"msg": "metrics directory ([^"]+)"', log)
    assert m, "the server says where its shared metrics live"
    return Path(m.group(1))


# -- gunicorn --------------------------------------------------------------------------------------
def test_shipped_gunicorn_config_serves_reloads_gracefully_and_stops_cleanly(tmp_path):
    server = ServerProcess(tmp_path, {"TSUNAGU_WORKERS": "2", "TSUNAGU_THREADS": "4", "PROMETHEUS_MULTIPROC_DIR": ""},
                           config=CONF)
    with server:
        status, body, _ = get(server.url + "/healthz")
        assert status == 200 and b'"status":"ok"' in body
        assert get(server.url + "/metrics")[0] == 200
        before = _pids(server)
        metrics_dir = _metrics_dir(server.log())
        assert metrics_dir.is_dir()

        failures: list[str] = []
        stop = threading.Event()

        def traffic():
            while not stop.is_set():
                try:
                    if get(server.url + "/healthz", timeout=10)[0] != 200:
                        failures.append("status")
                except OSError as exc:
                    failures.append(repr(exc))

        t = threading.Thread(target=traffic)
        t.start()
        try:
            server.proc.send_signal(signal.SIGHUP)          # what `systemctl reload tsunagu` sends
            after: set[int] = set()
            until(lambda: after.add(server.health()["pid"]) or len(after - before) >= 2, 60,
                  what="two new workers after SIGHUP")
            time.sleep(0.5)
        finally:
            stop.set()
            t.join()
        assert failures == []
        assert server.stop() == 0
    assert not metrics_dir.exists(), "the temporary metrics directory is removed at exit"


def test_plain_gunicorn_with_the_shipped_config(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "--bind", f"127.0.0.1:{port}"]
    with ServerProcess(tmp_path, {"TSUNAGU_WORKERS": "1"}, command=command, port=port) as server:
        assert server.health()["status"] == "ok"
        status, body, _ = get(server.url + "/metrics")
        assert status == 200 and b"tsunagu_inbox_depth" in body


def test_shipped_config_takes_its_settings_from_the_environment(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(CONF), "--print-config"],
                         env={"PATH": "/usr/bin:/bin", "TSUNAGU_WORKERS": "3", "TSUNAGU_TIMEOUT": "45",
                              "TSUNAGU_LOG_FORMAT": "text", "TSUNAGU_DB": str(tmp_path / "t.db"),
                              "TSUNAGU_CACHE_DIR": str(tmp_path / "cache")},
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", out.stdout, re.M))
    assert settings["workers"] == "3" and settings["timeout"] == "45" and settings["worker_class"] == "gthread"
    assert settings["wsgi_app"] == "bot.web:create_app()"
    assert "TextFormatter" in settings["logconfig_dict"]


# -- systemd ---------------------------------------------------------------------------------------
def _render_unit(name: str, tmp: Path) -> Path:
    text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
    text = text.replace("/opt/tsunagu/.venv/bin/", f"{VENV_BIN}/").replace("/opt/tsunagu", str(ROOT))
    text = text.replace("/etc/tsunagu/tsunagu.env", str(tmp / "tsunagu.env"))
    (tmp / "tsunagu.env").write_text((DEPLOY / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp / name
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path):
    units = [_render_unit(n, tmp_path) for n in ("tsunagu.service", "tsunagu-backup.service",
                                                 "tsunagu-backup.timer")]
    out = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True,
                         timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "tsunagu" in line]
    assert out.returncode == 0 and problems == [], out.stdout + out.stderr


def _unit(path: Path) -> tuple[list[str], dict[str, str]]:
    command, env = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            command = shlex.split(line.removeprefix("ExecStart="))
        elif line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    return command, env


def test_the_units_own_command_and_environment_run_the_bot(tmp_path):
    command, env = _unit(_render_unit("tsunagu.service", tmp_path))
    assert command[1:3] == ["serve", "--host"] and "--config" in command
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    # the unit's state, cache and runtime directories, moved under tmp_path
    env = {k: v.replace("/var/lib/tsunagu", str(tmp_path / "state")).replace("/var/cache/tsunagu",
           str(tmp_path / "cache")).replace("/run/tsunagu", str(tmp_path / "run")) for k, v in env.items()}
    assert set(env) == {"TSUNAGU_DB", "TSUNAGU_CACHE_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    (tmp_path / "state").mkdir()
    with ServerProcess(tmp_path, env, command=command, port=port) as server:
        assert server.health()["status"] == "ok"
        assert (tmp_path / "state" / "tsunagu.db").exists()
        assert get(server.url + "/metrics")[0] == 200
        assert list((tmp_path / "run" / "metrics").glob("*.db")), "workers share metrics in the runtime dir"


# -- nginx -----------------------------------------------------------------------------------------
def _certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "fullchain.pem", tmp / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=bot.example.jp", "-addext", "subjectAltName=DNS:bot.example.jp,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def nginx(tmp_path):
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed (.ci/run installs them)")
    cert, key = _certificate(tmp_path)
    https, http, upstream = free_port(), free_port(), free_port()
    site = (DEPLOY / "nginx" / "tsunagu.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/bot.example.jp/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/bot.example.jp/privkey.pem", str(key))
    site = site.replace("/etc/nginx/tsunagu_proxy.conf", str(DEPLOY / "nginx" / "tsunagu_proxy.conf"))
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")
    site = re.sub(r"listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;", site)
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http};", site)
    site = re.sub(r"\s*listen \[::\]:\d+( ssl)?;", "", site)
    site = site.replace("/var/www/letsencrypt", str(tmp_path))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    main = f"""
        worker_processes 1;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/nginx-error.log warn;
        events {{ worker_connections 256; }}
        http {{
            client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi; uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
            include {tmp_path}/site.conf;
        }}
    """
    (tmp_path / "nginx.conf").write_text(main, encoding="utf-8")
    check = subprocess.run([binary, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                            stderr=subprocess.DEVNULL)
    try:
        yield {"https": f"https://127.0.0.1:{https}", "http": f"http://127.0.0.1:{http}", "upstream": upstream,
               "ca": cert}
    finally:
        proc.terminate()
        proc.wait(10)


def _https(url: str, ca: Path, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca))
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_nginx_example_terminates_https_for_the_webhooks_and_hides_the_rest(tmp_path, nginx):
    with FakeLine() as line:
        env = {"LINE_CHANNEL_SECRET": "nginx-secret", "LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
               "LINE_API_BASE_URL": line.url}
        port = nginx["upstream"]
        command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--config",
                   str(CONF)]
        with ServerProcess(tmp_path, {**env, "TSUNAGU_WORKERS": "1"}, command=command, port=port):
            base, ca = nginx["https"], nginx["ca"]
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200     # on the server itself
            for hidden in ("/healthz", "/metrics", "/try", "/try/api", "/"):
                assert _https(base + hidden, ca)[0] == 404, hidden

            event = text_event("訪問販売で布団を買わされました")
            line.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
            ctx = ssl.create_default_context(cafile=str(ca))
            opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
            urllib.request.install_opener(opener)
            try:
                assert post_signed(base + "/line/webhook", callback([event]), "nginx-secret").status == 200
                assert post_signed(base + "/line/webhook", callback([text_event("x")]), "nginx-secret",
                                   tamper="signature").status == 400
            finally:
                urllib.request.install_opener(urllib.request.build_opener())
            until(lambda: any(d.reply_token == event["replyToken"] for d in line.delivered()), 30,
                  what="the answer through nginx")

            big = b'{"events": [], "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
            assert _https(base + "/line/webhook", ca, big, {"Content-Type": "application/json",
                                                            "X-Line-Signature": "x"})[0] == 413

            req = urllib.request.Request(nginx["http"] + "/line/webhook", method="GET")
            opener = urllib.request.build_opener(_NoRedirect)
            try:
                opener.open(req, timeout=5)
                raise AssertionError("plain HTTP must redirect")
            except urllib.error.HTTPError as e:
                assert e.code == 301 and e.headers["Location"].startswith("https://")


def _https_head(url: str, ca: Path) -> tuple[int, dict, bytes]:
    """GET over HTTPS: status, headers (lower-case names) and body, without raising on 4xx."""
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_nginx_hides_its_version_and_health_and_sends_hsts(tmp_path, nginx):
    """issue 11: /healthz was public, the Server header named the nginx version, no HSTS."""
    port = nginx["upstream"]
    command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--config",
               str(CONF)]
    with ServerProcess(tmp_path, {"TSUNAGU_WORKERS": "1"}, command=command, port=port):
        status, headers, body = _https_head(nginx["https"] + "/healthz", nginx["ca"])
        assert status in (403, 404) and b"knowledge" not in body
        for path in ("/healthz", "/line/webhook", "/nothing-here"):
            status, headers, body = _https_head(nginx["https"] + path, nginx["ca"])
            assert headers.get("server") == "nginx", (path, headers.get("server"))
            assert not re.search(rb"nginx/\d", body), path
            assert headers.get("strict-transport-security") == "max-age=31536000", (path, status)
        plain = http.client.HTTPConnection(nginx["http"].removeprefix("http://"), timeout=10)
        plain.request("GET", "/line/webhook")
        redirect = plain.getresponse()
        assert redirect.status == 301 and redirect.getheader("Server") == "nginx"
        assert not re.search(rb"nginx/\d", redirect.read())
        plain.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# -- containers (static: no Docker daemon here) ----------------------------------------------------
def test_dockerfile_and_compose_point_at_real_files():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for src in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / src).exists(), src
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert "/app/deploy/gunicorn.conf.py" in cmd and '"0.0.0.0"' in cmd
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the container does not run as root"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["tsunagu"]
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert service["ports"] == ["127.0.0.1:8000:8000"], "only nginx on the host reaches the bot"
    for volume in service["volumes"]:
        source = volume.split(":")[0]
        assert source in compose["volumes"] or (DEPLOY / source).resolve().is_dir(), volume


# -- settings ----------------------------------------------------------------------------------------
def _settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    sources = [*ROOT.joinpath("bot").rglob("*.py"), CONF]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"""(?:environ|env)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""path\(\s*["']([A-Z][A-Z0-9_]+)["']""", text))
    return names - {"XDG_CACHE_HOME"}


def test_env_example_and_readme_list_every_setting():
    names = _settings_read_by_the_code()
    assert {"LINE_CHANNEL_SECRET", "TSUNAGU_DB", "TSUNAGU_RETENTION_DAYS", "TSUNAGU_WORKERS"} <= names
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.M))
    assert names - listed == set(), "missing from deploy/.env.example"
    assert listed - names == set(), "deploy/.env.example lists settings nothing reads"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [n for n in sorted(names) if f"`{n}`" not in readme] == [], "missing from README's configuration"


def test_slack_manifest_matches_what_the_app_handles():
    manifest = yaml.safe_load((DEPLOY / "slack-app-manifest.yml").read_text(encoding="utf-8"))
    source = "\n".join(f.read_text(encoding="utf-8")
                       for f in sorted((ROOT / "bot" / "channels" / "slack").glob("*.py")))
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/tsunagu"] and all(f'"{c}"' in source for c in commands)
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
    assert "app_mention" in source
    urls = {manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"],
            manifest["features"]["slash_commands"][0]["url"]}
    assert urls == {"https://bot.example.jp/slack/events"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"app_mentions:read", "chat:write", "commands"}


def test_alert_rules_use_metrics_the_bot_exports():
    from bot import metrics

    exported = set()
    for collector in (metrics.REQUESTS, metrics.TRIAGE_SECONDS, metrics.DECISIONS, metrics.EMERGENCIES,
                      metrics.DELIVERIES, metrics.RETRIES, metrics.FAILURES, metrics.DELIVERY_SECONDS,
                      metrics.RELOADS, metrics.ESCALATIONS):
        for family in collector.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}[family.type]
            exported |= {family.name + suffix for suffix in suffixes}
    exported |= {"tsunagu_inbox_depth", "tsunagu_outbox_depth", "up"}
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    used = {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"\b(tsunagu_\w+|up)\b", rule["expr"])}
    assert len(used) >= 6 and used - exported == set()


def test_the_postgresql_compose_file_runs_two_instances_on_one_database_behind_nginx():
    """Static (no Docker here): two app instances from one definition, the same database URL and
    hashing key, started once PostgreSQL is healthy; nginx balances over exactly those two."""
    compose = yaml.safe_load((DEPLOY / "compose.postgres.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    apps = {name: s for name, s in services.items() if s.get("image") == "tsunagu:latest"}
    assert sorted(apps) == ["app-a", "app-b"] and apps["app-a"] == apps["app-b"]
    app = apps["app-a"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert app["environment"]["TSUNAGU_DB"].startswith("postgresql://") and "@postgres:5432/" in app["environment"]["TSUNAGU_DB"]
    assert app["environment"]["TSUNAGU_HASH_KEY_FILE"] == "/run/secrets/" + app["secrets"][0]
    assert compose["secrets"][app["secrets"][0]]["file"].startswith("./secrets/")
    assert subprocess.run(["git", "check-ignore", "--no-index", "-q", "deploy/secrets/hash_key"], cwd=ROOT).returncode == 0
    assert app["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "ports" not in app, "only nginx is reachable from outside"
    nginx = services["nginx"]
    assert nginx["depends_on"] == {name: {"condition": "service_healthy"} for name in apps}
    mounts = {v.split(":")[1]: v.split(":")[0] for v in nginx["volumes"]}
    conf = (DEPLOY / mounts["/etc/nginx/conf.d/default.conf"]).resolve()
    assert (DEPLOY / mounts["/etc/nginx/tsunagu_proxy.conf"]).resolve() == DEPLOY / "nginx" / "tsunagu_proxy.conf"
    text = conf.read_text(encoding="utf-8")
    upstream = re.search(r"upstream tsunagu \{(.*?)\}", text, re.S).group(1)
    assert sorted(re.findall(r"server ([\w-]+):8000", upstream)) == sorted(apps)


def test_the_compose_site_is_the_documented_site():
    """compose.conf differs from tsunagu.conf only in what comes before the site (its upstream)."""
    single = (DEPLOY / "nginx" / "tsunagu.conf").read_text(encoding="utf-8")
    double = (DEPLOY / "nginx" / "compose.conf").read_text(encoding="utf-8")

    def site(text: str) -> str:
        return text[text.index("}", text.index("upstream tsunagu {")) + 1:]

    assert site(double) == site(single)
