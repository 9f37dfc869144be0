"""The contact directory: phone formatting, opening hours, the fallback chain, validation."""

from __future__ import annotations

import csv
import re
import shutil
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.triage.directory import MAX_WINDOWS, REQUIRED_CONTACTS, Directory, Phone, format_phone
from bot.triage.loader import load_directory
from bot.hours import parse_hours
from bot.triage.facts import Area

RESPONSES = Path(__file__).resolve().parents[1] / "responses"
CSV_DIR = RESPONSES / "directory"

WEDNESDAY = datetime(2026, 11, 25, 10, 0)
WEDNESDAY_EVENING = datetime(2026, 11, 25, 20, 0)
SATURDAY = datetime(2026, 11, 28, 11, 0)
CULTURE_DAY = datetime(2026, 11, 3, 11, 0)        # a Tuesday public holiday
NEW_YEAR_SATURDAY = datetime(2027, 1, 2, 11, 0)   # 年末年始, and a Saturday
DAY_AFTER_XMAS = datetime(2026, 12, 30, 10, 0)    # 年末年始, a Wednesday

SHIGA_OTSU = Area("滋賀県", "25", "大津市", "大津市", "25201")
AOMORI_CITY = Area("青森県", "02", "青森市", "青森市")
HIROSHIMA_NAKA = Area("広島県", "34", "広島市中区", "広島市")
YOKOHAMA_KOHOKU = Area("神奈川県", "14", "横浜市港北区", "横浜市")
MIYAGI = Area("宮城県", "04")
TOKYO_SHINJUKU = Area("東京都", "13", "新宿区", "新宿区")
NAGOYA_NAKA = Area("愛知県", "23", "名古屋市中区", "名古屋市")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(RESPONSES)


def copy_responses(tmp_path: Path) -> Path:
    target = tmp_path / "responses"
    (target / "directory").mkdir(parents=True)
    shutil.copy(RESPONSES / "contacts.yml", target / "contacts.yml")
    for f in CSV_DIR.glob("*.csv"):
        shutil.copy(f, target / "directory" / f.name)
    return target


# -- phone numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, display", [
    ("074-923-0999", "0749-23-0999"),     # 滋賀県: wrong hyphens in the source
    ("098-525-0999", "0985-25-0999"),     # 宮崎県
    ("077-622-1102", "0776-22-1102"),     # 福井県
    ("03-3235-1155", "03-3235-1155"),
    ("0570-078374", "0570-078-374"),
    ("0120-078310", "0120-078-310"),
    ("050-7505-0999", "050-7505-0999"),
    ("078・262・8050", "078-262-8050"),
    ("０３－３２３５－１１５５", "03-3235-1155"),
    ("+81 3-3235-1155", "03-3235-1155"),
])
def test_national_numbers_are_reformatted_from_their_digits(raw, display):
    phone = format_phone(raw)
    digits = display.replace("-", "")
    assert phone == Phone(digits, display, "tel:" + digits)


@pytest.mark.parametrize("raw, uri", [
    ("188", "tel:188"), ("110", "tel:110"), ("119", "tel:119"), ("189", "tel:189"),
    ("#9110", "tel:%239110"), ("＃９１１０", "tel:%239110"),
])
def test_short_codes(raw, uri):
    phone = format_phone(raw)
    assert phone is not None and phone.tel_uri == uri and phone.display == phone.digits
    assert "#" not in phone.tel_uri


@pytest.mark.parametrize("raw", ["225-3300", "", "12345", "03-1234", "9110", "0749-23-099", "abc",
                                 "03-3235-1155（代表）", "+1 202-555-0123", "0000000000"])
def test_invalid_numbers_are_rejected(raw):
    assert format_phone(raw) is None


