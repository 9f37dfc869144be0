"""Importing 国民生活センター's consumercenters_list.csv: reader, plan, writer and `tsunagu directory import`."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.triage import format_phone, load_directory
from bot.directory_import import (FIELDS, KOKUSEN_URL, SOURCE_TITLE, CenterRow, ImportFormatError, ImportedRow,
                                  build_hours, clean_notes, clean_phone, day_hours, derive_municipality,
                                  parse_time, plan_import, planned_rows, read_directory_csv, read_kokusen_csv,
                                  read_limited, render_csv, write_directory)
from bot.hours import parse_hours
from bot.issues import errors
from bot.triage.extract.area import Gazetteer
from bot.triage.loader import load_gazetteer
from bot.triage.facts import Area
from servers import seed_cache

ROOT = Path(__file__).resolve().parents[1]
RESPONSES = ROOT / "responses"
REAL_CSV = RESPONSES / "directory" / "consumer_centers.csv"
FIXTURE = Path(__file__).parent / "data" / "consumercenters_list_fixture.csv"
FIXTURE_ROWS = 38
RETRIEVED = "2026-11-27"

FRIDAY = datetime(2026, 11, 27, 10, 0)
SATURDAY = datetime(2026, 11, 28, 11, 0)
SUNDAY = datetime(2026, 11, 29, 11, 0)
TUESDAY = datetime(2026, 11, 24, 11, 0)
CULTURE_DAY = datetime(2026, 11, 3, 11, 0)   # a Tuesday public holiday

YOKOHAMA_KOHOKU = Area("神奈川県", "14", "横浜市港北区", "横浜市")
YOKOHAMA_NAKA = Area("神奈川県", "14", "横浜市中区", "横浜市")
HIROSHIMA_NAKA = Area("広島県", "34", "広島市中区", "広島市")


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


@pytest.fixture(scope="module")
def rows(gaz) -> list[ImportedRow]:
    return read_kokusen_csv(FIXTURE, gaz)


@pytest.fixture(autouse=True, scope="module")
def real_responses_untouched():
    """No test may change the real responses/ (they work on copies)."""
    before = hashlib.sha256(REAL_CSV.read_bytes()).hexdigest()
    yield
    assert hashlib.sha256(REAL_CSV.read_bytes()).hexdigest() == before


def row(rows: list[ImportedRow], name: str) -> ImportedRow:
    return next(r for r in rows if r.name == name)


def copy_responses(tmp_path: Path) -> Path:
    """All of responses/: the import judges the knowledge as it would be after it (bot/gate.py)."""
    return Path(shutil.copytree(RESPONSES, tmp_path / "responses"))


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """The import's knowledge gate works in a cache of this module's own (no last good copy: the danger
    rules only; tests/test_gate.py has the import refused against one), shared by its tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSUNAGU_CACHE_DIR", str(seed_cache(tmp_path_factory.mktemp("cache"))))
        yield


# -- the fixture -----------------------------------------------------------------------------------


def test_fixture_is_in_the_official_format():
    raw = FIXTURE.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")          # UTF-8 with BOM
    assert b"\r\n" in raw                          # CRLF
    assert raw[3:].startswith("\"都道府県コード（JIS X 0401）\"".encode())
    assert "<br>".encode() in raw and "休".encode() in raw


def test_fixture_numbers_are_ours_or_placeholders():
    """Same centre: our sourced number; otherwise a placeholder (local exchange 1…, never assigned)."""
    ours = {p.digits for r in read_directory_csv(REAL_CSV) if (p := format_phone(r.phone))}
    everything_in_responses = "".join(f.read_text(encoding="utf-8") for f in RESPONSES.rglob("*.*")
                                      if f.suffix in (".csv", ".yml", ".md"))
    responses_numbers = {re.sub(r"\D", "", m) for m in re.findall(r"\d[\d\-()（）]*\d", everything_in_responses)}
    for r in read_kokusen_csv(FIXTURE):
        phone = format_phone(r.phone) if r.phone else None
        if not r.phone:
            continue
        assert phone is not None, r.name
        if phone.digits in ours:
            continue
        assert phone.display.split("-")[1].startswith("1"), f"{r.name}: {r.phone} is neither ours nor a placeholder"
        assert phone.digits not in responses_numbers, f"placeholder {r.phone} found in responses/"


