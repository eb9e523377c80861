"""Errors a user can fix, and how they are reported.

Every error carries a stable code (documented in docs/errors.md), the spec
file and the place in it as a JSON path, so a message reads
``specs/mlp.json: layers.hidden.args.in_features: E203 ...``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class SpecError(Exception):
    code: str
    message: str
    file: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = self.file or "<spec>"
        if self.path:
            where += f": {self.path}"
        return f"{where}: {self.code} {self.message}"


@dataclass
class ErrorList(Exception):
    """All the errors of one run; raised once, after everything was checked."""

    errors: list[SpecError] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def json_path(parts: Iterable[object]) -> str:
    """``["layers", "hidden", "args"]`` -> ``layers.hidden.args``; list indices in brackets."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
