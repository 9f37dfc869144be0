"""The records that cross the storage boundary (engine-neutral, immutable)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InboxEvent:
    """A platform event as accepted by a webhook, before anyone processes it."""

    event_id: str
    channel: str
    kind: str
    user_hash: str | None
    event_ts: float
    payload: dict
    redelivery: bool = False


@dataclass(frozen=True)
class Claimed:
    """An inbox event a worker holds a lease on."""

    event_id: str
    channel: str
    kind: str
    user_hash: str | None
    event_ts: float
    received_at: float
    payload: dict
    attempts: int


@dataclass(frozen=True)
class Outgoing:
    """One answer to send (LINE: up to 5 messages)."""

    channel: str
    user_hash: str | None
    to_id: str | None
    reply_token: str | None
    messages: list[dict]
    retry_key: str
    event_ts: float
    target: str | None = None  # Slack: channel id etc.


@dataclass(frozen=True)
class Delivery:
    """An answer a sender holds a lease on."""

    id: int
    event_id: str
    channel: str
    user_hash: str | None
    to_id: str | None
    reply_token: str | None
    messages: list[dict]
    retry_key: str
    event_ts: float
    attempts: int
    attempt_kind: str | None   # the call that was going out when last seen ("reply" | "push")
    in_doubt: bool             # the sender died mid-call: it may or may not have reached the platform
    target: str | None
    created_at: float
