"""The terminal channel: ``tsunagu chat`` and ``tsunagu triage`` show what a family sees on LINE, as text.

Not served over HTTP (so not in :data:`bot.channels.registry.CHANNELS`): the conversation runs in the
process, with the session in memory, and LINE's messages are printed as plain text (:mod:`.chat`).
"""

from .chat import plain, run_chat

__all__ = ["plain", "run_chat"]
