"""The command line: the public contract of DESIGN.md."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings

NOW = ["--now", "2026-11-27T10:00"]


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_triage_prints_the_reply():
    r = run("triage", *NOW, "無料点検と言われて屋根の工事を契約した")
    assert r.exit_code == 0
    assert "相談" in r.output


def test_triage_json_has_the_documented_keys():
    r = run("triage", "--json", *NOW, "〒060-0001 訪問販売で布団を買わされた")
    data = json.loads(r.output)
    assert {"intent", "urgency", "contacts", "area", "reply"} <= data.keys()
    assert data["contacts"][0] == "consumer_center"
    assert data["area"] == {"pref": "北海道", "municipality": "札幌市中央区", "code": "01101"}


def test_jsonl_answers_every_line_in_order():
    lines = ["今、息子が包丁を振り回して暴れています", "", json.dumps({"text": "ひきこもり"}, ensure_ascii=False),
             "{not json", "おやすみなさい"]
    r = run("triage", "--jsonl", *NOW, input="\n".join(lines) + "\n")
    out = [json.loads(x) for x in r.output.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["urgency"] == "emergency"
    assert out[1]["intent"] == "empty_message"
    assert out[2]["contacts"][0] == "hikikomori_center"
    assert out[3]["intent"]                      # a broken JSON line is read as text, not dropped
    assert out[4]["urgency"] == "info"


def test_check_passes_on_the_shipped_files():
    r = run("check", *NOW)
    assert r.exit_code == 0, r.output
    assert "0 error(s)" in r.output


def test_explain_shows_tokens_and_rules():
    r = run("explain", *NOW, "ヤミ金から毎日電話が来る")
    assert r.exit_code == 0
    assert "tokens" in r.output and "rules:" in r.output
    data = json.loads(run("explain", "--json", *NOW, "ヤミ金から毎日電話が来る").output)
    assert any(t["key"] == "闇金" for t in data["tokens"])


def test_bad_now_is_a_clear_error():
    r = CliRunner().invoke(cli, ["triage", "--now", "yesterday", "テスト"])
    assert r.exit_code == 2 and "ISO" in r.output


def test_console_script_runs_as_a_module():
    p = subprocess.run([sys.executable, "-m", "bot", "triage", "--json", *NOW, "サポステってなに？"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["urgency"] == "info"


# -- tsunagu chat --------------------------------------------------------------------------------
def test_chat_runs_the_line_conversation():
    from bot.conversation import load_texts

    texts = load_texts(Settings.from_env({}).responses_dir)
    r = CliRunner().invoke(cli, ["chat", "--now", "2026-11-27T10:00"],
                           input="訪問販売で布団を買わされました\n〒060-0001です\n最初から\n〒060-0001です\nおわり\nこれは読まれない\n")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(texts.chat_greeting)
    first, area, reset, area_only = r.output.split("つなぐ> ")[1:]
    assert "188" in first and "郵便番号" in first
    assert "札幌市消費者センター" in area and "011-728-2121" in area      # the area answers the earlier worry
    assert reset.startswith(texts.reset_reply)
    assert "札幌市" in area_only and "消費者センター" not in area_only     # after a reset: nothing to answer yet
    assert "読まれない" not in r.output


def test_chat_ends_on_ctrl_d_and_never_shows_a_traceback(monkeypatch):
    from bot.conversation import Conversation, load_texts

    texts = load_texts(Settings.from_env({}).responses_dir)
    monkeypatch.setattr(Conversation, "on_text", lambda *a, **k: 1 / 0)
    r = CliRunner().invoke(cli, ["chat"], input="息子が部屋から出てこない\n")
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert texts.error_reply in r.output
