"""The knowledge gate (bot/gate.py): one gate for every way an edit goes live.

Rule A (always): danger examples stay emergencies; no danger counter-example and no labelled case
that is not an emergency becomes one.  Rule B: nothing that routed right on the last good version
routes differently.  Applied by the running server (hot reload, start-up and SIGHUP), by
`tsunagu check` and by `tsunagu directory import`, all on copies of the shipped files.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import gate
from bot.cli import cli
from bot.config import Settings
from bot.triage import load
from bot.reload import snapshot_dir, start
from fakes.slack_api import FakeSlack
from servers import ServerProcess, get, post_json, seed_cache, until
from test_admin_flow import MESSAGE, NEW_INTENT, NEW_REPLY

FIXTURE = Path(__file__).parent / "data" / "consumercenters_list_fixture.csv"
#: hikidashiya (rule 3: it leads over most worries) claims a word that half the messages contain
PULLING_KEYWORD = "  息子: 5\n"
#: danger_violence reads a word of everyday messages as a danger in itself
DANGER_ACT = "    - 息子\n"


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> Path:
    """What the shipped files need (conftest.shared_cache); tests copy from it and give back what they
    built, so an edit trained and replayed by one test is not again by the next (named by content)."""
    return seed_cache(tmp_path_factory.mktemp("warm"))


@pytest.fixture
def files(tmp_path, warm) -> Settings:
    base = Settings.from_env({})
    shutil.copytree(base.intents_dir, tmp_path / "intents")
    shutil.copytree(base.responses_dir, tmp_path / "responses")
    settings = Settings(intents_dir=tmp_path / "intents", responses_dir=tmp_path / "responses",
                        db_path=tmp_path / "t.db", cache_dir=seed_cache(tmp_path / "cache", warm))
    yield settings
    seed_cache(warm, settings.cache_dir)


def edit(path: Path, old: str, new: str) -> str:
    """Replace ``old`` once; returns the text before (to put it back)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text


def pull(settings: Settings) -> str:
    return edit(settings.intents_dir / "hikidashiya.yml", "keywords:\n", "keywords:\n" + PULLING_KEYWORD)


def example_at(settings: Settings, file: str, line: int) -> str:
    """The example written at ``file:line`` (as the gate names it)."""
    raw = (settings.intents_dir.parent / file).read_text(encoding="utf-8").splitlines()[line - 1]
    return raw.strip().removeprefix("- ").strip().strip('"')


def env_of(settings: Settings) -> dict[str, str]:
    return {"TSUNAGU_INTENTS_DIR": str(settings.intents_dir), "TSUNAGU_RESPONSES_DIR": str(settings.responses_dir),
            "TSUNAGU_CACHE_DIR": str(settings.cache_dir)}


# -- on a running server ---------------------------------------------------------------------------
def test_a_misrouting_edit_is_refused_live_and_an_edit_that_keeps_everything_goes_live(files, tmp_path):
    with FakeSlack() as slack:
        env = {**env_of(files), "TSUNAGU_DB": str(tmp_path / "t.db"), "TSUNAGU_TRY_PAGE": "1",
               "TSUNAGU_RELOAD_INTERVAL": "0.3", "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": slack.token,
               "SLACK_API_BASE_URL": slack.api_url, "SLACK_ADMIN_CHANNEL": "C0ADMIN"}
        with ServerProcess(tmp_path, env, workers=2) as server:
            def every_worker(check) -> bool:
                seen: dict[int, bool] = {}
                for _ in range(40):
                    health = json.loads(get(server.url + "/healthz")[1])
                    seen[health["pid"]] = check(health)
                    if len(seen) >= 2 and all(seen.values()):
                        return True
                return False

            before = server.health()["knowledge"]
            original = pull(files)
            until(lambda: every_worker(lambda h: h["reload"]["status"] == "rejected"), 180, what="the refusal")
            health = server.health()
            until(lambda: every_worker(lambda h: h["knowledge"] == before), 30, what="both workers on the old version")
            reasons = health["reload"]["reasons"]
            assert health["reload"]["errors"] >= 1 and 1 <= len(reasons) <= gate.SHOWN + 1
            assert all("on the last good version" in r for r in reasons[:gate.SHOWN])
            # issues are sorted by file: examples (intents/) come before labelled cases (tests/data/)
            moved = [m for m in (re.match(r"(intents/\w+\.yml):(\d+): example of (\w+) ", r) for r in reasons) if m]
            assert moved, reasons
            file, line, intent = moved[0].group(1), int(moved[0].group(2)), moved[0].group(3)
            text = example_at(files, file, line)
            for _ in range(6):                                                     # the old answer stays
                assert post_json(server.url + "/try/api", {"text": text})["intent"] == intent
            notices = slack.wait_for(lambda: slack.calls_to("chat.postMessage"), 10)
            assert f"{file}:{line}" in notices[0].args["text"] or "tests/data/" in notices[0].args["text"]

            # put it back and add a new worry that takes nothing from the others: it goes live
            # (in this order, so that no state in between is an error of its own)
            (files.responses_dir / "replies" / "setsudenki.yml").write_text(NEW_REPLY, encoding="utf-8")
            (files.intents_dir / "hikidashiya.yml").write_text(original, encoding="utf-8")
            (files.intents_dir / "setsudenki.yml").write_text(NEW_INTENT, encoding="utf-8")
            until(lambda: every_worker(lambda h: h["reload"]["status"] == "reloaded" and h["knowledge"] != before),
                  180, what="the good edit going live")
            assert all(post_json(server.url + "/try/api", {"text": MESSAGE})["intent"] == "setsudenki" for _ in range(6))
            assert (snapshot_dir(files) / "gate.json").exists()
            log = server.log()
        assert len(slack.calls_to("chat.postMessage")) == 1      # told once, not once per worker
    assert text not in log                                      # file:line in the log, never the sentence
    replayed = re.findall(r"items replayed on version (\w+)", log)
    assert replayed and len(replayed) == len(set(replayed))     # each version replayed once for both workers


