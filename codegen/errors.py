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
    """The known name ``name`` is most plausibly a typo of, as a hint ("" if none is).

    Only candidates in the same namespace (``torch.``, ``F.``) are compared, on the part after
    it, so that ``torch.add`` is not taken for ``torch.cat``. A short name is a typo of one
    at one edit (``c3`` -> ``c1``); a longer one needs difflib's ratio of 0.75, so that ``max``
    is not taken for ``softmax``.
    """
    import difflib

    prefix, _, tail = name.rpartition(".")
    tails = {}
    for candidate in known:
        head, _, rest = candidate.rpartition(".")
        if head == prefix:
            tails[rest] = candidate
    if len(tail) <= 3:
        close = [t for t in sorted(tails) if _one_edit(tail, t)]
    else:
        close = difflib.get_close_matches(tail, sorted(tails), n=1, cutoff=0.75)
    return f" (did you mean {tails[close[0]]!r}?)" if close else ""


def _one_edit(a: str, b: str) -> bool:
    """One letter replaced, added, removed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def json_path(parts: Iterable[object]) -> str:
    """``["layers", "hidden", "args"]`` -> ``layers.hidden.args``; list indices in brackets."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
