"""The chat platforms: one package each, with the same small interface (:mod:`.base`).

The web app builds its channels from :data:`.registry.CHANNELS` (kept out of this file so that
importing one channel's module — the CLI renders with :mod:`.line.messages` — does not import
every platform's SDK).  A new platform is a new package with a ``build(ctx)`` and one line there
(docs/architecture.md).
"""
