"""docs/admin.md documents every field an admin may write, so the guide cannot drift from the schemas.

The fields are read from the pydantic specs themselves (nested ones too): a new field without a line
in the guide fails here.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.triage.intents import IntentSpec
from bot.triage.policy import PolicySpec, UrgentSign
from bot.triage.render import AdviceSpec, RepliesSpec
from bot.triage.signals import SignalSpec
from bot.triage.topics import TopicsSpec

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "admin.md"
SPECS = [IntentSpec, SignalSpec, TopicsSpec, PolicySpec, RepliesSpec, AdviceSpec]


def models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (DangerSpec | None, list[Topic], …)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def fields(spec: type[BaseModel], seen: set | None = None) -> list[tuple[str, str]]:
    """(model name, field name) of ``spec`` and of every model nested in it."""
    seen = set() if seen is None else seen
    if spec in seen:
        return []
    seen.add(spec)
    out = []
    for name, info in spec.model_fields.items():
        out.append((spec.__name__, name))
        for nested in models_in(info.annotation):
            out += fields(nested, seen)
    return out


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def mentioned(name: str, text: str) -> bool:
    """Written as code in the guide: `name`, `name:` or `name: value`."""
    return re.search(r"`" + re.escape(name) + r"(?![A-Za-z0-9_])", text) is not None


def test_the_field_walk_finds_nested_specs():
    found = {f for spec in SPECS for f in fields(spec)}
    assert {("DangerSpec", "other_sense"), ("AgeRule", "over"), ("Topic", "intents"), ("RuleSpec", "routes_to"),
            ("Thresholds", "danger_model"), ("FrameSpec", "ask_topic")} <= found


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_every_field_of_the_admin_files_is_in_the_guide(spec, guide):
    missing = [f"{model}.{name}" for model, name in fields(spec) if not mentioned(name, guide)]
    assert missing == [], f"docs/admin.md does not explain: {', '.join(missing)}"


def test_the_guide_names_every_rule_and_urgent_sign(triage, guide):
    names = [*triage._k.policy.order, *typing.get_args(UrgentSign)]
    assert [n for n in names if not mentioned(n, guide)] == []


def test_the_guide_explains_the_keyword_syntax_and_does_not_send_admins_to_a_missing_file(guide):
    for syntax in ("A & B", "A + B", "=", "$amount", "$big_amount", "$young", "$over49", "negation"):
        assert f"`{syntax}" in guide, syntax
    assert "否定" in guide and "反映のしくみ" in guide
    assert "POLICY" not in guide
    start = guide.index("## はじめに")
    steps = re.findall(r"^\d+\. ", guide[start:guide.index("\n## ", start + 1)], re.M)
    assert 0 < len(steps) <= 6
