"""Telling admins in Slack (``SLACK_ADMIN_CHANNEL``) that an edit of the knowledge files was refused."""

from __future__ import annotations

import hashlib
import logging
from typing import Callable

from slack_sdk import WebClient

from ...storage import Store
from .text import escape

log = logging.getLogger("tsunagu.slack")


def admin_notifier(client: WebClient, channel: str, store: Store) -> Callable[[list], None]:
    """Post rejected-reload errors to the admin channel, once per distinct set of errors."""

    def notify(issues: list) -> None:
        errs = [i for i in issues if getattr(i, "severity", "error") == "error"]
        digest = hashlib.sha256("\n".join(str(i) for i in errs).encode()).hexdigest()[:16]
        if not errs or not store.once(f"reload-error:{digest}"):
            return
        lines = "\n".join(f"• `{escape(i.file)}:{i.line}` {escape(i.message)}"
                           + (f"\n    → {escape(i.hint)}" if i.hint else "") for i in errs[:15])
        # in code, not in responses/slack.yml: this is said exactly when the files may be broken
        text = ("⚠️ つなぐ：編集されたファイルにエラーがあるか、これまで正しく読めていた相談の行き先が変わるため、"
                "前の版のまま動いています。直して保存すると、自動で確かめて読み込み直します。\n" + lines)
        try:
            client.chat_postMessage(channel=channel, text=text[:3900])
        except Exception:  # a notice must never break the reload
            log.exception("could not post the reload errors to Slack")

    return notify
