"""Topology problems, reported one per line with file, line and field path.

A topology file is read by people: every problem names the field the way the
file spells it (``nodes[3].diameter.peers[0]``), the line where it stands when
that can be found, and what is wrong.  Nothing starts while any problem stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("nodes", 3, "diameter")`` -> ``nodes[3].diameter``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    message: str
    file: str = "<topology>"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {format_path(self.path)}: {self.message}"


class TopologyError(Exception):
    """One or more problems in a topology file; ``str()`` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def path(self) -> str:
        return format_path(self.problems[0].path) if self.problems else ""
