"""A problem found in the data files, with where it is and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Issue:
    file: str
    line: int
    severity: str   # "error" | "warning"
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f"\n    → {self.hint}" if self.hint else ""
        return f"{self.file}:{self.line}: {self.severity}: {self.message}{hint}"

    def to_json(self) -> dict:
        return asdict(self)


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity == "error"]
