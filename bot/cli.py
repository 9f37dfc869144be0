"""``tsunagu`` command line: a thin layer over the library (like sqlite-utils)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from .config import Settings
from .issues import errors


def _now(settings: Settings, at: str | None) -> datetime:
    tz = ZoneInfo(settings.timezone)
    if at:
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"not an ISO date/time: {at!r} (e.g. 2026-11-27T10:00)", param_hint="--now")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return datetime.now(tz)


def _load(settings: Settings):
    from .triage import KnowledgeError, load

    from .live import settle

    try:
        loaded = load(settings)
        settle()
        return loaded
    except KnowledgeError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(errors(exc.issues))} error(s): the knowledge files cannot be used. "
                   "Run `tsunagu check` after fixing them.", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tsunagu")
def cli() -> None:
    """つなぐ (tsunagu): consultation triage for families of people in hikikomori.

    Reads a worry written in plain Japanese and answers with the right window to
    call.  Data lives in intents/ and responses/ (see docs/admin.md).
    """


_now_option = click.option("--now", "at", metavar="ISO", help="Pretend it is this date/time (e.g. 2026-11-27T10:00).")


@cli.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (intent, urgency, contacts, area, reply).")
@click.option("--jsonl", is_flag=True, help="Read one message per line from stdin; write one JSON object per line.")
@_now_option
def triage(text: str | None, as_json: bool, jsonl: bool, at: str | None) -> None:
    """Triage TEXT and print what a family would see on LINE.

    Plain: the reply text, the windows card (name, why, ☎ number, hours, open now) and the
    quick-reply buttons, in the order LINE shows them.  --json: the reply text and the triage.

    \b
    tsunagu triage "無料点検で屋根の工事を契約してしまった"
    tsunagu triage --json "…"
    tsunagu triage --jsonl < messages.txt
    """
    settings = Settings.from_env()
    loaded = _load(settings)
    now = _now(settings, at)
    if jsonl:
        for line_no, raw in enumerate(sys.stdin, 1):
            message = _jsonl_text(raw)
            try:
                result = loaded.triage.decide(message, now=now).to_json()
            except Exception as exc:  # never lose a line: report it in place
                result = {"error": f"line {line_no}: {type(exc).__name__}", "intent": None}
            click.echo(json.dumps(result, ensure_ascii=False))
        return
    if text is None:
        if sys.stdin.isatty():
            raise click.UsageError('give TEXT, e.g. tsunagu triage "訪問販売で布団を買わされた", or use --jsonl')
        text = sys.stdin.read()
    decision = loaded.triage.decide(text, now=now)
    if as_json:
        click.echo(json.dumps(decision.to_json(), ensure_ascii=False, indent=2))
    else:
        from .channels.line.messages import build_messages
        from .channels.terminal import plain
        from .conversation import Conversation, load_texts

        texts = load_texts(settings.responses_dir)
        turn = Conversation(loaded.triage, texts).reply_to(decision, text, now)
        click.echo(plain(build_messages(turn, texts)))


@cli.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the sheet as one JSON object (sections, questions, facts).")
@click.option("--area", metavar="PLACE", help="Where the family lives, when TEXT does not say (e.g. 横浜市港北区, 〒060-0001).")
@_now_option
def refer(text: str | None, as_json: bool, area: str | None, at: str | None) -> None:
    """Print the referral sheet (つなぎシート) of TEXT: the facts in the order a consumer center asks.

    For a welfare worker who phones a center for a family: who, when, what, how much, the
    deadline, what the family wants, the window to call, and what is still to ask. Names and
    numbers in TEXT are masked. TEXT may also come on stdin.

    \b
    tsunagu refer "80歳の母が5日前に屋根の工事を契約した。150万円"
    tsunagu refer --json --area 札幌市 "…"
    """
    if text is None and not sys.stdin.isatty():
        text = sys.stdin.read()
    if not (text or "").strip():
        click.echo('Error: give the case text, e.g. tsunagu refer "訪問販売で布団を買わされた"', err=True)
        sys.exit(2)
    settings = Settings.from_env()
    loaded = _load(settings)
    place = None
    if area:
        place = loaded.triage.find_area(area)
        if place is None:
            click.echo(f"Error: --area: no place found in {area!r} (give a municipality or a postal code)", err=True)
            sys.exit(2)
    try:
        sheet = loaded.triage.referral(text, now=_now(settings, at), area=place)
    except LookupError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(sheet.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(sheet.text())


def _jsonl_text(raw: str) -> str:
    """A --jsonl line may be plain text or a JSON object with a "text" key (like the eval files)."""
    line = raw.rstrip("\n")
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return line
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return obj["text"]
    return line


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@_now_option
def explain(text: str, as_json: bool, at: str | None) -> None:
    """Show why TEXT was routed as it was: tokens, matched words, rules, windows."""
    from .explain import explain_text

    settings = Settings.from_env()
    loaded = _load(settings)
    report = explain_text(loaded.triage, text, now=_now(settings, at))
    if as_json:
        click.echo(json.dumps(report.data, ensure_ascii=False, indent=2))
    else:
        click.echo(report.text)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the issues as JSON.")
@_now_option
def check(as_json: bool, at: str | None) -> None:
    """Validate intents/, responses/ and the directory, and apply the knowledge gate. Exit 1 on errors.

    \b
    The gate is the one a running server applies before an edit goes live:
      - danger examples route as emergencies; danger counter-examples and
        labelled non-emergency cases (TSUNAGU_CASES_DIR) do not;
      - what routed right on the last good version (TSUNAGU_CACHE_DIR/last-good)
        still does. With no last good version, only the first rule applies.
    """
    from .check import run_check

    settings = Settings.from_env()
    issues = run_check(settings, now=_now(settings, at))
    errs = errors(issues)
    if as_json:
        click.echo(json.dumps({"errors": len(errs), "warnings": len(issues) - len(errs),
                               "issues": [i.to_json() for i in issues]}, ensure_ascii=False, indent=2))
    else:
        for issue in issues:
            click.echo(str(issue))
        click.echo(f"{len(errs)} error(s), {len(issues) - len(errs)} warning(s)")
    sys.exit(1 if errs else 0)


@cli.command("test")
@click.option("--cases", type=click.Path(exists=True, dir_okay=False), help="Also score a labelled JSONL file.")
@_now_option
def test_cmd(cases: str | None, at: str | None) -> None:
    """Run every intent's examples; print a per-intent table and what got confused."""
    from .evaluate import examples_report, cases_report

    settings = Settings.from_env()
    loaded = _load(settings)
    now = _now(settings, at)
    ok = examples_report(loaded.triage, now, click.echo)
    if cases:
        cases_report(loaded.triage, cases, now, click.echo)
    sys.exit(0 if ok else 1)