# -- reading ---------------------------------------------------------------------------------------


def test_reads_every_row_with_bom_and_unpadded_codes(rows):
    assert len(rows) == FIXTURE_ROWS
    first = rows[0]
    assert (first.pref_code, first.pref, first.name, first.line) == ("01", "北海道", "北海道立消費生活センター", 2)
    assert {r.pref_code for r in rows} >= {"01", "02", "13", "14", "25", "26", "27", "34", "40"}


def test_closed_days_are_left_out_and_equal_days_grouped(rows):
    assert row(rows, "広島市消費生活センター").hours.startswith("月・水・木・金・土・日 10:00～19:00")
    assert row(rows, "弘前市市民生活センター").hours.startswith("火～日 8:30～17:00")
    assert row(rows, "東京都消費生活総合センター").hours.startswith("月～土 9:00～17:00（")
    assert row(rows, "福岡県消費生活センター").hours.startswith("月～金 9:00～16:30／日 10:00～16:00（")


def test_full_width_and_japanese_times_are_read(rows):
    assert row(rows, "青森県消費生活センター").hours.startswith("月～金 9:00～17:30／土・日 10:00～16:00")
    assert row(rows, "八戸市消費生活センター").hours.startswith("月～金 8:15～17:00")


def test_br_in_notes_becomes_a_slash(rows):
    kanagawa = row(rows, "かながわ中央消費生活センター")
    assert kanagawa.notes == "祝休日、年末年始は除く／かながわ県民センター休館日は除く／相談は原則電話で受付"
    assert kanagawa.hours == f"月～金 9:30～17:00／土 9:30～16:30（{kanagawa.notes}）"
    assert not any("<br" in r.hours + r.notes for r in rows)


def test_every_hours_text_is_read_by_parse_hours_except_unreadable_times(rows):
    unreadable = [r.name for r in rows if parse_hours(r.hours) is None]
    assert unreadable == ["函館市消費生活センター"]
    assert "要確認" in row(rows, "函館市消費生活センター").hours    # a Saturday without an end time


@pytest.mark.parametrize("name, when, open_", [
    ("福岡県消費生活センター", SUNDAY, True),
    ("福岡県消費生活センター", SATURDAY, False),           # 休
    ("東京都消費生活総合センター", SATURDAY, True),
    ("東京都消費生活総合センター", SUNDAY, False),
    ("北海道立消費生活センター", CULTURE_DAY, False),        # 特記事項: 祝日、年末年始は除く
    ("北海道立消費生活センター", FRIDAY, True),
    ("広島市消費生活センター", TUESDAY, False),              # 火曜 休
    ("広島市消費生活センター", SUNDAY, True),
    ("横浜市港北区役所 区民相談室（消費生活相談）", datetime(2026, 11, 25, 10, 0), False),   # 水曜 休
])
def test_schedules_from_the_weekly_columns(rows, name, when, open_):
    assert parse_hours(row(rows, name).hours).is_open(when) is open_


def test_odd_whitespace_empty_and_misplaced_hyphen_phones(rows):
    kawasaki = row(rows, "川崎市消費者行政センター")
    assert (kawasaki.phone, kawasaki.notes) == ("044-200-3030", "祝日、年末年始は除く")
    assert row(rows, "さいたま市消費生活総合センター").phone == ""
    hokkaido = row(rows, "北海道立消費生活センター")
    assert hokkaido.phone == "0507-505-0999"                 # stored as written ...
    assert format_phone(hokkaido.phone).display == "050-7505-0999"   # ... shown from the digits


@pytest.mark.parametrize("name, municipality", [
    ("横浜市消費生活総合センター", "横浜市"),       # designated city named; the address is in 港北区
    ("札幌市消費者センター", "札幌市"),
    ("川崎市消費者行政センター", "川崎市"),
    ("横浜市港北区役所 区民相談室（消費生活相談）", "横浜市港北区"),   # a ward's own window
    ("新宿区消費生活センター", "新宿区"),            # Tokyo's special wards are municipalities
    ("弘前市市民生活センター", "弘前市"),
    ("くらしの相談室", "近江八幡市"),                # no place in the name: the address
    ("消費生活相談窓口（市民相談課）", "長浜市"),      # no name, no address: the postal code
    ("かながわ中央消費生活センター", ""),            # prefectural (although it sits in 横浜市)
    ("びわ湖広域消費生活センター", None),            # cannot be placed
])
def test_municipality_is_derived_with_the_gazetteer(rows, name, municipality):
    assert row(rows, name).municipality == municipality


