"""Facts in one cleaned message: area, dates, amounts, ages and who signed.

Pure functions: the only data they read is handed in (the :class:`Gazetteer`,
built once at start-up, and optionally a :class:`PeopleLexicon`).
"""

from __future__ import annotations

from datetime import date

from ..facts import Facts
from .amounts import find_amounts
from .area import Gazetteer, find_area
from .dates import attach_to_signing, find_dates
from .people import DEFAULT_LEXICON, PeopleLexicon, find_ages, find_signer

__all__ = ["Gazetteer", "PeopleLexicon", "attach_to_signing", "extract", "find_ages", "find_amounts", "find_area",
           "find_dates", "find_signer"]


def extract(text: str, today: date, gaz: Gazetteer, people: PeopleLexicon = DEFAULT_LEXICON, *,
            look_for_area: bool = True) -> Facts:
    """Everything :mod:`bot.triage.extract` finds in ``text`` (already cleaned).

    ``look_for_area=False`` skips the place-name scan (the caller knows there is none).
    """
    signer, _ = find_signer(text, people)
    return Facts(
        area=find_area(text, gaz) if look_for_area else None,
        dates=tuple(attach_to_signing(find_dates(text, today), text, people.signing_re)),
        amounts=tuple(find_amounts(text)),
        ages=tuple(find_ages(text, people)),
        signer=signer,
    )
