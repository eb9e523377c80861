"""Errors a user can fix, and how they are reported.

Every error carries a stable code (documented in docs/errors.md), the spec
file and the place in it as a JSON path, so a message reads
``specs/mlp.json: layers.hidden.args.in_features: E203 ...``.
"""

from __future__ import annotations

from collections.abc import Iterable

# No dataclasses or typing here: the up-to-date path imports this module, and
# must start in a few milliseconds.


class SpecError(Exception):
    def __init__(self, code: str, message: str, file: str = "", path: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.file = file
        self.path = path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecError) and (self.code, self.message, self.file, self.path) == (
            other.code, other.message, other.file, other.path)

    __hash__ = Exception.__hash__

    def __reduce__(self):  # keep file and path across worker processes
        return (SpecError, (self.code, self.message, self.file, self.path))

    def __repr__(self) -> str:
        return f"SpecError({self.code!r}, {self.message!r}, {self.file!r}, {self.path!r})"

    def __str__(self) -> str:
        where = self.file or "<spec>"
        if self.path:
            where += f": {self.path}"
        return f"{where}: {self.code} {self.message}"


class ErrorList(Exception):
    """All the errors of one run; raised once, after everything was checked."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __reduce__(self):
        return (ErrorList, (self.errors,))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    import difflib

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
