"""Register the ``fake_line`` fixture for the tests in this package.

Other test modules get it the same way: ``from fakes.line_api import fake_line  # noqa: F401``
in their conftest.py.
"""

from .line_api import fake_line  # noqa: F401 - fixture registration
