"""YAML loading that remembers where every value came from (file:line).

Admins edit YAML by hand; when something is wrong, ``tsunagu check`` must point
at the line.  :func:`load_with_lines` returns the plain data plus a map from a
value's path (``("examples", 3)``) to its 1-based line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]


class YamlError(ValueError):
    """A file that is not valid YAML; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, file: Path, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                key = str(key)
            out[key] = _walk(loader, value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1  # point at the key, not its value
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, child, path + (i,), lines) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_with_lines(file: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML file; raise :class:`YamlError` with a line number on bad syntax."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(file, 0, f"not UTF-8 text ({exc.reason})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {(): 1}
        lines: dict[Path_, int] = {}
        return _walk(loader, node, (), lines), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(file, (mark.line + 1) if mark else 0, f"YAML: {exc.problem}") from None
    finally:
        loader.dispose()


def line_of(lines: dict[Path_, int], path: Path_) -> int:
    """Line of ``path`` or of its nearest parent."""
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)
