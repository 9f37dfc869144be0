"""The /try page: who may open it, the API's answers to good and bad input, and a real browser."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.config import Settings
from bot.web import create_app

CONSUMER = "無料点検と言われて屋根の工事を契約した"
DANGER = "今、息子が包丁を振り回して暴れています"
#: Debian's chromium must start with these (and a new empty profile) on a machine with a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_app(settings: Settings, version, tmp_path, *, try_page: bool = False) -> Flask:
    return create_app(replace(settings, db_path=tmp_path / "tsunagu.db", try_page=try_page), version=version,
                      start_worker=False)


@pytest.fixture
def client(settings, live_version, tmp_path):
    return make_app(settings, live_version, tmp_path).test_client()


def ask(client, payload: dict):
    response = client.post("/try/api", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- who may open it ------------------------------------------------------------------------------

@pytest.mark.parametrize("addr, headers, enabled, status", [
    ("127.0.0.1", {}, False, 200),
    ("::1", {}, False, 200),
    ("203.0.113.5", {}, False, 404),
    ("192.168.1.10", {}, False, 404),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, False, 404),  # through a reverse proxy on this machine
    ("203.0.113.5", {}, True, 200),
])
def test_only_this_machine_unless_enabled(settings, live_version, tmp_path, addr, headers, enabled, status):
    client = make_app(settings, live_version, tmp_path, try_page=enabled).test_client()
    environ = {"REMOTE_ADDR": addr}
    assert client.get("/try", environ_base=environ, headers=headers).status_code == status
    assert client.post("/try/api", json={"text": CONSUMER}, environ_base=environ,
                       headers=headers).status_code == status


@pytest.mark.parametrize("env, expected", [({}, False), ({"TSUNAGU_TRY_PAGE": "1"}, True),
                                           ({"TSUNAGU_TRY_PAGE": "0"}, False)])
def test_setting_from_env(env, expected):
    assert Settings.from_env(env).try_page is expected


# -- the page --------------------------------------------------------------------------------------

def test_page_is_self_contained_japanese_html(client):
    response = client.get("/try")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="ja">' in html and "相談の文章" in html and 'data-api="/try/api"' in html
    assert not re.search(r"(src|href)=|https?://|@import|url\(", html), "no external assets"
    nonce = re.search(r'<script nonce="([^"]+)">', html).group(1)
    csp = response.headers["Content-Security-Policy"]
    assert f"script-src 'nonce-{nonce}'" in csp and "default-src 'none'" in csp
    assert "textContent" in html and "innerHTML" not in html


# -- the API ---------------------------------------------------------------------------------------

def test_consumer_message_goes_to_the_consumer_centre_first(client):
    data = ask(client, {"text": CONSUMER})
    assert data["kind"] == "answer"
    assert data["intent"] == "tenken" and data["urgency"] == "normal"
    assert data["contacts"][0] == "consumer_center"
    assert data["line"][0] == {"type": "text", "text": data["reply"]}
    card = data["line"][1]
    assert card["type"] == "flex" and "tel:188" in str(card)
    assert "☎" not in data["reply"]               # the windows are in the card, not listed in the text
    x = data["explanation"]
    assert x["intent"] == "tenken" and x["contacts"][0] == "consumer_center"
    top = x["scores"][0]
    assert top["intent"] == "tenken" and top["fired"] and top["score"] >= top["threshold"]
    assert top["model"] == max(s["model"] for s in x["scores"]) > 0.5   # what the examples taught, beside the keywords
    assert {"text": "無料点検", "detail": "", "weight": 3.0} in top["keywords"]
    assert any(r["kind"] == "contacts" for r in x["rules"])
    assert [t["surface"] for t in x["tokens"]][:2] == ["無料", "点検"]


def test_danger_message_says_110_on_the_first_line(client):
    data = ask(client, {"text": DANGER})
    assert data["intent"] == "danger_violence" and data["urgency"] == "emergency"
    assert "110" in data["reply"].splitlines()[0]
    assert data["contacts"][0] == "emergency_110"
    assert any(r["kind"] == "danger" for r in data["explanation"]["rules"])


def test_area_gives_the_local_window(client):
    data = ask(client, {"text": CONSUMER, "area": "札幌市"})
    assert data["area"]["municipality"] == "札幌市"
    assert "札幌市消費者センター" in str(data["line"][1])
    assert data["explanation"]["intent"] == "tenken"


@pytest.mark.parametrize("text", ["", "   \n", "あ" * 10_000, CONSUMER * 400, "😀🙏👨‍👩‍👧", "\x00\u202e\ud800abc",
                                  "<script>alert(1)</script>", "最初から"])
def test_odd_text_gets_a_sane_answer(client, text):
    data = ask(client, {"text": text})
    assert data["reply"].strip()
    assert data["line"][0]["type"] == "text" and len(data["line"][0]["text"]) <= 5000
    assert isinstance(data["explanation"]["tokens"], list)


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "JSON"),
    (b"\xff\xfe\x00", 400, "JSON"),
    (b"", 400, "JSON"),
    (b'["text"]', 400, '"text"'),
    (b'{"message": "hi"}', 400, '"text"'),
    (b'{"text": 42}', 400, '"text"'),
    (b'{"text": "hi", "area": 1}', 400, '"area"'),
    ('{"text": "hi", "area": "どこでもない"}'.encode(), 400, "地域"),
    (b'{"text": "' + b"a" * (1024 * 1024) + b'"}', 413, "1 MB"),
])
def test_bad_bodies_get_a_clear_error_not_a_500(client, body, status, words):
    response = client.post("/try/api", data=body, content_type="application/json")
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_message_text_is_not_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "山田花子さんの口座番号は1234567"
    ask(client, {"text": secret})
    assert "山田" not in caplog.text and "1234567" not in caplog.text


# -- a real browser --------------------------------------------------------------------------------

@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app under werkzeug's WSGI server on a free localhost port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def send(page, text: str, count: int) -> None:
    page.fill("#text", text)
    page.click("#send")
    page.wait_for_selector(f'body[data-answered="{count}"]', timeout=30_000)
    assert "error" not in (page.get_attribute("#status", "class") or ""), page.inner_text("#status")


def test_try_page_in_headless_chromium(settings, live_version, tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium binary on PATH (CI installs Debian's: apt-get install -y chromium chromium-driver)")
    from playwright.sync_api import expect, sync_playwright

    shots = {name: tmp_path / f"try-{name}.png" for name in ("danger", "consumer")}
    problems: list[str] = []
    with serving(make_app(settings, live_version, tmp_path)) as url, sync_playwright() as pw:
        # launch_persistent_context: Playwright refuses --user-data-dir in args; this is the new empty profile
        browser = pw.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, locale="ja-JP")
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(url + "/try")

            send(page, DANGER, 1)
            reply = page.locator("#line .bubble").first
            assert "110" in reply.inner_text().splitlines()[0]
            expect(page.locator("#x-intent")).to_contain_text("danger_violence")
            expect(page.locator("#x-urgency")).to_contain_text("emergency")
            expect(page.locator('#line a.call[href="tel:110"]')).to_be_visible()
            page.screenshot(path=shots["danger"], full_page=True)

            send(page, CONSUMER, 2)
            expect(page.locator("#line .bubble").first).to_contain_text("クーリング・オフ")
            expect(page.locator("#line .bubble").nth(1)).to_contain_text("188")     # the windows card
            expect(page.locator('#line a.call[href="tel:188"]')).to_be_visible()
            expect(page.locator("#x-contacts")).to_contain_text("consumer_center")
            expect(page.locator("#x-scores tr.fired").first).to_contain_text("無料点検")
            page.screenshot(path=shots["consumer"], full_page=True)

            send(page, '<img src=x onerror="window.pwned=1">', 3)
            expect(page.locator("#x-tokens")).to_contain_text("<")
            assert page.locator("#result img").count() == 0
            assert page.evaluate("window.pwned") is None
        finally:
            browser.close()
    assert not problems, problems
    with capsys.disabled():
        print("\n/try screenshots (headless Chromium): " + ", ".join(str(p) for p in shots.values()))
    assert all(p.stat().st_size > 10_000 for p in shots.values())