def test_unplaced_row_says_why(rows):
    assert "municipality not found" in row(rows, "びわ湖広域消費生活センター").problem


def test_an_address_in_a_ward_gives_the_designated_city(gaz):
    assert derive_municipality(gaz, "14", "消費生活相談室", "神奈川県横浜市港北区大豆戸町") == "横浜市"
    assert derive_municipality(gaz, "14", "消費生活相談室", "滋賀県彦根市元町") is None   # other prefecture


@pytest.mark.parametrize("raw, clock", [
    ("9:00", "9:00"), ("09:00", "9:00"), ("９:００", "9:00"), ("9:00:00", "9:00"), ("0930", "9:30"),
    ("8時15分", "8:15"), ("17時", "17:00"), (" 16:30 ", "16:30"), ("25:00", None), ("要問合せ", None), ("", None),
])
def test_parse_time(raw, clock):
    assert parse_time(raw) == clock


def test_day_hours_and_build_hours():
    assert day_hours("休", "休") is None and day_hours("", "") is None
    assert day_hours("9:00", "") == "?" and day_hours("17:00", "9:00") == "?"
    week = [("9:00", "16:00")] * 5 + [("9:00", "12:00"), None]
    assert build_hours(week, "") == "月～金 9:00～16:00／土 9:00～12:00"
    assert build_hours([None] * 7, "電話のみ") == "電話のみ"
    text = build_hours(week, "祝日（振替休日を含む は除く")                  # unbalanced: kept readable
    assert parse_hours(text) is not None


def test_clean_notes_and_phone():
    assert clean_notes("a<br>b<BR />c\r\nd &amp; e<b>!</b>") == "a／b／c／d & e!"
    assert clean_phone("045-311-0999（相談専用）") == ("045-311-0999", "045-311-0999（相談専用）")
    assert clean_phone("\u3000225-3300 ") == ("225-3300", "225-3300")


