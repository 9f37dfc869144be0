"""Terminal chat: the LINE conversation (area follow-up, 「最初から」) on stdin/stdout.

The same :class:`~bot.conversation.Conversation` as the LINE channel, with the session
kept in memory for the length of the chat.  Its words are in responses/conversation.yml.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

import click

from ..conversation import Conversation
from ..triage.text import clean

log = logging.getLogger("tsunagu.terminal")


def run_chat(conversation: Conversation, clock: Callable[[], datetime]) -> None:
    texts = conversation.texts
    quit_words = {clean(w) for w in texts.chat_quit_words}
    click.echo(texts.chat_greeting)
    session: dict | None = None
    while True:
        try:
            text = click.prompt("\nあなた", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo("")
            return
        if clean(text).rstrip("。!！") in quit_words:
            return
        try:
            turn = conversation.on_text(text, session, clock())
        except Exception:  # never a traceback in front of a family: the safe answer instead
            log.exception("chat: could not answer")
            reply = texts.error_reply
        else:
            session, reply = turn.session, turn.text
            if turn.topics:
                reply += "\n\n" + "　".join(f"［{label}］" for label in turn.topics)
        click.echo("\nつなぐ> " + reply.replace("\n", "\n       "))
