"""Local fakes of the LINE Platform for tests (test code only; nothing here ships with the bot).

- :mod:`fakes.line_api` — :class:`~fakes.line_api.FakeLine`, a contract-checked stand-in for
  api.line.me / api-data.line.me, and the ``fake_line`` pytest fixture.
- :mod:`fakes.line_webhook` — webhook body builders, ``sign``, ``validate_webhook``, ``post_signed``.
- :mod:`fakes.line_contract` — the OpenAPI + documented-limits checks both of them use.

``tests/`` is on ``sys.path`` under pytest (rootdir conftest), so tests import ``fakes.line_api``.
"""