def test_only_the_hiroshima_city_number_is_invalid_in_the_data():
    bad = [(f.name, r["name"], r["phone"]) for f in CSV_DIR.glob("*.csv")       # regions.csv has no phone column
           for r in csv.DictReader(f.open(encoding="utf-8", newline="")) if r.get("phone") and not format_phone(r["phone"])]
    assert bad == [("consumer_centers.csv", "広島市消費生活センター", "225-3300")]


# -- opening hours -----------------------------------------------------------------------------


def test_weekday_hours_close_on_weekends_holidays_and_new_year():
    s = parse_hours("平日 9:00～16:30（相談専門番号。来所相談は事前に電話が必要）")
    assert s.is_open(WEDNESDAY) is True
    assert s.is_open(datetime(2026, 11, 25, 16, 30)) is False
    assert s.is_open(WEDNESDAY_EVENING) is False
    assert s.is_open(SATURDAY) is False
    assert s.is_open(CULTURE_DAY) is False
    assert s.is_open(DAY_AFTER_XMAS) is False


def test_weekday_and_saturday_segments():
    s = parse_hours("月～金 9:00～17:00／土 9:00～16:00（祝日・年末年始除く）")
    assert s.is_open(SATURDAY) is True
    assert s.is_open(datetime(2026, 11, 28, 16, 30)) is False
    assert s.is_open(datetime(2026, 11, 29, 11, 0)) is False   # Sunday
    assert s.is_open(CULTURE_DAY) is False


def test_listed_days_with_weekend_hours():
    s = parse_hours("月・火・水・木・金曜 9:00～17:30／土・日曜 10:00～16:00（祝日、年末年始は除く）")
    assert s.is_open(datetime(2026, 11, 29, 11, 0)) is True    # Sunday
    assert s.is_open(datetime(2026, 11, 29, 9, 30)) is False
    assert s.is_open(datetime(2026, 11, 25, 17, 0)) is True
    assert s.is_open(CULTURE_DAY) is False
    assert s.is_open(NEW_YEAR_SATURDAY) is False


def test_weekend_and_holiday_line():
    s = parse_hours("土日祝 10:00～16:00（都道府県・市区町村の消費生活センター等が開所していない場合。"
                    "一部地域・年末年始・建物点検日を除く）")
    assert s.is_open(SATURDAY) is True
    assert s.is_open(CULTURE_DAY) is True
    assert s.is_open(WEDNESDAY) is False
    assert s.is_open(NEW_YEAR_SATURDAY) is False
    assert s.is_open(datetime(2026, 11, 29, 16, 0)) is False


def test_always_open():
    s = parse_hours("24時間365日")
    assert all(s.is_open(t) is True for t in (datetime(2027, 1, 1, 3, 0), SATURDAY, CULTURE_DAY))


def test_what_the_text_does_not_say_is_unknown():
    s = parse_hours("月～金 9:00～17:00")
    assert s.is_open(WEDNESDAY) is True
    assert s.is_open(WEDNESDAY_EVENING) is False
    assert s.is_open(SATURDAY) is False
    assert s.is_open(CULTURE_DAY) is None          # holidays not mentioned
    assert s.is_open(DAY_AFTER_XMAS) is None       # 年末年始 not mentioned


@pytest.mark.parametrize("text", ["", "緊急時（出典に受付時間の明記なし）", "特別相談時 9:00～16:00（通常時間は未確認）",
                                  "日曜のみ 11:00～16:00（終了時刻は要確認）", "（出典に受付時間の記載なし）",
                                  "毎月10日 8:00～翌日8:00（24時間）", "都道府県・政令指定都市ごとに異なる"])
def test_unreadable_or_unverified_hours_give_no_schedule(text):
    assert parse_hours(text) is None