@cli.command()
@_now_option
def chat(at: str | None) -> None:
    """Talk to tsunagu in the terminal (the same pipeline as LINE)."""
    from .channels.terminal import run_chat
    from .conversation import Conversation, load_texts

    settings = Settings.from_env()
    conversation = Conversation(_load(settings).triage, load_texts(settings.responses_dir))
    run_chat(conversation, lambda: _now(settings, at))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", type=int, help="Gunicorn worker processes (default 1, or the config file's).")
@click.option("--threads", type=int, help="Threads per worker (default 8).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A gunicorn config file (see deploy/gunicorn.conf.py).")
def serve(host: str, port: int, workers: int | None, threads: int | None, config_file: str | None) -> None:
    """Run the web app (LINE webhook, Slack events, health) under gunicorn.

    \b
    POST /line/webhook   LINE Messaging API webhook
    GET  /healthz        health and queue depth
    """
    import logging.config
    import os

    from .logs import logconfig
    from .server import serve as run

    log_format = os.environ.get("TSUNAGU_LOG_FORMAT", "json")
    log_level = os.environ.get("TSUNAGU_LOG_LEVEL", "INFO")
    logging.config.dictConfig(logconfig(log_format, log_level))
    run(host, port, workers=workers, threads=threads, config_file=config_file, log_format=log_format,
        log_level=log_level)


def _existing_store(settings: Settings):
    """The store of TSUNAGU_DB, or a clear error (these commands never create a SQLite file)."""
    from .storage import StoreError, open_store

    if settings.db_url is None and not settings.db_path.is_file():
        raise click.ClickException(f"no database at {settings.db_path} (set TSUNAGU_DB to the server's database)")
    try:
        return open_store(settings)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--older-than-days", type=click.FloatRange(min=0),
              help="Retention period in days (default: TSUNAGU_RETENTION_DAYS, 30).")
