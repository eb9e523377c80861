"""Abstract values that shape inference computes with.

A tensor is known by its shape and the kind of its dtype; everything else a
spec can mention (ints, floats, bools, strings, None, tuples) is a plain
Python value, except the few torch objects forward may name (a dtype such as
``torch.long``, a tensor's ``.device``), which have markers here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


DTYPES = ("bool", "long", "float")
"""Kinds of dtype, in torch's order of promotion (its type categories: boolean,
integral, floating point). Float32 and float64 are not told apart: nothing a
spec can write makes a float64 tensor."""


@dataclass(frozen=True)
class Tensor:
    """A tensor whose values are unknown but whose shape and kind of dtype are exact."""

    shape: tuple[int, ...]
    dtype: str = "float"  # one of DTYPES
    high: int | None = field(default=None, compare=False)  # integer values lie in [0, high) where known (an example's long inputs)

    def __str__(self) -> str:
        return "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"


@dataclass(frozen=True)
class DType:
    """``torch.float32``, ``torch.long`` or ``torch.bool`` as a value in forward."""

    name: str  # as written after ``torch.``
    kind: str  # one of DTYPES

    def __repr__(self) -> str:
        return f"torch.{self.name}"


TORCH_DTYPES = {"float32": DType("float32", "float"), "long": DType("long", "long"), "bool": DType("bool", "bool")}


class _Device:
    def __repr__(self) -> str:
        return "<a device>"


DEVICE: Any = _Device()
"""A tensor's ``.device``: all tensors of one forward share it."""


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
class TensorList:
    """A Python list forward builds (``outputs = []``, ``outputs.append(H)``): its items, in order."""

    items: tuple[Any, ...] = ()

    def __str__(self) -> str:
        if self.items and all(item == self.items[0] for item in self.items):
            return f"[{len(self.items)} x {self.items[0]}]"
        return "[" + ", ".join(str(item) for item in self.items) + "]"


class Chunks(tuple):
    """``x.split(...)``'s tensors: how many there are depends on the input, so they are unpacked or
    indexed, never returned whole (no fixed return type; TorchScript sees a list)."""


@dataclass(frozen=True)
class LayerClass:
    """A layer class as a value of constructor arithmetic: ``nn.GELU``, a spec's class, or
    ``partial(nn.LayerNorm, eps=1e-06)`` or ``partial(nn.GroupNorm, 4)`` (``positional`` and
    ``keywords`` hold the bound arguments: a call adds its own positional ones after them).

    ``kind`` is "layer" (the catalogue) or "block" (another spec).
    """

    name: str
    kind: str
    keywords: tuple[tuple[str, Any], ...] = ()
    positional: tuple[Any, ...] = ()

    def __str__(self) -> str:
        prefix = "nn." if self.kind == "layer" else ""
        if not self.keywords and not self.positional:
            return prefix + self.name
        bound = [repr(v) for v in self.positional] + [f"{k}={v!r}" for k, v in self.keywords]
        return f"partial({prefix}{self.name}, " + ", ".join(bound) + ")"