def test_closed_days_breaks_and_nth_weekdays():
    oita = parse_hours("月・火・水・木・金曜 9:00～17:30／日曜 13:00～16:00（第3日曜、祝日、年末年始は除く／日曜日は、電話相談のみ）")
    assert oita.is_open(datetime(2026, 11, 15, 14, 0)) is False   # 3rd Sunday
    assert oita.is_open(datetime(2026, 11, 22, 14, 0)) is True
    toride = parse_hours("月～金 9:00～16:00（12:00～13:00除く、祝日・年末年始除く）")
    assert toride.is_open(datetime(2026, 11, 25, 12, 30)) is False
    assert toride.is_open(datetime(2026, 11, 25, 11, 0)) is True
    hirosaki = parse_hours("8:30～17:00（月曜休）")
    assert hirosaki.is_open(datetime(2026, 11, 30, 10, 0)) is False  # Monday
    assert hirosaki.is_open(SATURDAY) is True
    tokushima = parse_hours("月・火曜 9:00～18:00／木・金曜 9:00～18:00（【休所日】／水曜日・祝日・年末年始）")
    assert tokushima.is_open(WEDNESDAY) is False and tokushima.is_open(datetime(2026, 11, 26, 10, 0)) is True
    assert tokushima.is_open(CULTURE_DAY) is False


def test_aware_datetimes_are_read_in_japan_time():
    s = parse_hours("平日 9:00～16:30")
    assert s.is_open(datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)) is True    # 10:00 JST
    assert s.is_open(datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)) is False   # 19:00 JST


def test_original_hours_text_is_kept_for_display(directory):
    w = directory.windows("consumer_center", SHIGA_OTSU, WEDNESDAY)[0]
    assert w.hours_text == "月・火・水・木・金曜 9:15～16:00（祝日、年末年始は除く）"


# -- the fallback chain ------------------------------------------------------------------------


def test_a_municipality_with_a_row_gets_its_own_window(directory):
    first, backup = directory.windows("consumer_center", AOMORI_CITY, WEDNESDAY)
    assert (first.level, first.name, first.phone.display) == ("municipal", "青森市民消費生活センター", "017-722-2326")
    assert "青森市" in first.note
    assert (backup.level, backup.phone.digits) == ("national", "188")


def test_a_municipality_without_a_row_gets_the_prefecture_and_is_told(directory):
    first = directory.windows("consumer_center", SHIGA_OTSU, WEDNESDAY)[0]
    assert (first.level, first.name, first.phone.display) == ("prefectural", "滋賀県消費生活センター", "0749-23-0999")
    assert first.note == "大津市の窓口が見つからないため、滋賀県の窓口をご案内します。"
    assert first.open_now is True


@pytest.mark.parametrize("area, pref_number", [(HIROSHIMA_NAKA, "082-223-6111"), (YOKOHAMA_KOHOKU, "045-311-0999")])
def test_an_unusable_municipal_number_falls_back_to_the_prefecture(directory, area, pref_number):
    windows = directory.windows("consumer_center", area, WEDNESDAY)
    assert windows[0].level == "prefectural" and windows[0].phone.display == pref_number
    assert area.city in windows[0].note and "まだ確かめられていない" in windows[0].note
    assert all(w.phone.digits != "2253300" for w in windows)


def test_no_area_gives_the_national_188(directory):
    first = directory.windows("consumer_center", None, WEDNESDAY)[0]
    assert (first.level, first.phone.digits, first.phone.tel_uri) == ("national", "188", "tel:188")
    assert "地域がわからない" in first.note


def test_after_hours_on_a_weekend_points_to_188_and_the_ncac(directory):
    first, second = directory.windows("consumer_center", SHIGA_OTSU, SATURDAY)
    assert first.open_now is False and "いまは受付時間外です" in first.note and "188" in first.note
    assert (second.phone.digits, second.open_now) == ("188", True)
    assert "国民生活センター" in second.name


def test_after_hours_on_a_weekday_evening_keeps_the_plain_188_backup(directory):
    first, second = directory.windows("consumer_center", SHIGA_OTSU, WEDNESDAY_EVENING)
    assert first.open_now is False
    assert second.name.startswith("消費者ホットライン") and second.open_now is None


