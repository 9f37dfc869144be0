"""The knowledge a running server uses, swapped as a whole (never half-updated)."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass

from .config import Settings
from .conversation import Conversation, load_texts
from .triage import Loaded, Triage, load

log = logging.getLogger("tsunagu.live")


@dataclass(frozen=True)
class Version:
    loaded: Loaded
    conversation: Conversation

    @property
    def id(self) -> str:
        return self.loaded.version

    @property
    def triage(self) -> Triage:
        return self.loaded.triage


def build(settings: Settings, *, escalation: bool | None = None) -> Version:
    """Load everything; ``escalation``: ask families for consent to tell staff (default: Slack is set up)."""
    loaded = load(settings)
    if escalation is None:
        escalation = settings.slack_enabled and bool(settings.slack_escalation_channel)
    return Version(loaded, Conversation(loaded.triage, load_texts(settings.responses_dir), escalation=escalation))


def settle() -> None:
    """Tell the garbage collector that what is loaded now is long-lived.

    The knowledge is some 160,000 objects (phrases, the model's vocabulary, caches); without
    this every full collection walks all of them, which made a 5,000-character message cost
    ~5x its own work.  The previous version, no longer referenced, is collected first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Live:
    """Holds the current :class:`Version`; readers take a reference, never a lock."""

    def __init__(self, settings: Settings, version: Version | None = None):
        self.settings = settings
        self._lock = threading.Lock()
        self._current = version or build(settings)
        settle()

    @property
    def current(self) -> Version:
        return self._current

    @property
    def triage(self) -> Triage:
        """The current version's triage: take it once per request (a reload may swap it meanwhile)."""
        return self._current.triage

    def conversation(self) -> Conversation:
        return self._current.conversation

    def swap(self, version: Version) -> None:
        """Make ``version`` current; the old one is freed once the requests that hold it finish."""
        with self._lock:
            self._current = version
        settle()