def purge(older_than_days: float | None) -> None:
    """Delete conversation data past the retention period (the server also does this hourly)."""
    settings = Settings.from_env()
    days = settings.retention_days if older_than_days is None else older_than_days
    store = _existing_store(settings)
    removed = store.purge(days * 86400)
    if settings.backup_dir is not None:
        removed.update({f"backups_{k}": v for k, v in store.purge_backups(settings.backup_dir, days * 86400).items()})
    click.echo(json.dumps({"older_than_days": days, "deleted": removed}, ensure_ascii=False))


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def backup(path: str) -> None:
    """Copy the database to PATH with SQLite's online backup (safe while the server runs).

    The copy is written next to PATH and renamed when complete, so an old backup is
    only replaced by a good one.  Restore: stop the server, copy PATH to TSUNAGU_DB.
    """
    settings = Settings.from_env()
    from .storage import StoreError

    store = _existing_store(settings)
    try:
        pages = store.backup(path)
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"backup to {path} failed: {exc}") from None
    click.echo(f"backed up {store.description} to {path} ({pages} pages)")


@cli.group()
def review() -> None:
    """The review queue: answers staff marked 「判定が違う」 in Slack."""


@review.command("export")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file (default: stdout).")
@click.option("--all", "include_all", is_flag=True, help="Include entries exported before.")
def review_export(out: str | None, include_all: bool) -> None:
    """Write the queue as ready-to-paste examples for the intent files, then mark it exported."""
    from .review import export_reviews
    from .storage import StoreError, open_store

    try:
        store = open_store(Settings.from_env())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    text, ids = export_reviews(store.reviews(include_exported=include_all))
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"{len(ids)} example(s) written to {out}", err=True)
    else:
        click.echo(text, nl=False)
    store.mark_exported(ids)


@cli.group()
def directory() -> None:
    """The contact directory (responses/directory/)."""


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True,
              help="Show the changes and run every check; write nothing (exit 1 when a real run would be refused).")
@click.option("--force", is_flag=True, help="Import even when more than --max-drop of the current rows would go.")
@click.option("--max-drop", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True,
              help="Refuse when this share of the current rows would be removed.")
@click.option("--keep-unlisted", is_flag=True,
              help="Keep current rows the official list lacks (default: drop them; the list is authoritative).")
@click.option("--source-url", default=None, metavar="URL", callback=lambda _ctx, _param, value: _http_url(value),
              help="source_url of every imported row, http(s) only "
                   "(default: the official consumercenters_list.csv URL).")