def test_after_hours_wording_comes_from_contacts_yml(tmp_path):
    root = copy_responses(tmp_path)
    text = (root / "contacts.yml").read_text(encoding="utf-8")
    old = "いまは受付時間外です。土日祝の10〜16時は"
    assert old in text
    (root / "contacts.yml").write_text(text.replace(old, "ただいま時間外。土日祝の10〜16時は"), encoding="utf-8")
    first = load_directory(root).windows("consumer_center", SHIGA_OTSU, SATURDAY)[0]
    assert "ただいま時間外。" in first.note


def test_hikikomori_without_a_local_center_falls_back_to_the_unified_dial(directory):
    for area in (None, Area("滋賀県", "25")):
        first = directory.windows("hikikomori_center", area, WEDNESDAY)[0]
        assert (first.level, first.phone.display) == ("national", "0570-064-556")
        assert "精神保健福祉センター" in first.note
    named = directory.windows("hikikomori_center", MIYAGI, WEDNESDAY)
    assert named[0].phone.display == "0570-064-556"
    assert named[1].level == "guide" and named[1].name.startswith("宮城県ひきこもり地域支援センター")


def test_hikikomori_local_centers(directory):
    assert directory.windows("hikikomori_center", TOKYO_SHINJUKU, WEDNESDAY)[0].phone.display == "0120-529-528"
    hamamatsu = Area("静岡県", "22", "浜松市中央区", "浜松市")
    assert directory.windows("hikikomori_center", hamamatsu, WEDNESDAY)[0].phone.display == "053-457-2709"
    numazu = Area("静岡県", "22", "沼津市", "沼津市")
    assert directory.windows("hikikomori_center", numazu, WEDNESDAY)[0].phone.display == "054-286-9219"
    # the 愛知県 line is not for 名古屋市 residents (retrieved_note): fall back rather than send them there
    nagoya = directory.windows("hikikomori_center", NAGOYA_NAKA, WEDNESDAY)
    assert all(w.phone is None or w.phone.digits != "0529623088" for w in nagoya)
    assert nagoya[0].phone.digits == "0570064556"


def test_crisis_line_for_miyagi_uses_the_tohoku_line(directory):
    numbers = [w.phone.display for w in directory.windows("crisis_line", MIYAGI, WEDNESDAY)]
    assert numbers[0] == "0120-279-226" and "0120-279-338" not in numbers
    tokyo = [w.phone.display for w in directory.windows("crisis_line", TOKYO_SHINJUKU, WEDNESDAY)]
    assert tokyo[0] == "0120-279-338" and "0120-279-226" not in tokyo
    assert "0570-783-556" in tokyo


def test_national_and_guide_windows(directory):
    assert directory.windows("police_consult", None, WEDNESDAY)[0].phone.tel_uri == "tel:%239110"
    assert directory.windows("emergency_110", TOKYO_SHINJUKU, WEDNESDAY)[0].phone.digits == "110"
    assert directory.windows("emergency_119", None, WEDNESDAY)[0].phone.digits == "119"
    assert directory.windows("fsa_consult", None, WEDNESDAY)[0].phone.display == "0570-016-811"
    assert directory.windows("legal_aid", None, WEDNESDAY)[0].phone.display == "0570-078-374"
    edu = directory.windows("education_support", None, WEDNESDAY)
    assert edu[0].phone.tel_uri == "tel:0120078310" and edu[0].open_now is True and edu[1].level == "guide"
    saposute = directory.windows("saposute", MIYAGI, WEDNESDAY)
    assert [w.level for w in saposute] == ["guide"] and "全国共通の電話番号はありません" in saposute[0].note
    tochigi = Area("栃木県", "09", "宇都宮市", "宇都宮市")
    assert directory.windows("youth_center", tochigi, WEDNESDAY)[0].phone.display == "028-643-3422"
    assert directory.windows("youth_center", None, WEDNESDAY)[0].level == "guide"