def test_reader_tolerates_cp932_and_rejects_other_files(tmp_path, gaz):
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes(FIXTURE.read_bytes()[3:].decode("utf-8").replace("７", "7").encode("cp932"))
    assert len(read_kokusen_csv(sjis, gaz)) == FIXTURE_ROWS
    other = tmp_path / "other.csv"
    other.write_text("name,phone\nx,03-3235-1155\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="missing columns"):
        read_kokusen_csv(other, gaz)


# -- the plan --------------------------------------------------------------------------------------

CURRENT = [
    CenterRow("01", "北海道", "", "北海道立消費生活センター", "050-7505-0999", "平日 9:00～16:30", "https://a", "old"),
    CenterRow("01", "北海道", "札幌市", "札幌市 消費者センター", "011-728-2121", "", "https://b", "old"),
    CenterRow("14", "神奈川県", "横浜市", "横浜市消費生活総合センター", "", "", "https://c", "old"),
    CenterRow("34", "広島県", "広島市", "広島市消費生活センター", "225-3300", "", "https://d", "old"),
    CenterRow("03", "岩手県", "", "岩手県立県民生活センター", "019-624-2209", "", "https://e", "old"),
]


@pytest.fixture
def current(tmp_path) -> list[CenterRow]:
    path = tmp_path / "consumer_centers.csv"
    path.write_text(render_csv(CURRENT), encoding="utf-8")
    return read_directory_csv(path)


def test_plan_added_removed_and_changed_numbers(current, rows):
    plan = plan_import(current, rows)
    assert current == CURRENT
    assert [r.name for r in plan.removed] == ["岩手県立県民生活センター"]
    assert plan.drop_share == pytest.approx(1 / 5)
    changed = {c.old.name: (c.old.phone, c.new.phone) for c in plan.changed_number}
    assert changed == {"横浜市消費生活総合センター": ("", "045-100-0001"),
                       "広島市消費生活センター": ("225-3300", "082-100-0005")}
    other = {c.old.name: c.fields for c in plan.changed_other}
    assert other["北海道立消費生活センター"] == ("phone_text",)          # same digits, other hyphens
    assert set(other["札幌市 消費者センター"]) == {"hours", "name"}      # matched without the space
    assert len(plan.added) == len(plan.imported) - 4
    assert [r.name for r in plan.duplicates] == ["札幌市消費者センター"]
    assert [r.name for r in plan.unplaced] == ["びわ湖広域消費生活センター"]


def test_plan_keep_unlisted_drops_nothing(current, rows):
    plan = plan_import(current, rows, keep_unlisted=True)
    assert [r.name for r in plan.kept] == ["岩手県立県民生活センター"]
    assert plan.removed == [] and plan.drop_share == 0.0


def test_plan_on_an_empty_directory():
    assert plan_import([], []).drop_share == 0.0


def test_planned_rows_are_ordered_by_prefecture_prefectural_first(current, rows):
    out = planned_rows(plan_import(current, rows, keep_unlisted=True), KOKUSEN_URL, RETRIEVED)
    keys = [(r.pref_code, r.municipality != "") for r in out]
    assert keys == sorted(keys)
    iwate = next(r for r in out if r.pref_code == "03")
    assert (iwate.source_url, iwate.retrieved_note) == ("https://e", "old")      # kept as it was


def test_write_directory_is_atomic_and_sourced(tmp_path, current, rows):
    path = tmp_path / "consumer_centers.csv"
    path.write_text("old content\n", encoding="utf-8")
    path.chmod(0o640)
    written = write_directory(plan_import(current, rows), path, KOKUSEN_URL, RETRIEVED)
    assert read_directory_csv(path) == written
    assert [p.name for p in tmp_path.iterdir()] == ["consumer_centers.csv"]      # no temp file left
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(FIELDS)
    for r in written:
        assert r.source_url == KOKUSEN_URL
        assert r.retrieved_note.startswith(f"{SOURCE_TITLE}取込 {RETRIEVED}")
    kanagawa = next(r for r in written if r.name == "かながわ中央消費生活センター")
    assert "特記事項: 祝休日、年末年始は除く／かながわ県民センター休館日は除く" in kanagawa.retrieved_note
    saitama = next(r for r in written if r.name == "さいたま市消費生活総合センター")
    assert "188を案内" in saitama.retrieved_note


# -- the command -----------------------------------------------------------------------------------


def run(responses: Path, *args: str):
    env = {"TSUNAGU_RESPONSES_DIR": str(responses)}
    return CliRunner().invoke(cli, ["directory", "import", str(FIXTURE), "--retrieved", RETRIEVED, *args], env=env)


def test_refuses_when_too_many_rows_would_go(tmp_path):
    responses = copy_responses(tmp_path)
    target = responses / "directory" / "consumer_centers.csv"
    before = target.read_bytes()
    r = run(responses)
    assert r.exit_code == 1
    assert "中止しました" in r.stderr and "--force" in r.stderr and "Refused" in r.stderr
    assert "追加 / added: 12" in r.stdout and "* 34 広島県 広島市 広島市消費生活センター: 225-3300 -> 082-100-0005" in r.stdout
    assert target.read_bytes() == before


def test_max_drop_can_be_raised(tmp_path):
    responses = copy_responses(tmp_path)
    assert run(responses, "--max-drop", "0.9", "--dry-run").exit_code == 0
    assert run(responses, "--max-drop", "1.5").exit_code == 2


def test_dry_run_writes_nothing(tmp_path):
    responses = copy_responses(tmp_path)
    target = responses / "directory" / "consumer_centers.csv"
    before = target.read_bytes()
    r = run(responses, "--dry-run", "--force")
    assert r.exit_code == 0, r.output
    assert "nothing written" in r.stdout
    assert target.read_bytes() == before
    originals = sorted(p.name for p in (RESPONSES / "directory").iterdir())
    assert sorted(p.name for p in target.parent.iterdir()) == originals          # no temp file left behind


def test_force_imports_and_the_result_loads(tmp_path):
    responses = copy_responses(tmp_path)
    r = run(responses, "--force")
    assert r.exit_code == 0, r.output
    assert "36 行を書きこみました" in r.stdout
    directory = load_directory(responses)
    assert errors(directory.validate()) == []
    imported = [e for e in directory.entries if e.file.endswith("consumer_centers.csv")]
    assert len(imported) == 36
    assert all(e.source_url == KOKUSEN_URL and e.note.startswith(SOURCE_TITLE) for e in imported)
    assert not any(e.name == "岩手県立県民生活センター" for e in imported)


def test_imported_directory_routes_by_ward_and_city(tmp_path):
    responses = copy_responses(tmp_path)
    assert run(responses, "--force").exit_code == 0
    directory = load_directory(responses)
    first = directory.windows("consumer_center", YOKOHAMA_KOHOKU, FRIDAY)[0]
    assert (first.name, first.level) == ("横浜市港北区役所 区民相談室（消費生活相談）", "municipal")
    assert directory.windows("consumer_center", YOKOHAMA_NAKA, FRIDAY)[0].name == "横浜市消費生活総合センター"
    hiroshima = directory.windows("consumer_center", HIROSHIMA_NAKA, FRIDAY)[0]
    assert (hiroshima.name, hiroshima.phone.display) == ("広島市消費生活センター", "082-100-0005")


def test_keep_unlisted_keeps_current_rows(tmp_path):
    responses = copy_responses(tmp_path)
    r = run(responses, "--keep-unlisted")
    assert r.exit_code == 0, r.output
    names = [row.name for row in read_directory_csv(responses / "directory" / "consumer_centers.csv")]
    assert "岩手県立県民生活センター" in names and "相模原市消費生活総合センター" in names


def test_source_url_option(tmp_path):
    responses = copy_responses(tmp_path)
    assert run(responses, "--force", "--source-url", "https://example.org/list.csv").exit_code == 0
    rows_ = read_directory_csv(responses / "directory" / "consumer_centers.csv")
    assert {r.source_url for r in rows_} == {"https://example.org/list.csv"}


def test_validation_errors_stop_the_write(tmp_path):
    """contacts.yml quotes 岩手's number; the import would remove its row, so check fails and nothing is written."""
    responses = copy_responses(tmp_path)
    contacts = responses / "contacts.yml"
    text = contacts.read_text(encoding="utf-8")
    closed = 'closed: "いまは受付時間外です。受付時間になってから、おかけください。"'
    assert closed in text
    contacts.write_text(text.replace(closed, closed[:-1] + '（019-624-2209）"'), encoding="utf-8")
    assert errors(load_directory(responses).validate()) == []
    target = responses / "directory" / "consumer_centers.csv"
    before = target.read_bytes()
    r = run(responses, "--force")
    assert r.exit_code == 1
    assert "019-624-2209" in r.stderr and "was not changed" in r.stderr
    assert target.read_bytes() == before


def test_not_the_official_file(tmp_path):
    responses = copy_responses(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("name,phone\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["directory", "import", str(other)], env={"TSUNAGU_RESPONSES_DIR": str(responses)})
    assert r.exit_code == 1 and "missing columns" in r.stderr


def test_bad_retrieved_date(tmp_path):
    r = run(copy_responses(tmp_path), "--retrieved", "yesterday")
    assert r.exit_code == 2 and "2026-11-27" in r.output


# -- untrusted input: unsafe values, odd files, the size limit --------------------------------------

TARGET_ROW = "相模原市消費生活総合センター"       # line 32 of the fixture; not in the current directory
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def fixture_with(tmp_path: Path, **cells: str) -> tuple[Path, int]:
    """The fixture with some cells of TARGET_ROW replaced (official format: BOM, CRLF, all quoted); its line."""
    with FIXTURE.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    header, index = table[0], next(i for i, r in enumerate(table) if r[2] == TARGET_ROW)
    for column, value in cells.items():
        table[index][header.index(column)] = value
    path = tmp_path / "consumercenters_list.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(table)
    return path, index + 1


def import_file(responses: Path, path: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["directory", "import", str(path), "--retrieved", RETRIEVED, "--force", *args],
                              env={"TSUNAGU_RESPONSES_DIR": str(responses), **(env or {})})


def written_cells(responses: Path) -> list[str]:
    with (responses / "directory" / "consumer_centers.csv").open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def assert_refused(result, path: Path, line: int, why: str) -> None:
    """Exit 0 (the other rows are imported), the row listed with file:line and the reason, no traceback."""
    assert result.exit_code == 0, result.output
    assert "拒否 / refused 1" in result.stdout
    section = result.stdout.split("refused (unsafe values):")[1]
    assert f"{path}:{line} " in section and why in section, section
    assert "Traceback" not in result.output


@pytest.mark.parametrize("column, value", [
    ("消費生活センター名", '=HYPERLINK("https://evil.example/","相模原市")'),
    ("消費生活センター名", "+1+2"),
    ("消費生活センター名", "-2+3+cmd|' /C calc'!A0"),
    ("消費生活センター名", "@SUM(1+9)*cmd|' /C calc'!A0"),
    ("消費生活センター名", "\t=1+1"),
    ("消費生活センター名", "\r=1+1"),
    ("相談電話番号", "=042-100-0003"),
    ("相談電話番号", "-042-100-0003"),
    ("特記事項", "=IMPORTXML(\"https://evil.example\",\"//a\")"),
    ("所在地１", "@SUM(A1:A9)"),
    ("消費生活センター区分", "+市区町村"),
])
def test_formula_cells_are_refused_with_file_and_line(tmp_path, column, value):
    path, line = fixture_with(tmp_path, **{column: value})
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert_refused(r, path, line, "formula")
    cells = written_cells(responses)
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert not any("相模原市" in c and "消費生活総合センター" in c for c in cells)


def test_a_plus81_number_is_stored_in_domestic_form(tmp_path):
    path, _ = fixture_with(tmp_path, 相談電話番号="+81-42-100-0003")
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert r.exit_code == 0 and "拒否 / refused 0" in r.stdout, r.output
    row_ = next(x for x in read_directory_csv(responses / "directory" / "consumer_centers.csv") if x.name == TARGET_ROW)
    assert row_.phone == "042-100-0003"
    assert "相談電話番号の原文: +81-42-100-0003" in row_.retrieved_note


@pytest.mark.parametrize("column, value", [
    ("消費生活センター名", "<!channel> 相模原市消費生活総合センター"),
    ("消費生活センター名", "相模原市<!here>"),
    ("消費生活センター名", "相模原市 <!everyone>"),
    ("消費生活センター名", "相模原市 <@U012AB3CD> さん"),
    ("消費生活センター名", "相模原市 <#C0123ABCD>"),
    ("消費生活センター名", "相模原市 <!subteam^S012AB3CD>"),
    ("所在地２", "<https://evil.example/|相模原市公式サイト>"),
    ("消費生活センター区分", "市区町村 @channel"),
    ("相談電話番号", "042-100-0003 <!here>"),
])
def test_slack_control_sequences_are_refused(tmp_path, column, value):
    path, line = fixture_with(tmp_path, **{column: value})
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert_refused(r, path, line, "Slack")
    text = "\n".join(written_cells(responses))
    assert "<!" not in text and "<@" not in text and "<#" not in text and "@channel" not in text
    assert "evil.example" not in text


def test_a_control_character_is_refused(tmp_path):
    path, line = fixture_with(tmp_path, 消費生活センター名="相模原市\x1b[2J消費生活総合センター")
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert_refused(r, path, line, "control character")
    assert "\x1b" not in r.output and not any("\x1b" in c for c in written_cells(responses))


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://ftp.example.jp/list.csv",
    "//evil.example/page",
    "www.city.sagamihara.kanagawa.jp",
    "https://",
    "https://www.city.example.jp/a b",
    "http://[::1",
])
def test_a_url_that_is_not_http_or_https_is_refused(tmp_path, url):
    path, line = fixture_with(tmp_path, 消費生活センターURL=url)
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert_refused(r, path, line, "http(s)")
    text = "\n".join(written_cells(responses)).lower()
    assert "javascript:" not in text and "data:" not in text and "vbscript:" not in text and "file:" not in text


@pytest.mark.parametrize("url", ["http://www.city.sagamihara.kanagawa.jp/shohi/",
                                 "HTTPS://www.city.sagamihara.kanagawa.jp/shohi/index.html?a=1#b"])
def test_an_http_or_https_url_is_kept(tmp_path, url):
    path, _ = fixture_with(tmp_path, 消費生活センターURL=url)
    responses = copy_responses(tmp_path)
    r = import_file(responses, path)
    assert r.exit_code == 0 and "拒否 / refused 0" in r.stdout, r.output
    row_ = next(x for x in read_directory_csv(responses / "directory" / "consumer_centers.csv") if x.name == TARGET_ROW)
    assert f"センターのページ: {url}" in row_.retrieved_note


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://example.org/list.csv"])
def test_source_url_option_is_http_or_https_only(tmp_path, url):
    responses = copy_responses(tmp_path)
    target = responses / "directory" / "consumer_centers.csv"
    before = target.read_bytes()
    r = run(responses, "--force", "--source-url", url)
    assert r.exit_code == 2 and "--source-url" in r.output and "http(s)" in r.output
    assert "Traceback" not in r.output
    assert target.read_bytes() == before


def run_cli_process(responses: Path, file: str, timeout: float = 60.0,
                    memory_limit: int = 2 << 30) -> subprocess.CompletedProcess:
    """`tsunagu directory import FILE` in a child process, bounded in time and address space: the old
    code blocked on a FIFO forever and read /dev/zero until memory ran out."""
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    env = {**os.environ, "TSUNAGU_RESPONSES_DIR": str(responses)}
    return subprocess.run([sys.executable, "-m", "bot", "directory", "import", file, "--retrieved", RETRIEVED],
                          env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=limit_memory,
                          cwd=ROOT)


def test_a_fifo_is_refused_without_waiting(tmp_path):
    responses = copy_responses(tmp_path)
    fifo = tmp_path / "consumercenters_list.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    p = run_cli_process(responses, str(fifo), timeout=30)
    assert p.returncode == 1, p.stderr
    assert "a FIFO" in p.stderr and "not a regular file" in p.stderr
    assert "Traceback" not in p.stderr
    assert time.monotonic() - started < 30


def test_dev_zero_is_refused_without_reading(tmp_path):
    responses = copy_responses(tmp_path)
    p = run_cli_process(responses, "/dev/zero")
    assert p.returncode == 1, p.stderr[-2000:]
    assert "a device" in p.stderr and "not a regular file" in p.stderr
    assert "Traceback" not in p.stderr


def test_a_directory_is_refused(tmp_path):
    responses = copy_responses(tmp_path)
    r = CliRunner().invoke(cli, ["directory", "import", str(tmp_path)], env={"TSUNAGU_RESPONSES_DIR": str(responses)})
    assert r.exit_code == 2 and "directory" in r.output and "Traceback" not in r.output
    with pytest.raises(ImportFormatError, match="not a regular file"):
        read_kokusen_csv(tmp_path)


def test_a_file_just_over_the_size_limit_is_refused(tmp_path):
    assert Settings().import_max_mb == 20 and Settings.from_env({}).import_max_bytes == 20 * 1024 * 1024
    env = {"TSUNAGU_IMPORT_MAX_MB": "0.05"}
    limit = Settings.from_env(env).import_max_bytes
    assert limit == 52428
    data = FIXTURE.read_bytes()
    at_limit = tmp_path / "at_limit.csv"
    at_limit.write_bytes(data + b"\r\n" * ((limit - len(data)) // 2) + b"\n" * ((limit - len(data)) % 2))
    assert at_limit.stat().st_size == limit
    responses = copy_responses(tmp_path)
    ok = import_file(responses, at_limit, "--dry-run", env=env)
    assert ok.exit_code == 0, ok.output
    over = tmp_path / "over.csv"
    over.write_bytes(at_limit.read_bytes() + b"\n")
    r = import_file(responses, over, "--dry-run", env=env)
    assert r.exit_code == 1
    assert "TSUNAGU_IMPORT_MAX_MB" in r.stderr and "0.05 MB" in r.stderr and "Traceback" not in r.output


def test_read_limited_stops_at_the_limit(tmp_path):
    """A file is read in chunks and never past the limit, whatever its size claims."""
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (3 * 65536))
    with pytest.raises(ImportFormatError, match="larger than the limit"):
        read_limited(big, 65536)
    assert read_limited(big, 3 * 65536) == big.read_bytes()
