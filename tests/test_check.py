"""`tsunagu check` as a linter: one broken fixture per check, each reported with file:line and a hint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from servers import seed_cache


@pytest.fixture
def copy(tmp_path, monkeypatch) -> Path:
    base = Settings.from_env({})
    shutil.copytree(base.intents_dir, tmp_path / "intents")
    shutil.copytree(base.responses_dir, tmp_path / "responses")
    monkeypatch.setenv("TSUNAGU_INTENTS_DIR", str(tmp_path / "intents"))
    monkeypatch.setenv("TSUNAGU_RESPONSES_DIR", str(tmp_path / "responses"))
    # a private cache: no last good copy, so only the gate's danger rules apply (tests/test_gate.py: with one)
    monkeypatch.setenv("TSUNAGU_CACHE_DIR", str(seed_cache(tmp_path / "cache")))
    return tmp_path


def run_check(*args) -> tuple[int, dict]:
    r = CliRunner().invoke(cli, ["check", "--json", "--now", "2026-11-27T10:00", *args])
    return r.exit_code, json.loads(r.output)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def find(report: dict, file: str, text: str, severity: str = "error") -> dict:
    for issue in report["issues"]:
        if issue["file"] == file and text in issue["message"] and issue["severity"] == severity:
            return issue
    raise AssertionError(f"no {severity} about {text!r} in {file}: {json.dumps(report['issues'], ensure_ascii=False)[:2000]}")


def test_the_shipped_files_pass(copy):
    code, report = run_check()
    assert code == 0 and report["errors"] == 0


def test_schema_error_names_the_line_and_gives_a_hint(copy):
    path = copy / "intents" / "tenken.yml"
    edit(path, "examples:", "exmaples:")
    code, report = run_check()
    assert code == 1
    issue = find(report, "intents/tenken.yml", "exmaples")
    assert issue["line"] == line_of(path, "exmaples:") and issue["hint"]


def test_yaml_syntax_error(copy):
    path = copy / "intents" / "tenken.yml"
    edit(path, "rule: consumer", "rule: [consumer")
    code, report = run_check()
    assert code == 1 and find(report, "intents/tenken.yml", "YAML")["line"] > 0


def test_unknown_contact_id(copy):
    path = copy / "intents" / "tenken.yml"
    edit(path, "contacts: [consumer_center]", "contacts: [consumer_centre]")
    code, report = run_check()
    issue = find(report, "intents/tenken.yml", "consumer_centre")
    assert code == 1 and issue["line"] == line_of(path, "consumer_centre") and "consumer_center" in issue["hint"]


def test_unknown_template_field(copy):
    path = copy / "responses" / "replies" / "tenken.yml"
    text = path.read_text(encoding="utf-8").replace("advice:\n", "advice:\n  - \"{name}さん、こんにちは\"\n", 1)
    path.write_text(text, encoding="utf-8")
    code, report = run_check()
    issue = find(report, "responses/replies/tenken.yml", "unknown template field")
    assert code == 1 and issue["line"] == line_of(path, "{name}") and "{amount}" in issue["hint"]


def test_a_danger_example_that_is_not_an_emergency_is_an_error(copy):
    """Danger must always win: its examples are checked against the shipped model, not averaged."""
    path = copy / "intents" / "danger_violence.yml"
    edit(path, "examples:\n", "examples:\n  - 息子が部屋から何年も出てきません\n")
    code, report = run_check()
    issue = find(report, "intents/danger_violence.yml", "danger example is not an emergency")
    assert code == 1 and issue["line"] == line_of(path, "息子が部屋から何年も出てきません")


def test_a_danger_counter_example_that_is_an_emergency_is_an_error(copy):
    path = copy / "intents" / "danger_violence.yml"
    edit(path, "counter_examples:\n", "counter_examples:\n  - いま息子が包丁を振り回して暴れています\n")
    code, report = run_check()
    assert code == 1 and find(report, "intents/danger_violence.yml", "counter-example routes here")


def test_an_example_the_model_cannot_learn_is_a_warning_with_its_confusion(copy):
    """Examples teach; one that even the full model routes elsewhere is reported (a warning: the
    cross-validated figures, not one sentence, decide whether an intent is weak)."""
    path = copy / "intents" / "tenken.yml"
    edit(path, "counter_examples:\n", "counter_examples:\n  - 無料で屋根を見てあげると言われて点検してもらい、工事の契約をしました\n")
    code, report = run_check()
    assert code == 0
    issue = find(report, "intents/tenken.yml", "counter-example routes here", severity="warning")
    assert issue["line"] == line_of(path, "無料で屋根を見てあげると言われて点検してもらい、工事の契約をしました")


def test_too_few_and_too_alike_examples_are_warnings(copy):
    path = copy / "intents" / "setsudenki.yml"
    path.write_text("""\
id: setsudenki
title: 節電器の訪問販売
rule: consumer
contacts: [consumer_center]
examples:
  - 節電器を買わされた
  - 節電器を買わされました
  - 節電器を高く買わされた