def test_police_after_hours_says_the_duty_officer_answers(directory):
    first = directory.windows("police_consult", MIYAGI, SATURDAY)[0]
    assert first.open_now is False and "当直" in first.note


def test_every_contact_id_has_a_label_and_windows(directory):
    assert set(REQUIRED_CONTACTS) | {"fsa_consult"} <= set(directory.contact_ids())
    for cid in directory.contact_ids():
        spec = directory.contact(cid)
        assert spec.label and spec.explain
        assert directory.windows(cid, None, WEDNESDAY)
    with pytest.raises(KeyError):
        directory.windows("no_such_window", None, WEDNESDAY)


def _areas(directory: Directory):
    yield None
    for code in range(1, 48):
        yield Area(f"pref{code:02d}", f"{code:02d}")
    for e in directory.entries:
        if e.municipality:
            yield Area(e.pref, e.pref_code, e.municipality, e.municipality)
            yield Area(e.pref, e.pref_code, e.municipality + "中央区", e.municipality)


TIMES = (WEDNESDAY, WEDNESDAY_EVENING, SATURDAY, CULTURE_DAY, NEW_YEAR_SATURDAY, DAY_AFTER_XMAS)


def test_windows_are_well_formed_everywhere(directory):
    for cid in directory.contact_ids():
        for area in _areas(directory):
            for now in TIMES:
                windows = directory.windows(cid, area, now)
                assert 1 <= len(windows) <= MAX_WINDOWS
                for w in windows:
                    assert w.level in ("municipal", "prefectural", "national", "guide")
                    assert (w.phone is None) == (w.level == "guide")
                    assert w.note or w.level != "guide"
                    if w.phone:
                        assert w.source_url and w.open_now in (True, False, None)
                    assert "{" not in w.note


def test_no_number_is_ever_invented(directory):
    """Every number the directory can return is, digit for digit, a CSV row's number."""
    in_csv = set()
    for f in CSV_DIR.glob("*.csv"):
        for row in csv.DictReader(f.open(encoding="utf-8", newline="")):
            in_csv.add(re.sub(r"[^\d#]", "", unicodedata.normalize("NFKC", row.get("phone") or "")))
    returned = {w.phone.digits for cid in directory.contact_ids() for area in _areas(directory) for now in TIMES
                for w in directory.windows(cid, area, now) if w.phone}
    assert returned and returned <= in_csv
    assert {"188", "#9110", "110", "119", "0570016811", "0749230999"} <= returned


# -- validation --------------------------------------------------------------------------------


def test_the_shipped_directory_has_no_errors(directory):
    issues = directory.validate()
    assert [i for i in issues if i.severity == "error"] == []
    hiroshima = [i for i in issues if "225-3300" in i.message]
    assert len(hiroshima) == 1 and hiroshima[0].severity == "warning"
    assert hiroshima[0].file == "responses/directory/consumer_centers.csv" and hiroshima[0].line == 59


def test_validate_finds_an_injected_bad_row(tmp_path):
    root = copy_responses(tmp_path)
    path = root / "directory" / "consumer_centers.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerow(
            ["25", "滋賀県", "草津市", "草津市消費生活センター", "077-123", "毎日 9時から5時まで", "", ""])
    bad_line = len(lines) + 1
    d = load_directory(root)
    found = {(i.severity, i.line) for i in d.validate() if i.file.endswith("consumer_centers.csv")
             and "草津市" in i.message}
    assert ("error", bad_line) in found      # no source_url
    assert ("warning", bad_line) in found    # invalid number, unreadable hours
    messages = " ".join(i.message for i in d.validate() if i.line == bad_line)
    assert "source_url" in messages and "077-123" in messages and "hours" in messages
    kusatsu = Area("滋賀県", "25", "草津市", "草津市")
    assert d.windows("consumer_center", kusatsu, WEDNESDAY)[0].phone.display == "0749-23-0999"


