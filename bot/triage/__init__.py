"""The triage core: a family's text in, a :class:`Decision` out — the only names the rest of the bot uses.

Everything outside ``bot/triage`` imports from here, never from a submodule
(``tests/test_architecture.py`` checks it).  Files are read by :func:`load` only (the loader);
a decision reads no file, database or network.
"""

from .facts import Area
from .decision import Decision
from .policy import EMERGENCY_IDS
from .text import clean
from .render import fill
from .intents import FEW_EXAMPLES
from .model import FOLDS, train
from .extract.area import Gazetteer, find_area
from .directory import CONTACTS_FILE, DIRECTORY, format_phone
from .engine import Triage
from .referral import ReferralSheet
from .loader import KnowledgeError, Loaded, load, load_directory, load_gazetteer

__all__ = [
    "Area",             # a place (prefecture, municipality, code): sessions remember it
    "Decision",         # the triage result the channels render and the CLI prints
    "EMERGENCY_IDS",    # the 110/119 contact ids (the LINE card's big button, `evaluate`'s routing rule)
    "clean",            # the text normalisation every message gets (edges compare reset/quit words with it)
    "fill",             # fill a {field} template, None when a field is unknown (conversation texts)
    "FEW_EXAMPLES",     # `tsunagu check` warns about an intent with fewer examples
    "FOLDS",            # cross-validation folds of `tsunagu evaluate`
    "train",            # train the intent model on samples (cross-validation, bench's first look)
    "Gazetteer",        # every place of Japan: the directory import resolves rows without a whole triage
    "find_area",        # the place named in a text, given a Gazetteer (directory import)
    "CONTACTS_FILE",    # responses/contacts.yml: the directory import copies and checks it
    "DIRECTORY",        # responses/directory/: where the directory import writes its CSV
    "format_phone",     # a phone number as the directory stores it (directory import)
    "load_directory",   # the directory alone, to validate an import before it is published
    "ReferralSheet",    # the つなぎシート of a case (Triage.referral / Triage.refer): text, to_json()
    "Triage",           # compiled knowledge: decide(), answer_topic(), revisit(), find_area(), mask() …
    "KnowledgeError",   # the knowledge files cannot be used (carries the issues, file:line)
    "Loaded",           # a loaded Triage with its issues and version id
    "load",             # read and validate intents/ and responses/ into a Triage (the only file reading)
    "load_gazetteer",   # the places and postal codes alone (directory import)
]