# -- start-up and SIGHUP ---------------------------------------------------------------------------
def test_a_start_on_a_danger_edit_runs_the_last_good_copy_and_without_one_stops(files):
    good, first = start(files)                                  # a clean start leaves the last good copy
    assert first.status == "unchanged" and (snapshot_dir(files) / "gate.json").exists()
    edit(files.intents_dir / "danger_violence.yml", "  inherent:\n", "  inherent:\n" + DANGER_ACT)

    reports: list = []
    version, result = start(files, reports.append)
    assert version.id == good.id and result.status == "rejected"   # runs on the last good copy
    assert reports and set(result.issues) <= set(reports[0])
    messages = [i.message for i in result.issues]
    assert any("danger counter-example routes here as an emergency" in m for m in messages)
    assert any(re.match(r"case \S+ is not an emergency but now routes as one", m) for m in messages)

    # rule A needs no last good version: with none to fall back on, the start stops with the reasons
    fresh = replace(files, cache_dir=seed_cache(files.cache_dir.parent / "fresh", files.cache_dir))
    with pytest.raises(gate.Refused) as refused:
        start(fresh)
    assert refused.value.verdict.baseline is None
    alone = refused.value.issues
    assert alone and set(alone) <= set(result.issues)
    assert all("as an emergency" in i.message or "now routes as one" in i.message or
               "danger example is not an emergency" in i.message for i in alone)


# -- tsunagu check ---------------------------------------------------------------------------------
def test_check_refuses_what_routed_right_on_the_last_good_version(files, monkeypatch):
    start(files)                                                # the shipped files went live once
    pull(files)
    for key, value in env_of(files).items():
        monkeypatch.setenv(key, value)
    r = CliRunner().invoke(cli, ["check", "--json", "--now", "2026-11-27T10:00"])
    report = json.loads(r.output)
    assert r.exit_code == 1
    moved = [i for i in report["issues"] if "on the last good version" in i["message"]]
    assert moved and all(i["severity"] == "error" and i["line"] > 0 and i["hint"] for i in moved)
    baseline = gate.last_good(files)
    verdict = gate.admit(load(files), files)
    assert {(i["file"], i["line"]) for i in moved} == {(i.file, i.line) for i in verdict.issues}
    missed = {m.key: m for m in verdict.evaluation.misses}
    for issue in verdict.issues:                                # each one passed before and misses now
        key = next(k for k, m in missed.items() if (m.file, m.line) == (issue.file, issue.line))
        assert key in baseline.passing
    triage = load(files).triage
    for issue in moved:                                         # and goes where the message says
        m = re.match(r"example of (\w+) routed there on the last good version, now → (\w+),", issue["message"])
        if m:
            decided = triage.decide(example_at(files, issue["file"], issue["line"]), now=gate.GATE_NOW).intent
            assert decided == m.group(2) != m.group(1)

    # the same edit with no last good version: rule B is not applied, and check says so
    fresh = replace(files, cache_dir=seed_cache(files.cache_dir.parent / "fresh", files.cache_dir))
    verdict = gate.admit(load(fresh), fresh)
    assert verdict.baseline is None and not verdict.refused
    note = gate.summary(verdict)
    assert note.severity == "warning" and "no last good version" in note.message


# -- tsunagu directory import ----------------------------------------------------------------------
def test_directory_import_is_refused_while_the_files_would_misroute(files):
    start(files)
    target = files.responses_dir / "directory" / "consumer_centers.csv"
    before = target.read_bytes()
    original = pull(files)                                      # an edit refused live, still on disk
    args = ["directory", "import", str(FIXTURE), "--retrieved", "2026-11-27", "--force"]
    r = CliRunner().invoke(cli, args, env=env_of(files))
    assert r.exit_code == 1, r.output
    assert "was not changed" in r.stderr and "on the last good version" in r.stderr
    assert target.read_bytes() == before                        # nothing written

    (files.intents_dir / "hikidashiya.yml").write_text(original, encoding="utf-8")
    r = CliRunner().invoke(cli, args, env=env_of(files))
    assert r.exit_code == 0, r.output
    assert target.read_bytes() != before


def test_unreadable_case_lines_are_skipped_with_a_warning(files, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    good = {"id": "x1", "text": "訪問販売で布団を買わされた", "primary": "consumer_center",
            "required": ["consumer_center"], "urgency": "normal"}
    (cases / "mine.jsonl").write_text(json.dumps(good, ensure_ascii=False) + "\n{not json\n"
                                      + json.dumps({"text": 3, "urgency": "normal"}) + "\n", encoding="utf-8")
    settings = replace(files, cases_dir=cases)
    digest, read, problems = gate.read_cases(settings)
    assert [c.id for c in read] == ["x1"]
    assert [(p.line, p.severity) for p in problems] == [(2, "warning"), (3, "warning")]
    missing = replace(files, cases_dir=tmp_path / "nowhere")
    assert gate.read_cases(missing)[2][0].message == "the labelled cases directory does not exist"


def test_the_shipped_cases_folder_holds_only_labelled_cases():
    """tests/data is what the gate replays and what the image ships as its cases: every line of it
    a labelled case, so `tsunagu check` has no warning from it (other tables live elsewhere)."""
    settings = Settings.from_env({})
    _, read, problems = gate.read_cases(settings)
    assert settings.cases_dir.name == "data" and len(read) > 1000
    assert [(p.file, p.line, p.message) for p in problems] == []