def test_validate_checks_contacts_yml(tmp_path):
    root = copy_responses(tmp_path)
    path = root / "contacts.yml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("- row: houterasu", "- row: houterasu_typo")
    text = text.replace("explain: 借金や裁判など", "explain: 03-1111-2222 にかけて。借金や裁判など")
    text = text.replace("  saposute:\n", "  saposute_renamed:\n")
    text = text.replace('closed: "いまは受付時間外です。受付時間', 'closed: "{when}いまは受付時間外です。受付時間')
    text = text.replace("  national_no_area: \"お住まいの地域", "  national_no_aera: \"お住まいの地域")
    path.write_text(text, encoding="utf-8")
    errors = [i for i in load_directory(root).validate() if i.severity == "error"]
    messages = " | ".join(i.message for i in errors)
    assert "houterasu_typo" in messages
    assert "'03-1111-2222' is not in any directory CSV" in messages
    assert "'saposute' is missing" in messages
    assert "{when}" in messages
    assert "unknown note 'national_no_aera'" in messages
    assert all(i.file == "responses/contacts.yml" and i.line >= 1 for i in errors)


def test_unknown_contact_ids_in_a_csv_are_errors(tmp_path):
    root = copy_responses(tmp_path)
    path = root / "directory" / "hikikomori_centers.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",youth_center,", ",youth_centre,", 1), encoding="utf-8")
    errors = [i for i in load_directory(root).validate() if i.severity == "error"]
    assert any("youth_centre" in i.message and i.file.endswith("hikikomori_centers.csv") for i in errors)


def test_copied_csvs_keep_every_source_column():
    for name in ("national_contacts.csv", "consumer_centers.csv", "hikikomori_centers.csv", "national_extra.csv"):
        rows = list(csv.DictReader((CSV_DIR / name).open(encoding="utf-8", newline="")))
        assert rows and all(r["source_url"].startswith("http") for r in rows)
        assert all(r.get("retrieved_note") or r.get("notes") for r in rows)


def test_loading_is_fast():
    best = min(_timed_load() for _ in range(5))
    assert best < 0.05, f"load_directory took {best * 1000:.0f} ms"


def _timed_load() -> float:
    start = time.perf_counter()
    load_directory(RESPONSES)
    return time.perf_counter() - start


# -- what the card shows ------------------------------------------------------------------------


def test_only_numbers_a_tap_dials_everywhere_are_tappable():
    """iPhone does not dial tel: links with '#' or '*' (Apple, Phone Links): #9110 gets no button."""
    assert not format_phone("#9110").tappable
    assert all(format_phone(n).tappable for n in ("110", "119", "188", "0570-064-556", "011-728-2121"))


def test_every_window_has_a_short_why(directory):
    for cid in directory.contact_ids():
        spec = directory.contact(cid)
        assert spec.why and len(spec.why) <= 30, cid
        for w in directory.windows(cid, None, WEDNESDAY):
            assert w.why == spec.why, (cid, w.name)


def test_a_guide_page_becomes_the_windows_url_and_must_be_https(tmp_path):
    root = copy_responses(tmp_path)
    contacts = root / "contacts.yml"
    text = contacts.read_text(encoding="utf-8")
    anchor = "        source_row: saposute\n"
    contacts.write_text(text.replace(anchor, anchor + "        url: https://example.org/saposute\n"), encoding="utf-8")
    loaded = load_directory(root)
    assert loaded.windows("saposute", None, WEDNESDAY)[0].url == "https://example.org/saposute"
    assert not [i for i in loaded.validate() if i.severity == "error"]
    contacts.write_text(text.replace(anchor, anchor + "        url: http://example.org/\n"), encoding="utf-8")
    errors = [i.message for i in load_directory(root).validate() if i.severity == "error"]
    assert any("url is not an https:// address" in m for m in errors)
