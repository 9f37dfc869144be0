"""Terminal chat: the LINE conversation (area follow-up, 「最初から」) on stdin/stdout.

The same :class:`~bot.conversation.Conversation` as the LINE channel, with the session
kept in memory for the length of the chat.  Its words are in responses/conversation.yml.
What is printed is what a family sees on LINE (:func:`plain`): the same messages in the same
order — the text, the windows card (name, why, ☎ number, hours / open now, its buttons as
［…］), and the quick-reply buttons.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

import click

from ...conversation import Conversation
from ...triage import clean
from ..line.messages import build_messages

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
            session, reply = turn.session, plain(build_messages(turn, texts))
        click.echo("\nつなぐ> " + reply.replace("\n", "\n       "))


def plain(messages: list[dict]) -> str:
    """LINE messages as plain text: each message in turn, a card's texts and buttons (［…］),
    then the quick-reply buttons under the last one."""
    out: list[str] = []
    for message in messages:
        if out:
            out.append("")
        if message.get("type") == "text":
            out.append(message.get("text", ""))
        elif message.get("type") == "flex":
            out.extend(_flex_lines(message.get("contents", {}).get("body", {})))
        items = (message.get("quickReply") or {}).get("items") or []
        if items:
            out.append("")
            out.append("　".join(f"［{i['action'].get('label', '')}］" for i in items))
    return "\n".join(out).strip()


def _flex_lines(node: dict) -> list[str]:
    kind = node.get("type")
    if kind == "text":
        return [node.get("text", "")]
    if kind == "button":
        return [f"［{(node.get('action') or {}).get('label', '')}］"]
    if kind == "separator":
        return [""]
    if kind == "box":
        return [line for child in node.get("contents", []) for line in _flex_lines(child)]
    return []
