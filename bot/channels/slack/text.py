"""Text that goes into Slack messages: escaped so that nobody's words become Slack markup.

Slack reads ``<…>`` in ``mrkdwn`` text and in a message's ``text`` as a control sequence:
``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^ID>`` notify people, ``<@U123>`` and
``<#C123>`` mention, ``<https://evil|銀行>`` shows a link under a false name.  Its formatting rules
ask apps to escape exactly three characters — ``&`` as ``&amp;``, ``<`` as ``&lt;``, ``>`` as
``&gt;`` — in any text they did not mean as markup.  Everything a family or a staff member wrote
(and everything read from files others can edit, such as the directory) goes through
:func:`escape` before it is put into a block or a fallback ``text``; the words of
``responses/slack.yml`` are the only markup we write on purpose.

A quote is ``>`` at the start of *each* line: :func:`quote` prefixes every line, so a line break
in the quoted text cannot end the quote and write outside it.
"""

from __future__ import annotations

import re

#: Slack's three control characters and their entities ('&' first: the others contain it).
_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
#: A Slack user id as Slack sends it (U… or W…): only these become a mention.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
#: An entity cut in half at the end of a clipped text (&am, &l, &g).
_HALF_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: object) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped for Slack (mentions, links and commands inert)."""
    out = "" if text is None else str(text)
    for raw, entity in _ENTITIES:
        out = out.replace(raw, entity)
    return out


def quote(text: object) -> str:
    """``text`` escaped and quoted line by line (every line starts with ``>``; an empty text is ``>``).

    ``str.splitlines`` breaks at every line boundary Unicode knows (CR, LS, PS, NEL …), the ones
    Slack's clients may also render as a new line.
    """
    lines = escape(text).splitlines() or [""]
    return "\n".join(">" + line for line in lines)


def mention(user_id: str, name: str) -> str:
    """``<@U…>`` for a well-formed Slack user id; otherwise the name, escaped (never markup)."""
    if user_id and _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape(name or user_id)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters without leaving half an entity (``&am``) at the end."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return _HALF_ENTITY.sub("", cut)


def mrkdwn(text: str, verbatim: bool = False, limit: int = 3000) -> dict:
    """A ``mrkdwn`` text object.  ``verbatim`` for text holding someone's words: Slack then does not
    turn bare URLs, #channel names or @names into links or mentions."""
    obj: dict = {"type": "mrkdwn", "text": clip(text, limit)}
    if verbatim:
        obj["verbatim"] = True
    return obj
