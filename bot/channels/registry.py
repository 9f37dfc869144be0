"""The channels the web app serves: the one place a platform is registered.

Each entry's factory gets the app's :class:`~.base.Context`; a channel it returns has its
blueprint mounted, and the worker processes and sends that channel's inbox events and outbox
rows.  A factory returns None (and logs why) when the channel's settings are missing: the other
channels keep working.
"""

from __future__ import annotations

from . import line, slack
from .base import Factory

#: name → factory.  The name is the ``channel`` of the channel's inbox and outbox rows.
CHANNELS: dict[str, Factory] = {
    "slack": slack.build,
    "line": line.build,
}
