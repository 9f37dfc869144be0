"""The referral sheet (つなぎシート): the facts of a case in the order a consumer center asks them,
from the core, the CLI and Slack (the real Bolt app, signed requests, the fake Slack at HTTP level)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import DATA, NOW
from test_check import copy, edit, find, run_check  # noqa: F401  (fixtures)
from test_slack import ALERTS, env, escalating_version, _texts  # noqa: F401  (fixtures)
from fakes.slack_api import block_problems

CASES = [json.loads(line) for line in (DATA / "referral_cases.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
#: Anything that looks like a phone number, an e-mail address or a long id (account, マイナンバー).
IDENTIFYING = re.compile(r"\d{2,4}-\d{2,4}-\d{3,4}|\d{7,}|[\w.+-]+@[\w-]+\.[\w.]+")
HEADINGS = ("誰が", "いつ", "何を", "いくら", "今の状況", "家族の希望", "窓口", "確認すること")


def _without_directory_numbers(text: str, decision) -> str:
    for w in decision.windows:
        if w.phone:
            text = text.replace(w.phone.display, "")
    return text


def test_ten_varied_cases():
    assert len(CASES) == 10 and len({c["id"] for c in CASES}) == 10
    assert len({c["category"] for c in CASES}) >= 7


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_sheet_of_each_case(triage, case):
    decision = triage.decide(case["text"], now=NOW)
    # the sheet never changes the routing: the case keeps the routing it is labelled with
    assert (decision.urgency, list(decision.contacts)) == (case["urgency"], case["required"])
    sheet = triage.refer(decision, now=NOW)
    for key, expected in case["sheet"].items():
        assert sheet.facts[key] == expected, key
    assert list(sheet.missing) == case["missing"]
    text = sheet.text()
    for words in case["shown"]:
        assert words in text, words
    for words in case["absent"]:
        assert words not in text, words
    # the sections in the order a center asks, each question once under 確認すること
    order = [text.index(f"■ {h}") for h in HEADINGS]
    assert order == sorted(order)
    ask = text.split("■ 確認すること")[1].split("■ ")[0]
    assert len(sheet.questions) == len(case["missing"]) and all(q in ask for q in sheet.questions)
    # the window to call, with the directory's number
    assert decision.windows and decision.windows[0].name in text
    if decision.windows[0].phone:
        assert decision.windows[0].phone.display in text
    # nothing identifying from the message: only the directory's numbers are shown
    assert IDENTIFYING.findall(_without_directory_numbers(text, decision)) == []
    data = sheet.to_json()
    assert IDENTIFYING.findall(_without_directory_numbers(json.dumps([data["sections"], data["facts"]["businesses"]],
                                                                     ensure_ascii=False), decision)) == []


def test_a_case_missing_most_facts_asks_most_questions(triage):
    few = next(c for c in CASES if c["id"] == "r09")
    full = next(c for c in CASES if c["id"] == "r02")
    assert len(triage.referral(few["text"], now=NOW).questions) >= 6
    assert len(triage.referral(full["text"], now=NOW).questions) <= 1


def test_names_numbers_and_ids_are_masked(triage):
    text = ("佐藤一郎と申します。母の口座番号は1234567、マイナンバーは123456789012です。"
            "業者の「株式会社サンライズ」の担当は携帯080-9876-5432、sato@example.jpに連絡してと言っています。"
            "母が昨日30万円を振り込みました。")
    decision = triage.decide(text, now=NOW)
    sheet = triage.refer(decision, now=NOW)
    shown = sheet.text()
    for words in ("佐藤", "一郎", "1234567", "123456789012", "080-9876-5432", "sato@", "example.jp"):
        assert words not in shown, words
    assert IDENTIFYING.findall(_without_directory_numbers(shown, decision)) == []
    assert "株式会社サンライズ" in shown and "30万円" in shown


def test_a_quoted_sentence_is_not_a_business_name(triage):
    sheet = triage.referral("業者に「今日中に払え」と言われた。「ひまわり商事」という会社です。", now=NOW)
    assert sheet.facts["businesses"] == ["ひまわり商事"]


def test_overlapping_words_go_to_the_longer_one(triage):
    sheet = triage.referral("解約料として10万円を請求されています", now=NOW)
    assert sheet.facts["demands"] == ["解約料・違約金の請求"] and sheet.facts["wishes"] == []


# -- the data file is checked like the others ------------------------------------------------------------
def test_a_missing_question_is_a_check_error(copy):  # noqa: F811
    edit(copy / "responses" / "referral.yml", "  payment: 支払った方法", "  paid_how: 支払った方法")
    code, report = run_check()
    assert code == 1
    issue = find(report, "responses/referral.yml", "questions")
    assert "payment" in issue["message"] and issue["line"] > 0


def test_a_broken_lexicon_is_a_check_error(copy):  # noqa: F811
    edit(copy / "intents" / "_lexicon" / "referral.yml", "corp_words: [株式会社", "corp_words: 株式会社 [")
    code, report = run_check()
    assert code == 1
    find(report, "intents/_lexicon/referral.yml", "")


# -- the command line --------------------------------------------------------------------------------------
def _refer(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "refer", "--now", "2026-11-27T10:00", *args],
                          capture_output=True, text=True, timeout=120, input=stdin)


def test_cli_prints_the_sheet_and_json():
    case = next(c for c in CASES if c["id"] == "r02")
    p = _refer(case["text"])
    assert p.returncode == 0, p.stderr
    assert "【つなぎシート】" in p.stdout and "11月29日まで" in p.stdout
    p = _refer("--json", "--area", "札幌市", case["text"])
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["facts"]["ages"] == ["80歳"] and data["missing"] == case["missing"]
    assert data["facts"]["windows"][0]["phone"] == "011-728-2121"     # the area's own center


@pytest.mark.parametrize("args,stdin", [((), ""), (("",), None), (("  \n",), None)])
def test_cli_refuses_an_empty_text(args, stdin):
    p = _refer(*args, stdin=stdin if stdin is not None else "")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "tsunagu refer" in p.stderr


def test_cli_refuses_an_unknown_area():
    p = _refer("--area", "どこでもない", "布団を買わされた")
    assert p.returncode == 2 and "--area" in p.stderr and "Traceback" not in p.stderr


# -- Slack ---------------------------------------------------------------------------------------------------
def _sheet_shown(blocks: list[dict]) -> str:
    return _texts(blocks)


def test_slash_command_answers_with_the_sheet(env):  # noqa: F811
    case = next(c for c in CASES if c["id"] == "r08")
    data = env.ask("つなぐ " + case["text"])
    assert data["response_type"] == "ephemeral"
    assert block_problems(data["blocks"]) == []
    text = _sheet_shown(data["blocks"])
    for heading in HEADINGS:
        assert heading in text
    for words in case["shown"]:
        assert words in text
    for words in case["absent"]:
        assert words not in text
    usage = env.ask("つなぐ")
    assert "相談の内容" in usage["text"] and "確認すること" not in _sheet_shown(usage["blocks"])


def _button(blocks: list[dict]) -> dict:
    return next(e for b in blocks if b["type"] == "actions" for e in b["elements"]
                if e.get("action_id") == "tsunagu_refer")


def _click(env, button: dict, block_id: str, channel: str) -> None:
    payload = {"type": "block_actions", "user": {"id": "U0STAFF"}, "api_app_id": "A0001", "team": {"id": "T0001"},
               "container": {"type": "message", "is_ephemeral": True}, "channel": {"id": channel},
               "response_url": env.slack.response_url(), "trigger_id": "1.9",
               "actions": [{"action_id": "tsunagu_refer", "block_id": block_id, "type": "button",
                            "value": button["value"], "action_ts": "1.9"}]}
    before = len(env.slack.responses)
    assert env.action(payload).status_code == 200
    env.slack.wait_for(lambda: len(env.slack.responses) > before)


def test_the_button_under_an_answer_gives_the_sheet(env):  # noqa: F811
    case = next(c for c in CASES if c["id"] == "r02")
    answer = env.ask(case["text"])
    button = _button(answer["blocks"])
    assert button["text"]["text"] == "つなぎシート" and len(button["value"]) <= 2000
    block_id = next(b["block_id"] for b in answer["blocks"] if b["type"] == "actions" and button in b["elements"])
    _click(env, button, block_id, "C0STAFF")
    sheet = env.slack.responses[-1].args
    assert sheet["response_type"] == "ephemeral" and sheet.get("replace_original") in (False, "false")
    assert block_problems(sheet["blocks"]) == []
    text = _sheet_shown(sheet["blocks"])
    # "5日前" counts from the click: an 8-day period then always has 2 days left
    assert "80歳" in text and "180万円" in text and "あと2日" in text and "確認すること" in text


def test_a_long_staff_text_is_clipped_in_the_button(env):  # noqa: F811
    answer = env.ask("訪問販売で布団を買わされた。" * 300)
    assert len(_button(answer["blocks"])["value"]) == 2000
    assert block_problems(answer["blocks"]) == []


def test_the_button_on_an_alert_uses_the_masked_excerpt(env):  # noqa: F811
    user = "U" + "e" * 32
    env.line_says("鈴木です。母が3日前に訪問販売で羽毛布団を30万円で契約しました。電話は090-1111-2222です。解約したいです",
                  user)
    env.line_says("はい", user)
    env.settle()
    posts = [c for c in env.slack.calls_to("chat.postMessage") if c.args.get("channel") == ALERTS]
    assert len(posts) == 1
    alert = posts[0].args
    blocks = alert["blocks"] if isinstance(alert["blocks"], list) else json.loads(alert["blocks"])
    button = _button(blocks)
    assert "090-1111-2222" not in button["value"] and "鈴木" not in button["value"]
    assert "羽毛布団" in button["value"]
    case_no = env.services.store.escalations()[0]["case_no"]
    _click(env, button, f"refer|{case_no}", ALERTS)
    text = _sheet_shown(env.slack.responses[-1].args["blocks"])
    assert "羽毛布団" in text and "30万円" in text and "解約したい" in text
    assert "090-1111-2222" not in text and "鈴木" not in text
