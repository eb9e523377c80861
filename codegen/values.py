"""Abstract values that shape inference computes with.

A tensor is known only by its shape; everything else a spec can mention
(ints, floats, bools, strings, None, tuples) is a plain Python value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Tensor:
    """A tensor whose values are unknown but whose shape is exact."""

    shape: tuple[int, ...]

    def __str__(self) -> str:
        return "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"


class ShapeError(Exception):
    """A layer or function was given inputs it cannot take.

    The message says what was expected and what was found; the analyser adds
    the file and the place in the spec.
    """


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a parameter that has none."""


@dataclass(frozen=True)
class Param:
    """One argument of a torch constructor, function or method.

    ``kind`` names the values it accepts (see ``catalogue.check_kind``); it is
    how a literal in a spec is type-checked before it is emitted with repr.
    """

    name: str
    kind: str
    default: Any = REQUIRED


ShapeRule = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
"""(constructor arguments, bound call arguments) -> output value."""


@dataclass(frozen=True)
class LayerClass:
    """A layer class as a value of constructor arithmetic: ``nn.GELU``, a spec's class, or
    ``partial(nn.LayerNorm, eps=1e-06)`` (``keywords`` holds the bound keyword arguments).

    ``kind`` is "layer" (the catalogue) or "block" (another spec).
    """

    name: str
    kind: str
    keywords: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        prefix = "nn." if self.kind == "layer" else ""
        if not self.keywords:
            return prefix + self.name
        return f"partial({prefix}{self.name}, " + ", ".join(f"{k}={v!r}" for k, v in self.keywords) + ")"
