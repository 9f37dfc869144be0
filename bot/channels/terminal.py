"""Terminal chat: the same triage pipeline as LINE, on stdin/stdout."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import click

from ..triage.engine import Triage

GREETING = ("つなぐ（tsunagu）です。困っていることを、ふだんの言葉で書いてください。\n"
            "終わるときは「おわり」か Ctrl-D。いのちや体が危ないときは、すぐ110番・119番へ。")


def run_chat(triage: Triage, clock: Callable[[], datetime]) -> None:
    click.echo(GREETING)
    area = None
    while True:
        try:
            text = click.prompt("\nあなた", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo("")
            return
        if text.strip() in ("おわり", "exit", "quit"):
            return
        if text.strip() == "最初から":
            area = None
            click.echo("はい、最初からどうぞ。")
            continue
        decision = triage.decide(text, now=clock(), area=area)
        area = decision.facts.area or area
        click.echo("\nつなぐ> " + decision.reply.replace("\n", "\n       "))