@click.option("--retrieved", metavar="DATE", help="Download date for retrieved_note, e.g. 2026-11-27 (default: today).")
def directory_import(file: str, dry_run: bool, force: bool, max_drop: float, keep_unlisted: bool,
                     source_url: str | None, retrieved: str | None) -> None:
    """Import 国民生活センター's consumercenters_list.csv into consumer_centers.csv.

    \b
    tsunagu directory import consumercenters_list.csv --dry-run
    tsunagu directory import consumercenters_list.csv
    """
    from .directory_import import (KOKUSEN_URL, TARGET_FILE, ImportFormatError, describe_plan, plan_import,
                                   planned_rows, read_directory_csv, read_kokusen_csv, validate_rows,
                                   write_directory)

    settings = Settings.from_env()
    target = settings.responses_dir / "directory" / TARGET_FILE
    source_url = source_url or KOKUSEN_URL
    retrieved = _retrieved_date(settings, retrieved)
    try:
        imported = read_kokusen_csv(file, max_bytes=settings.import_max_bytes)
    except ImportFormatError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    plan = plan_import(read_directory_csv(target), imported, keep_unlisted=keep_unlisted)
    click.echo(describe_plan(plan, click.format_filename(file)))
    click.echo("")
    if not plan.imported:
        click.echo("取り込める行がありません。中止しました。 / No row can be imported; nothing done.", err=True)
        sys.exit(1)
    if plan.drop_share > max_drop and not force:
        click.echo(f"中止しました: 今の {len(plan.current)} 行のうち {len(plan.removed)} 行（{plan.drop_share:.0%}）が"
                   f"消えます（上限 {max_drop:.0%}）。ファイルが正しいか確かめ、よければ --force をつけてください。\n"
                   f"Refused: the import would remove {len(plan.removed)} of {len(plan.current)} rows "
                   f"({plan.drop_share:.0%}, limit {max_drop:.0%}). Check the file; use --force to import anyway.",
                   err=True)
        sys.exit(1)
    rows = planned_rows(plan, source_url, retrieved)
    issues = validate_rows(rows, settings.responses_dir)
    _echo_directory_issues(issues, TARGET_FILE)
    if errors(issues):
        click.echo(f"{len(errors(issues))} error(s): {target} は書きかえていません。 / {target} was not changed.",
                   err=True)
        sys.exit(1)
    refused = _gate_staged(settings, rows)
    if refused:
        for issue in refused:
            click.echo(str(issue), err=True)
        click.echo(f"{len(refused)} error(s): 取り込むと読み分けが変わるため、{target} は書きかえていません。 / "
                   f"the import would change routing; {target} was not changed.", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"--dry-run: 書きこみはしていません / nothing written ({len(rows)} rows would be written to {target})")
        return
    write_directory(plan, target, source_url, retrieved)
    click.echo(f"{target}: {len(rows)} 行を書きこみました / rows written. `tsunagu check` で確かめられます。")


def _gate_staged(settings: Settings, rows) -> list:
    """The knowledge gate on what the files would be after the import (nothing is written): errors."""
    from dataclasses import replace

    from .directory_import import staged_responses
    from .gate import admit
    from .triage import KnowledgeError, load

    with staged_responses(rows, settings.responses_dir) as staged:
        try:
            loaded = load(replace(settings, responses_dir=staged))
        except KnowledgeError as exc:
            return errors(exc.issues)
        return list(admit(loaded, settings).issues)


def _http_url(value: str | None) -> str | None:
    """``--source-url`` goes into every row and into links staff open: http(s) only."""
    from .directory_import import url_problem

    if value and url_problem(value):
        raise click.BadParameter(url_problem(value), param_hint="--source-url")
    return value


def _retrieved_date(settings: Settings, value: str | None) -> str:
    from datetime import date

    if not value:
        return datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"not a date: {value!r} (e.g. 2026-11-27)", param_hint="--retrieved")


def _echo_directory_issues(issues: list, file_name: str, limit: int = 20) -> None:
    """Errors in full; warnings about the imported file, the first ``limit`` of them."""
    errs = errors(issues)
    for issue in errs:
        click.echo(str(issue), err=True)
    warnings = [i for i in issues if i.severity != "error" and i.file.endswith(file_name)]
    for issue in warnings[:limit]:
        click.echo(str(issue))
    if len(warnings) > limit:
        click.echo(f"… ほか {len(warnings) - limit} 件 / and {len(warnings) - limit} more warning(s) (`tsunagu check`)")
    if warnings:
        click.echo(f"{len(warnings)} warning(s) in {file_name}")


def main() -> None:
    cli(prog_name="tsunagu")


if __name__ == "__main__":
    main()