""", encoding="utf-8")
    (copy / "responses" / "replies" / "setsudenki.yml").write_text('advice: ["消費生活センターに相談してください。"]\n',
                                                                  encoding="utf-8")
    code, report = run_check()
    assert code == 0   # an intent with examples and no keywords is valid
    assert find(report, "intents/setsudenki.yml", "only 3 examples", severity="warning")
    assert find(report, "intents/setsudenki.yml", "too alike", severity="warning")


def test_the_same_example_in_two_intents(copy):
    path = copy / "intents" / "houmon_hanbai.yml"
    edit(path, "examples:\n", "examples:\n  - 無料点検と言われて屋根の工事を契約した\n")
    code, report = run_check()
    assert code == 1
    assert find(report, "intents/tenken.yml", "also in 'houmon_hanbai'") or \
        find(report, "intents/houmon_hanbai.yml", "also in 'tenken'")


def test_near_same_example_in_two_intents_is_a_warning(copy):
    path = copy / "intents" / "hikikomori_general.yml"
    edit(path, "examples:\n", "examples:\n  - 無料点検の業者に屋根の工事をすぐ契約させられた、ひきこもりの息子の家\n")
    target = copy / "intents" / "tenken.yml"
    edit(target, "examples:\n", "examples:\n  - 無料点検の業者に屋根の工事をすぐ契約させられた、ひきこもりの息子の家、本当に\n")
    _, report = run_check()
    assert any("nearly the same" in i["message"] for i in report["issues"])


def test_one_keyword_claimed_by_two_intents_is_a_warning(copy):
    path = copy / "intents" / "houmon_hanbai.yml"
    edit(path, "keywords:\n", "keywords:\n  点検商法: 3\n")
    code, report = run_check()
    issue = next(i for i in report["issues"] if "点検商法" in i["message"] and "claimed" in i["message"])
    assert issue["severity"] == "warning"


def test_too_few_examples_is_a_warning_not_an_error(copy):
    import yaml

    path = copy / "intents" / "greeting.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["examples"] = data["examples"][:5]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    code, report = run_check()
    issue = find(report, "intents/greeting.yml", "only 5 examples", "warning")
    assert code == 0 and issue["hint"]


def test_directory_row_with_an_invalid_number(copy):
    path = copy / "responses" / "directory" / "consumer_centers.csv"
    edit(path, "03-3235-1155", "03-3235")
    code, report = run_check()
    issue = find(report, "responses/directory/consumer_centers.csv", "03-3235", "warning")
    assert issue["line"] == line_of(path, "東京都消費生活総合センター")


def test_directory_row_without_a_source(copy):
    path = copy / "responses" / "directory" / "consumer_centers.csv"
    edit(path, "https://www.jc-press.com/?p=6635&amp", "")
    code, report = run_check()
    assert code == 1 and find(report, "responses/directory/consumer_centers.csv", "source_url")


def test_consumer_group_rows_are_checked(copy):
    path = copy / "responses" / "directory" / "consumer_groups.csv"
    edit(path, "kcs_kansai,特定非営利活動法人 消費者支援機構関西,特定適格,27,大阪府",
         "kcs_kansai,特定非営利活動法人 消費者支援機構関西,特定適格団体,27,兵庫県")
    edit(path, "tochigi_link,特定非営利活動法人 とちぎ消費者リンク,適格,09,栃木県,栃木県,https://tochigilink.org/",
         "cooj,特定非営利活動法人 とちぎ消費者リンク,適格,09,栃木県,栃木県,tochigilink.org")
    code, report = run_check()
    file = "responses/directory/consumer_groups.csv"
    assert code == 1
    kansai = line_of(path, "kcs_kansai,")
    assert find(report, file, "kind '特定適格団体'")["line"] == kansai
    assert find(report, file, "hq_pref '兵庫県' does not match code 27")["line"] == kansai
    tochigi = line_of(path, "とちぎ消費者リンク,")
    assert find(report, file, "duplicate id 'cooj'")["line"] == tochigi
    assert find(report, file, "info_url 'tochigilink.org'")["line"] == tochigi


def test_text_output_has_file_line_and_hint(copy):
    edit(copy / "intents" / "tenken.yml", "contacts: [consumer_center]", "contacts: [consumer_centre]")
    r = CliRunner().invoke(cli, ["check"])
    assert r.exit_code == 1
    assert "intents/tenken.yml:4: error: unknown contact id 'consumer_centre'" in r.output
    assert "→ 使える窓口ID" in r.output


def test_tsunagu_test_prints_the_table_and_confusions(copy):
    r = CliRunner().invoke(cli, ["test", "--now", "2026-11-27T10:00"])
    assert r.exit_code == 0, r.output[-2000:]
    assert "cross-validation" in r.output and "when left out of training" in r.output and "tenken" in r.output
    edit(copy / "intents" / "danger_violence.yml", "examples:\n", "examples:\n  - 息子が部屋から何年も出てきません\n")
    r = CliRunner().invoke(cli, ["test", "--now", "2026-11-27T10:00"])
    assert r.exit_code == 1
    assert "[danger_violence] 息子が部屋から何年も出てきません" in r.output


def test_phone_sized_texts_are_checked(copy):
    """Advice longer than advice_max_chars and a window without a short why line are warnings."""
    reply = copy / "responses" / "replies" / "tenken.yml"
    reply.write_text("advice:\n  - \"" + "工事はまだ始めないでもらいましょう。" * 10 + "\"\n", encoding="utf-8")
    edit(copy / "responses" / "contacts.yml", "    why: 働くことに悩む15〜49歳の人と家族を支えます\n", "")
    code, report = run_check()
    assert code == 0
    long = find(report, "responses/replies/tenken.yml", "advice is 180 characters", "warning")
    assert long["hint"]
    find(report, "responses/contacts.yml", "saposute: no why line", "warning")
