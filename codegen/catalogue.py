"""What the generator knows about torch, as static data.

For every supported ``torch.nn`` layer: its constructor and ``forward``
parameters (names, order, defaults, accepted kinds of value), how the book
writes it, which argument may be inferred from the input, a shape rule and a
parameter-count rule. For the ``F.``/``torch.`` functions and tensor methods
a forward may call: their parameters and a shape rule.

Nothing here imports torch, so the generator starts fast; instead
``tests/test_catalogue.py`` checks every entry against the installed torch
(signatures, defaults, output shapes, parameter counts, and that inputs torch
rejects are rejected here too).

Shape rules follow PyTorch's documented formulas and raise ``ShapeError``
with an "expected ..., found ..." message wherever torch would raise, at
construction or in forward: a layer's rule is the one hook the analyser
calls with the full constructor arguments, so it also checks the
constructor's own constraints (divisibility by groups or heads, ranges).

Kinds (the ``kind`` of a ``Param``; see ``check_kind``):

    int, float, bool           bool is never an int; float takes ints, never NaN or inf
    str:a|b|c                  one of these strings
    ints                       a tuple of ints (any length)
    int|ints                   an int or a non-empty tuple of ints
    int|ints:N                 an int or a tuple of exactly N ints
    padding:N                  int|ints:N, 'same' or 'valid' (convolutions)
    size:N                     an adaptive pool's output size: an int or a
                               tuple of N entries, each an int or (N > 1) None
    norm                       a norm order: a number, 'fro' or 'nuc'
    tensor                     a tensor (call parameters only)
    tensors                    a non-empty tuple of tensors
    scalar                     a number or a bool (a fill value)
    tensor|scalar              either
    dtype, device              torch.float32/long/bool; a tensor's .device
    dtype|device               either (Tensor.to)
    KIND?                      KIND or None

Dtypes are tracked by kind (``values.DTYPES``: bool, long, float): each
function and method has a dtype policy (see ``_DTYPE_POLICIES``) that says
which kinds it takes and which it returns, as torch does; the tests check
every policy against torch for every kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Callable, Mapping, NoReturn

from .values import DEVICE, DTYPES, REQUIRED, TORCH_DTYPES, Chunks, DType, Param, ShapeError, ShapeRule, Tensor, TensorList

# ------------------------------------------------------------------ kinds


class _Omitted:
    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()
"""Default of a parameter whose absence torch treats unlike any value.

``Tensor.squeeze(dim=None)`` raises although ``squeeze()`` works, so ``dim``
cannot default to None (that would let a spec write ``dim=None``); and
``x.sum(keepdim=True)`` raises although ``x.sum(None, True)`` works, so the
rule must know whether dim and keepdim were given.
"""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_ints(value: Any, length: int | None = None) -> bool:
    return (
        isinstance(value, tuple)
        and all(_is_int(v) for v in value)
        and (length is None or len(value) == length)
    )


def _is_number(value: Any) -> bool:
    if _is_int(value):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _int_or_ints(value: Any, n: int | None) -> bool:
    return _is_int(value) or (_is_ints(value, n) and len(value) > 0)


def _adaptive_size(value: Any, n: int | None) -> bool:
    # None entries mean "keep the input's size"; torch's 1-d pool has no such case.
    entry_ok = (lambda v: _is_int(v) or v is None) if n != 1 else _is_int
    return _is_int(value) or (
        isinstance(value, tuple) and len(value) == n and all(entry_ok(v) for v in value)
    )


_CHECKS: dict[str, Callable[[Any, int | None], bool]] = {
    "int": lambda v, n: _is_int(v),
    "float": lambda v, n: _is_number(v),
    "bool": lambda v, n: isinstance(v, bool),
    "ints": lambda v, n: _is_ints(v, n),
    "int|ints": _int_or_ints,
    "padding": lambda v, n: v in ("same", "valid") or _int_or_ints(v, n),
    "size": _adaptive_size,
    "norm": lambda v, n: v in ("fro", "nuc") or _is_number(v),
    "tensor": lambda v, n: isinstance(v, Tensor),
    "tensors": lambda v, n: isinstance(v, tuple) and len(v) > 0 and all(isinstance(t, Tensor) for t in v),
    "scalar": lambda v, n: isinstance(v, bool) or _is_number(v),
    "tensor|scalar": lambda v, n: isinstance(v, (Tensor, bool)) or _is_number(v),
    "dtype": lambda v, n: isinstance(v, DType),
    "device": lambda v, n: v is DEVICE,
    "dtype|device": lambda v, n: isinstance(v, DType) or v is DEVICE,
    "any": lambda v, n: True,
}


def _split(kind: str) -> tuple[str, str]:
    base, _, arg = kind.partition(":")
    return base, arg


def check_kind(kind: str, value: Any) -> bool:
    """Does ``value`` (a JSON literal, tuples for arrays, or a Tensor) fit ``kind``?"""
    return _checker(kind)(value)


@cache
def _checker(kind: str) -> Callable[[Any], bool]:
    # Shape inference checks tens of arguments per spec: parse each kind once.
    if kind.endswith("?"):
        inner = _checker(kind[:-1])
        return lambda value: value is None or inner(value)
    base, arg = _split(kind)
    if base == "str":
        options = arg.split("|")
        return lambda value: isinstance(value, str) and value in options
    if base not in _CHECKS:
        raise ValueError(f"unknown kind {kind!r}")
    check, n = _CHECKS[base], int(arg) if arg else None
    return lambda value: check(value, n)


def _ints_text(n: int) -> str:
    return f"a tuple of {n} int" + ("" if n == 1 else "s")


def _quoted(options: list[str]) -> str:
    quoted = [repr(o) for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def describe_kind(kind: str) -> str:
    """``'int|ints:2'`` -> ``'an int or a tuple of 2 ints'``, for error messages."""
    if kind.endswith("?"):
        inner = describe_kind(kind[:-1])
        return inner + (", or None" if " or " in inner else " or None")
    base, arg = _split(kind)
    n = int(arg) if arg and base != "str" else None
    if base == "str":
        return _quoted(arg.split("|"))
    texts = {
        "int": "an int",
        "float": "a number",
        "bool": "True or False",
        "ints": _ints_text(n) if n else "a tuple of ints",
        "int|ints": "an int or " + (_ints_text(n) if n else "a tuple of ints"),
        "padding": "an int, " + (_ints_text(n) if n else "a tuple of ints") + ", 'same' or 'valid'",
        "size": "an int or " + (_ints_text(n) if n else "a tuple of ints") + ("" if n == 1 else " (None keeps that input size)"),
        "norm": "a number, 'fro' or 'nuc'",
        "tensor": "a tensor",
        "tensors": "a tuple of tensors",
        "scalar": "a number or a bool",
        "tensor|scalar": "a tensor, a number or a bool",
        "dtype": "a dtype (torch.float32, torch.long or torch.bool)",
        "device": "a device (X.device)",
        "dtype|device": "a dtype (torch.float32, torch.long or torch.bool) or a device (X.device)",
        "any": "any value",
    }
    if base not in texts:
        raise ValueError(f"unknown kind {kind!r}")
    return texts[base]


# ------------------------------------------------------------------ entries


@dataclass(frozen=True)
class Layer:
    """A ``torch.nn`` layer.

    ``params`` are the constructor's parameters in torch's order (without
    device and dtype); ``call`` those of ``forward``. ``shape`` receives all
    constructor arguments (defaults filled) and the bound call arguments.
    ``example`` is (constructor kwargs, input shapes) for the torch test.
    """

    name: str
    params: tuple[Param, ...]
    call: tuple[Param, ...]
    shape: ShapeRule
    parameters: Callable[[Mapping[str, Any]], int]
    positional: int = 0
    keyword_only: frozenset[str] = frozenset()  # torch takes these by keyword only (after device and dtype)
    inferred: str | None = None
    inferred_dim: int = 1
    example: tuple[dict[str, Any], tuple[tuple[int, ...], ...]] | None = None


@dataclass(frozen=True)
class Function:
    """A function (``F.relu``, ``torch.cat``) or tensor method (``sum``).

    Methods take the tensor as their first parameter, ``self``. ``varargs``
    names the parameter that collects the remaining positional arguments
    (``x.reshape(2, -1)``); a single tuple given there is taken as the whole
    value (``x.reshape((2, -1))``), as torch does. ``example`` holds bound
    argument dicts (tensors as ``Tensor``, defaults may be left out) that the
    torch test runs. ``keyword_only`` names parameters torch refuses by
    position (``F.gelu(x, approximate='tanh')``); ``keyword_varargs`` is False
    where torch refuses the varargs parameter by keyword (``x.view(shape=...)``);
    ``positional_only`` names parameters refused here by keyword, where
    torch's overloads give one position several names (``x.to(X.device)``).
    ``dtypes`` names the dtype policy (``_DTYPE_POLICIES``).
    """

    name: str
    params: tuple[Param, ...]
    shape: Callable[[Mapping[str, Any]], Any]
    example: tuple[dict[str, Any], ...] = ()
    varargs: str | None = None
    keyword_varargs: bool = True
    keyword_only: frozenset[str] = frozenset()
    positional_only: frozenset[str] = frozenset()
    dtypes: str = "any"


def _check_args(params: tuple[Param, ...], args: Mapping[str, Any], skip: str | None = None) -> None:
    # The analyser passes tensors through unchecked and checks literals only
    # where they are written, so a rule sees each value here first.
    for param in params:
        value = args.get(param.name, param.default)
        if param.name == skip or value is OMITTED or value is REQUIRED:
            continue
        if not check_kind(param.kind, value):
            raise ShapeError(f"expected {param.name} to be {describe_kind(param.kind)}, found {describe_value(value)}")


def describe_value(value: Any) -> str:
    """A value for an error message: tensors by their shape (and dtype, unless float)."""
    if isinstance(value, Tensor):
        return f"a {'' if value.dtype == 'float' else value.dtype + ' '}tensor of shape {value}"
    if isinstance(value, tuple):
        return "(" + ", ".join(describe_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, TensorList):
        return f"a list of tensors {value}"
    return repr(value)


def _layer(
    name: str,
    params: tuple[Param, ...],
    rule: ShapeRule,
    parameters: Callable[[Mapping[str, Any]], int],
    example: tuple[dict[str, Any], tuple[tuple[int, ...], ...]],
    call: tuple[Param, ...] = (Param("input", "tensor"),),
    **options: Any,
) -> Layer:
    def shape(ctor: Mapping[str, Any], bound: Mapping[str, Any]) -> Any:
        _check_args(params, ctor)
        _check_args(call, bound)
        first = bound.get(call[0].name) if call else None
        # An Embedding takes indices; the input dtypes of examples are not declared yet, so they pass.
        if isinstance(first, Tensor) and first.dtype != "float" and name != "Embedding":
            _fail(f"expected a floating-point {call[0].name} (convert with .float() first), found {describe_value(first)}")
        return rule(ctor, bound)

    return Layer(name, params, call, shape, parameters, example=example, **options)


def _function(
    name: str,
    params: tuple[Param, ...],
    rule: Callable[[Mapping[str, Any]], Any],
    *example: dict[str, Any],
    varargs: str | None = None,
    keyword_varargs: bool = True,
    keyword_only: tuple[str, ...] = (),
    positional_only: tuple[str, ...] = (),
    dtypes: str = "any",
) -> Function:
    policy = _DTYPE_POLICIES[dtypes]
    first = params[0].name if params and params[0].kind == "tensor" else None

    takes, gives = policy.takes, policy.gives
    if takes is None and gives is None:
        first = None  # the rule sets the dtype itself: nothing to check or convert

    def shape(bound: Mapping[str, Any]) -> Any:
        _check_args(params, bound, skip=varargs)
        out = rule(bound)
        if first is None:
            return out
        kind = bound[first].dtype
        if takes is not None and kind not in takes:
            _fail(f"expected {policy.describe}, found {describe_value(bound[first])}")
        if gives is not None and type(out) is Tensor and out.dtype != gives.get(kind, kind):
            out = Tensor(out.shape, gives.get(kind, kind))
        return out

    return Function(
        name, params, shape, tuple(example), varargs, keyword_varargs, frozenset(keyword_only), frozenset(positional_only), dtypes
    )


@dataclass(frozen=True)
class _DTypePolicy:
    """Which dtype kinds a function takes in its first tensor, and what it makes of each."""

    takes: tuple[str, ...] | None  # None: any kind, or the rule decides
    gives: dict[str, str] | None  # input kind -> output kind, where they differ; None: the rule's
    describe: str = ""


_DTYPE_POLICIES = {
    "any": _DTypePolicy(None, {}),  # reshaping, copying: the dtype passes through
    "numeric": _DTypePolicy(("long", "float"), {}, "a numeric tensor (long or float; a bool tensor needs .float() first)"),
    "float": _DTypePolicy(("float",), {}, "a floating-point tensor (convert with .float() first)"),
    "long": _DTypePolicy(("long",), {}, "an integer (long) tensor of class indices"),
    "to_float": _DTypePolicy(None, {"bool": "float", "long": "float"}),  # sigmoid, exp, sin: ints become floats
    "sum": _DTypePolicy(None, {"bool": "long"}),  # counting a mask gives ints
    "rule": _DTypePolicy(None, None),  # the rule sets the output dtype itself
}


def promote(*operands: Any) -> str:
    """The dtype kind of an arithmetic result: torch's promotion across categories.

    Each tensor (of any dim) and each Python scalar counts by its category
    (bool < long < float); the result takes the highest.
    """
    kinds = [v.dtype if isinstance(v, Tensor) else scalar_dtype(v) for v in operands]
    return max(kinds, key=DTYPES.index)


def scalar_dtype(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "long" if isinstance(value, int) else "float"


# ------------------------------------------------------------------ shape helpers


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _fail(message: str) -> NoReturn:
    raise ShapeError(message)


def _dim(dim: int, ndim: int, name: str = "dim") -> int:
    """Normalise a possibly negative dim; a 0-d tensor takes -1 and 0, as in torch."""
    size = max(ndim, 1)
    if not -size <= dim < size:
        _fail(f"expected {name} in [{-size}, {size - 1}] for a {ndim}-d tensor, found {dim}")
    return dim % size


def _dims(dims: int | tuple[int, ...], ndim: int, name: str = "dim") -> tuple[int, ...]:
    dims = (dims,) if _is_int(dims) else dims
    out = tuple(_dim(d, ndim, name) for d in dims)
    if len(set(out)) != len(out):
        _fail(f"expected distinct dims in {name}, found {dims}")
    return out


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``a op b`` under torch's (NumPy's) broadcasting rules."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            _fail(f"expected broadcastable shapes (equal sizes or 1 from the right), found {Tensor(a)} and {Tensor(b)}")
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``torch.matmul(a, b)`` (and of ``a @ b``)."""
    if not a or not b:
        _fail(f"expected tensors of at least 1 dimension, found {Tensor(a)} and {Tensor(b)}")
    # A 1-d operand is promoted to a matrix and its added dim removed afterwards.
    left = (1,) + a if len(a) == 1 else a
    right = b + (1,) if len(b) == 1 else b
    if left[-1] != right[-2]:
        _fail(
            f"expected the second operand's dim {-2 if len(b) > 1 else 0} to equal the first's last dim ({a[-1]}), "
            f"found {Tensor(a)} and {Tensor(b)}"
        )
    out = broadcast(left[:-2], right[:-2])
    if len(a) > 1:
        out += (a[-2],)
    if len(b) > 1:
        out += (b[-1],)
    return out


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def operator_result(op: str, left: Any, right: Any) -> Tensor:
    """``left op right`` where at least one side is a tensor and the other a tensor, number or bool.

    ``op`` is written as in Python: + - * / // % ** @, & |, or a comparison.
    Shapes broadcast; dtypes promote (``promote``); a comparison gives bools;
    & and | take bools or ints; arithmetic on bools alone is refused where
    torch refuses it (//, %; - with any bool), and also for **
    (deliberately stricter: torch takes a bool tensor ** True).
    """
    for side in (left, right):
        if not isinstance(side, Tensor) and not (isinstance(side, bool) or _is_number(side)):
            _fail(f"expected a tensor, a number or a bool on each side of {op}, found {describe_value(side)}")
    if op == "@":
        if not (isinstance(left, Tensor) and isinstance(right, Tensor)):
            _fail(f"expected two tensors for @, found {describe_value(left)} and {describe_value(right)}")
        _same_dtype(left, right, "two operands of @")
        if left.dtype == "bool":
            _fail("expected numeric tensors for @, found bool tensors")
        return Tensor(matmul_shape(left.shape, right.shape), left.dtype)
    shape = broadcast(left.shape if isinstance(left, Tensor) else (), right.shape if isinstance(right, Tensor) else ())
    kind = promote(left, right)
    if op in COMPARISONS:
        return Tensor(shape, "bool")
    if op in ("&", "|"):
        if kind == "float":
            _fail(f"expected bool or integer operands for {op} (a comparison gives bools), found {describe_value(left)} and {describe_value(right)}")
        return Tensor(shape, kind)
    if op == "-" and any(isinstance(v, bool) or isinstance(v, Tensor) and v.dtype == "bool" for v in (left, right)):
        _fail(f"expected no bools in a subtraction (to invert a mask use ~), found {describe_value(left)} and {describe_value(right)}")
    if op in ("//", "%") and kind in ("long", "bool") and not isinstance(right, Tensor) and right == 0:
        _fail(f"expected a non-zero divisor for integers, found {right!r}")
    if op == "**" and kind == "long" and _is_int(right) and right < 0:
        _fail(f"expected a non-negative exponent for integers (torch refuses them), found {right}")
    if kind == "bool" and op in ("//", "%", "**"):
        _fail(f"expected numbers for {op}, found only bools (convert with .float() first)")
    return Tensor(shape, "float" if op == "/" else kind)


def unary_result(op: str, x: Tensor) -> Tensor:
    """``-x``, ``+x`` or ``~x`` on a tensor: ~ takes bools (logical not) or ints; - and + numbers."""
    if op == "~":
        if x.dtype == "float":
            _fail(f"expected a bool tensor for ~ (a comparison gives one), found {describe_value(x)}")
    elif x.dtype == "bool":
        _fail(f"expected a numeric tensor for unary {op}, found {describe_value(x)} (use ~ to negate a mask)")
    return x


def _tensor(value: Any, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        _fail(f"expected a tensor for {name}, found {describe_value(value)}")
    return value


def _ntuple(value: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    return (value,) * n if _is_int(value) else tuple(value)


def _at_least(values: tuple[int, ...], low: int, name: str) -> None:
    if any(v < low for v in values):
        _fail(f"expected {name} of at least {low}, found {values if len(values) > 1 else values[0]}")


_LAYOUTS = {1: ("(N, C, L)", "(C, L)"), 2: ("(N, C, H, W)", "(C, H, W)"), 3: ("(N, C, D, H, W)", "(C, D, H, W)")}


def _channels_first(x: Tensor, n: int, unbatched: bool = True) -> bool:
    """Check an (N, C, *spatial) input, or (C, *spatial) where allowed; return whether batched."""
    batched, single = _LAYOUTS[n]
    if len(x.shape) == n + 2:
        return True
    if unbatched and len(x.shape) == n + 1:
        return False
    also = f" or {n + 1} {single}" if unbatched else ""
    _fail(f"expected {n + 2} dimensions {batched}{also}, found {x}")


def _channels(x: Tensor, batched: bool, expected: int, what: str = "input channels") -> None:
    found = x.shape[1 if batched else 0]
    if found != expected:
        _fail(f"expected {expected} {what} (dim {1 if batched else 0}), found {found} in {x}")


# ------------------------------------------------------------------ linear


def _linear_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x = c["input"]
    if not x.shape:
        _fail(f"expected at least 1 dimension (*, {a['in_features']}), found a 0-d tensor")
    if x.shape[-1] != a["in_features"]:
        _fail(f"expected {a['in_features']} input features (last dim), found {x.shape[-1]} in {x}")
    return Tensor(x.shape[:-1] + (a["out_features"],))


def _bilinear_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x1, x2 = c["input1"], c["input2"]
    for x, key, name in ((x1, "in1_features", "input1"), (x2, "in2_features", "input2")):
        if not x.shape or x.shape[-1] != a[key]:
            _fail(f"expected {a[key]} features in the last dim of {name}, found {x}")
    if x1.shape[:-1] != x2.shape[:-1]:
        _fail(f"expected input1 and input2 to agree in all but the last dim, found {x1} and {x2}")
    return Tensor(x1.shape[:-1] + (a["out_features"],))


# ------------------------------------------------------------------ convolutions


def _conv_params(n: int, transposed: bool) -> tuple[Param, ...]:
    size = f"int|ints:{n}"
    common = (Param("in_channels", "int"), Param("out_channels", "int"), Param("kernel_size", size), Param("stride", size, 1))
    if transposed:
        return common + (
            Param("padding", size, 0),
            Param("output_padding", size, 0),
            Param("groups", "int", 1),
            Param("bias", "bool", True),
            Param("dilation", size, 1),
            # torch's annotation lists all four modes but __init__ accepts only 'zeros'.
            Param("padding_mode", "str:zeros", "zeros"),
        )
    return common + (
        Param("padding", f"padding:{n}", 0),
        Param("dilation", size, 1),
        Param("groups", "int", 1),
        Param("bias", "bool", True),
        Param("padding_mode", "str:zeros|reflect|replicate|circular", "zeros"),
    )


def _conv_setup(a: Mapping[str, Any], x: Tensor, n: int) -> tuple[bool, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Checks shared by convolutions; returns (batched, kernel, stride, dilation)."""
    for key in ("in_channels", "out_channels"):
        if a["groups"] < 1 or a[key] % a["groups"]:
            _fail(f"expected {key} divisible by groups ({a['groups']}), found {a[key]}")
    batched = _channels_first(x, n)
    _channels(x, batched, a["in_channels"])
    k, s, d = (_ntuple(a[key], n) for key in ("kernel_size", "stride", "dilation"))
    _at_least(k, 1, "kernel_size")
    _at_least(s, 1, "stride")
    _at_least(d, 1, "dilation")
    return batched, k, s, d


def _conv_shape(n: int) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
        x = c["input"]
        _, k, s, d = _conv_setup(a, x, n)
        lead = x.shape[: len(x.shape) - n - 1]
        spatial = x.shape[len(x.shape) - n :]
        padding = a["padding"]
        if padding == "same":
            if s != (1,) * n:
                _fail(f"expected stride 1 with padding='same', found stride {a['stride']}")
            # torch pads (total // 2, total - total // 2); the output keeps the input's size.
            pads = [(t // 2, t - t // 2) for t in (di * (ki - 1) for di, ki in zip(d, k))]
        else:
            p = (0,) * n if padding == "valid" else _ntuple(padding, n)
            _at_least(p, 0, "padding")
            pads = [(pi, pi) for pi in p]
        out = []
        for i, (size, (left, right), ki, si, di) in enumerate(zip(spatial, pads, k, s, d)):
            dim = len(x.shape) - n + i
            mode = a["padding_mode"]
            if mode == "reflect" and max(left, right) >= size:
                _fail(f"expected padding smaller than the input (dim {dim}) with padding_mode='reflect', found padding {max(left, right)} for size {size}")
            if mode == "circular" and max(left, right) > size:
                _fail(f"expected padding at most the input size (dim {dim}) with padding_mode='circular', found padding {max(left, right)} for size {size}")
            effective = di * (ki - 1) + 1
            padded = size + left + right
            if padded < effective:
                _fail(f"expected a padded input size of at least {effective} in dim {dim} (kernel {ki}, dilation {di}), found {padded} from {x}")
            out.append((padded - effective) // si + 1)
        return Tensor(lead + (a["out_channels"],) + tuple(out))

    return rule


def _conv_transpose_shape(n: int) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
        x = c["input"]
        _, k, s, d = _conv_setup(a, x, n)
        p = _ntuple(a["padding"], n)
        _at_least(p, 0, "padding")
        lead = x.shape[: len(x.shape) - n - 1]
        spatial = x.shape[len(x.shape) - n :]
        smallest = tuple((size - 1) * si - 2 * pi + di * (ki - 1) + 1 for size, si, pi, di, ki in zip(spatial, s, p, d, k))
        requested = c.get("output_size")
        if requested is not None:
            # As torch's _output_padding: the leading (N, C) may be given too.
            if len(requested) == len(x.shape):
                requested = requested[len(x.shape) - n :]
            if len(requested) != n:
                _fail(f"expected output_size of {n} or {len(x.shape)} ints for a {len(x.shape)}-d input, found {requested}")
            largest = tuple(lo + si - 1 for lo, si in zip(smallest, s))
            if any(not lo <= r <= hi for r, lo, hi in zip(requested, smallest, largest)):
                _fail(f"expected output_size between {smallest} and {largest}, found {tuple(requested)}")
            out = tuple(requested)
        else:
            op = _ntuple(a["output_padding"], n)
            _at_least(op, 0, "output_padding")
            if any(o >= si and o >= di for o, si, di in zip(op, s, d)):
                _fail(f"expected output_padding smaller than stride or dilation, found output_padding {a['output_padding']} with stride {a['stride']} and dilation {a['dilation']}")
            out = tuple(lo + o for lo, o in zip(smallest, op))
        # torch raises for a negative size but returns an empty tensor for 0;
        # an empty feature map is never meant, so both are refused.
        if any(o < 1 for o in out):
            _fail(f"expected an output size of at least 1, found {out} from {x}")
        return Tensor(lead + (a["out_channels"],) + out)

    return rule


def _conv_parameters(n: int) -> Callable[[Mapping[str, Any]], int]:
    def count(a: Mapping[str, Any]) -> int:
        # Conv weight (out, in/groups, *k) and transposed (in, out/groups, *k) have equal size.
        weight = a["in_channels"] * a["out_channels"] // a["groups"] * _numel(_ntuple(a["kernel_size"], n))
        return weight + (a["out_channels"] if a["bias"] else 0)

    return count


# ------------------------------------------------------------------ pooling


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    # ATen's pooling_output_shape, including its ceil_mode correction: the
    # last window must start inside the input or the left padding.
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_shape(n: int, dilation: bool) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Any:
        x = c["input"]
        _channels_first(x, n)
        k = _ntuple(a["kernel_size"], n)
        s = k if a["stride"] is None else _ntuple(a["stride"], n)
        p = _ntuple(a["padding"], n)
        d = _ntuple(a["dilation"], n) if dilation else (1,) * n
        _at_least(k, 1, "kernel_size")
        _at_least(s, 1, "stride")
        _at_least(d, 1, "dilation")
        _at_least(p, 0, "padding")
        if any(pi > ki // 2 for pi, ki in zip(p, k)):
            _fail(f"expected padding at most half the kernel size, found padding {a['padding']} with kernel_size {a['kernel_size']}")
        if a.get("divisor_override") == 0:
            _fail("expected a non-zero divisor_override, found 0")
        spatial = x.shape[len(x.shape) - n :]
        out = tuple(_pool_out(*args, a["ceil_mode"]) for args in zip(spatial, k, s, p, d))
        if any(o < 1 for o in out):
            _fail(f"expected an input large enough for kernel_size {a['kernel_size']}, found {x} (output size {out})")
        y = Tensor(x.shape[: len(x.shape) - n] + out)
        return (y, replace(y, dtype="long")) if a.get("return_indices") else y

    return rule


def _pool_params(n: int, kind: str) -> tuple[Param, ...]:
    size = f"int|ints:{n}"
    if kind == "max":
        return (
            Param("kernel_size", size),
            Param("stride", size + "?", None),
            Param("padding", size, 0),
            Param("dilation", size, 1),
            Param("return_indices", "bool", False),
            Param("ceil_mode", "bool", False),
        )
    params = (
        Param("kernel_size", size),
        Param("stride", size + "?", None),
        Param("padding", size, 0),
        Param("ceil_mode", "bool", False),
        Param("count_include_pad", "bool", True),
    )
    # AvgPool1d has no divisor_override.
    return params + ((Param("divisor_override", "int?", None),) if n > 1 else ())


def _adaptive_shape(n: int) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Any:
        x = c["input"]
        _channels_first(x, n)
        spatial = x.shape[len(x.shape) - n :]
        if any(size < 1 for size in spatial):
            _fail(f"expected non-empty spatial dims, found {x}")
        size = _ntuple(a["output_size"], n)
        out = tuple(s if o is None else o for o, s in zip(size, spatial))
        _at_least(out, 1, "output_size")
        y = Tensor(x.shape[: len(x.shape) - n] + out)
        return (y, replace(y, dtype="long")) if a.get("return_indices") else y

    return rule


def _no_parameters(a: Mapping[str, Any]) -> int:
    return 0


# ------------------------------------------------------------------ normalisation


def _batch_norm_shape(n: int) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
        x = c["input"]
        if n == 1:
            # BatchNorm1d takes (N, C) or (N, C, L); neither is "unbatched".
            if len(x.shape) not in (2, 3):
                _fail(f"expected 2 dimensions (N, C) or 3 (N, C, L), found {x}")
        else:
            _channels_first(x, n, unbatched=False)
        _channels(x, True, a["num_features"], "features")
        return x

    return rule


def _batch_norm_count(a: Mapping[str, Any]) -> int:
    return a["num_features"] * (1 + a["bias"]) if a["affine"] else 0


def _layer_norm_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x = c["input"]
    normalized = _ntuple(a["normalized_shape"], 1)
    _at_least(normalized, 1, "normalized_shape")
    if len(x.shape) < len(normalized) or x.shape[len(x.shape) - len(normalized) :] != normalized:
        _fail(f"expected the last dims to be {Tensor(normalized)} (*, {', '.join(map(str, normalized))}), found {x}")
    return x


def _layer_norm_count(a: Mapping[str, Any]) -> int:
    size = _numel(_ntuple(a["normalized_shape"], 1))
    return size * (1 + a["bias"]) if a["elementwise_affine"] else 0


def _group_norm_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x = c["input"]
    if a["num_groups"] < 1 or a["num_channels"] % a["num_groups"]:
        _fail(f"expected num_channels divisible by num_groups ({a['num_groups']}), found {a['num_channels']}")
    if len(x.shape) < 2:
        _fail(f"expected at least 2 dimensions (N, C, *), found {x}")
    _channels(x, True, a["num_channels"], "channels")
    return x


def _group_norm_count(a: Mapping[str, Any]) -> int:
    return a["num_channels"] * (1 + a["bias"]) if a["affine"] else 0


# ------------------------------------------------------------------ elementwise and reshaping


def _probability(value: float, name: str) -> None:
    if not 0 <= value <= 1:
        _fail(f"expected {name} between 0 and 1, found {value}")


def _same(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    return c["input"]


def _dropout_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    _probability(a["p"], "p")
    return c["input"]


def _softmax_layer_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x = c["input"]
    if a["dim"] is not None:  # None: torch's deprecated implicit choice; the shape is the same
        _dim(a["dim"], len(x.shape))
    return x


def _flatten(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    if not shape:
        _dim(start, 0, "start_dim")
        _dim(end, 0, "end_dim")
        return (1,)
    s, e = _dim(start, len(shape), "start_dim"), _dim(end, len(shape), "end_dim")
    if s > e:
        _fail(f"expected start_dim ({start}) not after end_dim ({end}) for {Tensor(shape)}")
    return shape[:s] + (_numel(shape[s : e + 1]),) + shape[e + 1 :]


def _flatten_layer_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    return Tensor(_flatten(c["input"].shape, a["start_dim"], a["end_dim"]))


def _infer_size(sizes: tuple[int, ...], total: int, what: str) -> tuple[int, ...]:
    """Resolve a single -1 in ``sizes`` so that they multiply to ``total``."""
    if sizes.count(-1) > 1:
        _fail(f"expected at most one -1 in {what}, found {sizes}")
    if any(s < -1 for s in sizes):
        _fail(f"expected sizes of at least 0 (or a single -1) in {what}, found {sizes}")
    known = _numel(tuple(s for s in sizes if s != -1))
    if -1 in sizes:
        if known == 0 or total % known:
            _fail(f"expected {what} {sizes} to fit {total} elements, found no size for -1 that does")
        return tuple(total // known if s == -1 else s for s in sizes)
    if known != total:
        _fail(f"expected {what} {sizes} to hold {total} elements, found {known}")
    return sizes


def _unflatten_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    x = c["input"]
    sizes = a["unflattened_size"]
    if not sizes:
        _fail("expected a non-empty unflattened_size, found ()")
    if not x.shape:
        _fail(f"expected at least 1 dimension, found {x}")
    dim = _dim(a["dim"], len(x.shape))
    new = _infer_size(tuple(sizes), x.shape[dim], f"unflattened_size for dim {a['dim']}")
    return Tensor(x.shape[:dim] + new + x.shape[dim + 1 :])


def _embedding_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    idx = a["padding_idx"]
    if idx is not None and not -a["num_embeddings"] <= idx < a["num_embeddings"]:
        _fail(f"expected padding_idx in [{-a['num_embeddings']}, {a['num_embeddings'] - 1}], found {idx}")
    # The input holds indices: an integer tensor, whose values the example may bound.
    x = c["input"]
    if x.dtype is not None and x.dtype != "long":
        _fail(f"expected integer indices, found a {x.dtype} tensor (give the example input \"dtype\": \"long\")")
    if x.high is not None and x.high > a["num_embeddings"]:
        _fail(f"expected indices below num_embeddings={a['num_embeddings']}, found values up to {x.high - 1}")
    return Tensor(x.shape + (a["embedding_dim"],))


# ------------------------------------------------------------------ lazy layers


def _lazy(rule: ShapeRule, count: Callable[[Mapping[str, Any]], int], key: str, dim: int, layout: str) -> tuple[ShapeRule, Callable[[Mapping[str, Any]], int]]:
    """A lazy layer's rule and count from its eager twin's.

    torch sizes a lazy layer's parameters from its first input: the rule
    records that size under ``key`` in the constructor arguments (the
    instance's own dict), and later calls are checked against it as the
    eager layer would check them. Uncalled, the layer has no parameters yet.
    """

    def lazy_rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Any:
        x = c["input"]
        if key not in a:
            if len(x.shape) < (-dim if dim < 0 else dim + 1):
                _fail(f"expected {layout}, found {x}")
            a[key] = x.shape[dim]  # type: ignore[index]
        return rule(a, c)

    return lazy_rule, lambda a: count(a) if key in a else 0


# ------------------------------------------------------------------ recurrent


def _rnn_params(kind: str) -> tuple[Param, ...]:
    # RNN, LSTM and GRU take *args, **kwargs; these follow their documented
    # overloads (RNNBase's signature without `mode`, RNN with `nonlinearity`
    # fourth, only LSTM with `proj_size`).
    head = (Param("input_size", "int"), Param("hidden_size", "int"), Param("num_layers", "int", 1))
    if kind == "RNN":
        head += (Param("nonlinearity", "str:tanh|relu", "tanh"),)
    tail = (
        Param("bias", "bool", True),
        Param("batch_first", "bool", False),
        Param("dropout", "float", 0.0),
        Param("bidirectional", "bool", False),
    )
    return head + tail + ((Param("proj_size", "int", 0),) if kind == "LSTM" else ())


def _rnn_shape(kind: str) -> ShapeRule:
    def rule(a: Mapping[str, Any], c: Mapping[str, Any]) -> Any:
        hidden, layers = a["hidden_size"], a["num_layers"]
        proj = a.get("proj_size", 0)
        _probability(a["dropout"], "dropout")
        if layers < 1:
            _fail(f"expected num_layers of at least 1, found {layers}")
        if not 0 <= proj < hidden:
            _fail(f"expected proj_size in [0, hidden_size ({hidden})), found {proj}")
        x = c["input"]
        if len(x.shape) not in (2, 3):
            layout = "(N, L, H_in)" if a["batch_first"] else "(L, N, H_in)"
            _fail(f"expected 3 dimensions {layout} or 2 (L, H_in), found {x}")
        if x.shape[-1] != a["input_size"]:
            _fail(f"expected {a['input_size']} input features (last dim), found {x.shape[-1]} in {x}")
        directions = 2 if a["bidirectional"] else 1
        out_size = proj or hidden
        batched = len(x.shape) == 3
        # batch_first reorders input and output only; states are always (D * layers, N, H).
        state: tuple[int, ...] = (directions * layers,)
        if batched:
            state += (x.shape[0] if a["batch_first"] else x.shape[1],)
        h_n = Tensor(state + (out_size,))
        c_n = Tensor(state + (hidden,))
        hx = c["hx"]
        if kind == "LSTM":
            if hx is not None:
                if not (isinstance(hx, tuple) and len(hx) == 2 and all(isinstance(h, Tensor) for h in hx)):
                    _fail(f"expected hx to be a tuple (h_0, c_0) of two tensors, found {describe_value(hx)}")
                for name, given, want in (("h_0", hx[0], h_n), ("c_0", hx[1], c_n)):
                    if given != want:
                        _fail(f"expected {name} of shape {want}, found {given}")
            states: Any = (h_n, c_n)
        else:
            if hx is not None and _tensor(hx, "hx") != h_n:
                _fail(f"expected hx of shape {h_n}, found {hx}")
            states = h_n
        return Tensor(x.shape[:-1] + (directions * out_size,)), states

    return rule


def _rnn_count(gates: int) -> Callable[[Mapping[str, Any]], int]:
    def count(a: Mapping[str, Any]) -> int:
        hidden, proj = a["hidden_size"], a.get("proj_size", 0)
        directions = 2 if a["bidirectional"] else 1
        real = proj or hidden
        total = 0
        for layer in range(a["num_layers"]):
            inputs = a["input_size"] if layer == 0 else real * directions
            per_direction = gates * hidden * (inputs + real)
            per_direction += 2 * gates * hidden if a["bias"] else 0
            per_direction += proj * hidden  # LSTM's projection, weight_hr
            total += directions * per_direction
        return total

    return count


# ------------------------------------------------------------------ attention


def _attention(a: Mapping[str, Any], query: Any, key: Any, value: Any, key_padding_mask: Any, attn_mask: Any, is_causal: bool) -> tuple[int, int, int | None]:
    """Checks of F.multi_head_attention_forward; returns (L, S, N), N None if unbatched.

    ``a`` holds embed_dim, num_heads, kdim, vdim and batch_first.
    """
    embed, heads = a["embed_dim"], a["num_heads"]
    if heads < 1 or embed % heads:
        _fail(f"expected embed_dim divisible by num_heads ({heads}), found {embed}")
    ndim = len(query.shape)
    if ndim not in (2, 3):
        layout = "(N, L, E)" if a["batch_first"] else "(L, N, E)"
        _fail(f"expected 3 dimensions {layout} or 2 (L, E), found {query}")
    if len(key.shape) != ndim or len(value.shape) != ndim:
        _fail(f"expected key and value of {ndim} dimensions like the query, found {key} and {value}")
    for tensor, size, name in ((query, embed, "query"), (key, a["kdim"], "key"), (value, a["vdim"], "value")):
        if tensor.shape[-1] != size:
            _fail(f"expected {size} features in the last dim of {name}, found {tensor}")
    if key.shape[:-1] != value.shape[:-1]:
        _fail(f"expected key and value to agree in all but the last dim, found {key} and {value}")
    if ndim == 2:
        length, src, batch = query.shape[0], key.shape[0], None
        padding_shape: tuple[int, ...] = (src,)
        masks = ((length, src), (heads, length, src))
    else:
        (length, batch), (src, key_batch) = (
            (reversed(query.shape[:2]), reversed(key.shape[:2])) if a["batch_first"] else (query.shape[:2], key.shape[:2])
        )
        if key_batch != batch:
            _fail(f"expected key and value with the query's batch size ({batch}), found {key} and {value}")
        padding_shape = (batch, src)
        masks = ((length, src), (batch * heads, length, src))
    if key_padding_mask is not None and _tensor(key_padding_mask, "key_padding_mask").shape != padding_shape:
        _fail(f"expected key_padding_mask of shape {Tensor(padding_shape)}, found {key_padding_mask}")
    if attn_mask is not None:
        if _tensor(attn_mask, "attn_mask").shape not in masks:
            _fail(f"expected attn_mask of shape {Tensor(masks[0])} or {Tensor(masks[1])}, found {attn_mask}")
    elif is_causal:
        _fail("expected an attn_mask with is_causal=True (torch takes it only as a hint), found None")
    return length, src, batch


def _mha_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> tuple[Tensor, Tensor | None]:
    _probability(a["dropout"], "dropout")
    e = a["embed_dim"]
    dims = dict(a, kdim=e if a["kdim"] is None else a["kdim"], vdim=e if a["vdim"] is None else a["vdim"])
    query = c["query"]
    length, src, batch = _attention(dims, query, c["key"], c["value"], c["key_padding_mask"], c["attn_mask"], c["is_causal"])
    if not c["need_weights"]:
        return query, None
    # bias_k/bias_v and the zero attention each append one key.
    src += int(a["add_bias_kv"]) + int(a["add_zero_attn"])
    lead = () if batch is None else (batch,)
    per_head = () if c["average_attn_weights"] else (a["num_heads"],)
    return query, Tensor(lead + per_head + (length, src))


def _mha_count(a: Mapping[str, Any]) -> int:
    e = a["embed_dim"]
    kdim = e if a["kdim"] is None else a["kdim"]
    vdim = e if a["vdim"] is None else a["vdim"]
    projections = e * (e + kdim + vdim)  # packed (3E, E) when kdim == vdim == E: the same count
    biases = 3 * e + e if a["bias"] else 0  # in_proj_bias and out_proj.bias
    return projections + e * e + biases + (2 * e if a["add_bias_kv"] else 0)


def _encoder_layer_shape(a: Mapping[str, Any], c: Mapping[str, Any]) -> Tensor:
    _probability(a["dropout"], "dropout")
    src = c["src"]
    e = a["d_model"]
    dims = {"embed_dim": e, "num_heads": a["nhead"], "kdim": e, "vdim": e, "batch_first": a["batch_first"]}
    _attention(dims, src, src, src, c["src_key_padding_mask"], c["src_mask"], c["is_causal"])
    return src


def _encoder_layer_count(a: Mapping[str, Any]) -> int:
    e, ff, bias = a["d_model"], a["dim_feedforward"], a["bias"]
    attention = 4 * e * e + (4 * e if bias else 0)
    feedforward = 2 * e * ff + ((ff + e) if bias else 0)
    norms = 2 * e * (1 + bias)
    return attention + feedforward + norms


# ------------------------------------------------------------------ the layers


def _build_layers() -> dict[str, Layer]:
    layers: list[Layer] = []
    add = layers.append
    t = Param("input", "tensor")

    add(_layer(
        "Linear",
        (Param("in_features", "int"), Param("out_features", "int"), Param("bias", "bool", True)),
        _linear_shape,
        lambda a: a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0),
        ({"in_features": 20, "out_features": 8}, ((2, 20),)),
        positional=2, inferred="in_features", inferred_dim=-1,
    ))
    add(_layer(
        "Bilinear",
        (Param("in1_features", "int"), Param("in2_features", "int"), Param("out_features", "int"), Param("bias", "bool", True)),
        _bilinear_shape,
        lambda a: a["out_features"] * (a["in1_features"] * a["in2_features"] + (1 if a["bias"] else 0)),
        ({"in1_features": 3, "in2_features": 4, "out_features": 5}, ((2, 3), (2, 4))),
        call=(Param("input1", "tensor"), Param("input2", "tensor")),
        positional=3,
    ))
    for n, size in ((1, (2, 3, 10)), (2, (2, 3, 10, 9)), (3, (1, 3, 6, 5, 4))):
        # Channels sit at dim -(n+1) in both batched and unbatched inputs.
        add(_layer(
            f"Conv{n}d", _conv_params(n, False), _conv_shape(n), _conv_parameters(n),
            ({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1, "stride": 2}, (size,)),
            positional=2, inferred="in_channels", inferred_dim=-(n + 1),
        ))
    for n, size in ((1, (2, 3, 10)), (2, (2, 3, 5, 4))):
        add(_layer(
            f"ConvTranspose{n}d", _conv_params(n, True), _conv_transpose_shape(n), _conv_parameters(n),
            ({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, (size,)),
            call=(t, Param("output_size", "ints?", None)),
            positional=2, inferred="in_channels", inferred_dim=-(n + 1),
        ))
    for n, size in ((1, (2, 3, 10)), (2, (2, 3, 10, 9))):
        add(_layer(
            f"MaxPool{n}d", _pool_params(n, "max"), _pool_shape(n, dilation=True), _no_parameters,
            ({"kernel_size": 3, "stride": 2}, (size,)),
        ))
        add(_layer(
            f"AvgPool{n}d", _pool_params(n, "avg"), _pool_shape(n, dilation=False), _no_parameters,
            ({"kernel_size": 2, "stride": 2}, (size,)),
        ))
    add(_layer(
        "AdaptiveAvgPool1d", (Param("output_size", "size:1"),), _adaptive_shape(1), _no_parameters,
        ({"output_size": 4}, ((2, 3, 10),)), positional=1,
    ))
    add(_layer(
        "AdaptiveAvgPool2d", (Param("output_size", "size:2"),), _adaptive_shape(2), _no_parameters,
        ({"output_size": (1, 1)}, ((2, 3, 7, 5),)), positional=1,
    ))
    add(_layer(
        "AdaptiveMaxPool2d", (Param("output_size", "size:2"), Param("return_indices", "bool", False)),
        _adaptive_shape(2), _no_parameters,
        ({"output_size": (3, None)}, ((2, 3, 7, 5),)), positional=1,
    ))
    norm_tail = (
        Param("eps", "float", 1e-05),
        Param("momentum", "float?", 0.1),
        Param("affine", "bool", True),
        Param("track_running_stats", "bool", True),
        Param("bias", "bool", True),  # keyword-only in torch, after device and dtype
    )
    for n, size in ((1, (4, 3, 5)), (2, (2, 3, 4, 5))):
        add(_layer(
            f"BatchNorm{n}d", (Param("num_features", "int"),) + norm_tail, _batch_norm_shape(n), _batch_norm_count,
            ({"num_features": 3}, (size,)),
            positional=1, keyword_only=frozenset({"bias"}), inferred="num_features", inferred_dim=1,
        ))
    lazy_rule, lazy_count = _lazy(
        _linear_shape, lambda a: a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0),
        "in_features", -1, "at least 1 dimension (*, in_features)",
    )
    add(_layer(
        "LazyLinear", (Param("out_features", "int"), Param("bias", "bool", True)), lazy_rule, lazy_count,
        ({"out_features": 8}, ((2, 20),)), positional=1,
    ))
    lazy_rule, lazy_count = _lazy(_conv_shape(2), _conv_parameters(2), "in_channels", -3, "4 dimensions (N, C, H, W) or 3 (C, H, W)")
    add(_layer(
        "LazyConv2d", _conv_params(2, False)[1:], lazy_rule, lazy_count,
        ({"out_channels": 4, "kernel_size": 3, "padding": 1, "stride": 2}, ((2, 3, 10, 9),)), positional=1,  # the book: (num_channels, kernel_size=3)
    ))
    lazy_rule, lazy_count = _lazy(_batch_norm_shape(2), _batch_norm_count, "num_features", 1, "4 dimensions (N, C, H, W)")
    add(_layer("LazyBatchNorm2d", norm_tail, lazy_rule, lazy_count, ({}, ((2, 3, 4, 5),)), keyword_only=frozenset({"bias"})))
    add(_layer(
        "LayerNorm",
        (Param("normalized_shape", "int|ints"), Param("eps", "float", 1e-05), Param("elementwise_affine", "bool", True), Param("bias", "bool", True)),
        _layer_norm_shape, _layer_norm_count,
        ({"normalized_shape": (3, 4)}, ((2, 3, 4),)), positional=1,
    ))
    add(_layer(
        "GroupNorm",
        (Param("num_groups", "int"), Param("num_channels", "int"), Param("eps", "float", 1e-05), Param("affine", "bool", True), Param("bias", "bool", True)),
        _group_norm_shape, _group_norm_count,
        ({"num_groups": 2, "num_channels": 6}, ((2, 6, 4, 4),)),
        positional=2, keyword_only=frozenset({"bias"}), inferred="num_channels", inferred_dim=1,
    ))
    add(_layer(
        "Dropout", (Param("p", "float", 0.5), Param("inplace", "bool", False)), _dropout_shape, _no_parameters,
        ({"p": 0.5}, ((2, 5),)),
    ))
    add(_layer(
        "Embedding",
        (
            Param("num_embeddings", "int"),
            Param("embedding_dim", "int"),
            Param("padding_idx", "int?", None),
            Param("max_norm", "float?", None),
            Param("norm_type", "float", 2.0),
            Param("scale_grad_by_freq", "bool", False),
            Param("sparse", "bool", False),
            # torch's private _weight and _freeze are left out.
        ),
        _embedding_shape,
        lambda a: a["num_embeddings"] * a["embedding_dim"],
        ({"num_embeddings": 10, "embedding_dim": 4}, ((2, 7),)),
        positional=2,
    ))
    add(_layer(
        "Flatten", (Param("start_dim", "int", 1), Param("end_dim", "int", -1)), _flatten_layer_shape, _no_parameters,
        ({}, ((2, 3, 4, 5),)),
    ))
    add(_layer(
        "Unflatten", (Param("dim", "int"), Param("unflattened_size", "ints")), _unflatten_shape, _no_parameters,
        ({"dim": 1, "unflattened_size": (3, -1)}, ((2, 12),)), positional=2,
    ))
    # Identity, Sigmoid and Tanh take (*args, **kwargs) and ignore them.
    for name in ("Identity", "Sigmoid", "Tanh"):
        add(_layer(name, (), _same, _no_parameters, ({}, ((2, 3),))))
    add(_layer("ReLU", (Param("inplace", "bool", False),), _same, _no_parameters, ({}, ((2, 3),))))
    add(_layer("SiLU", (Param("inplace", "bool", False),), _same, _no_parameters, ({}, ((2, 3),))))
    add(_layer("ReLU6", (Param("inplace", "bool", False),), _same, _no_parameters, ({}, ((2, 3),))))
    add(_layer(
        "LeakyReLU", (Param("negative_slope", "float", 0.01), Param("inplace", "bool", False)), _same, _no_parameters,
        ({"negative_slope": 0.2}, ((2, 3),)),
    ))
    add(_layer("GELU", (Param("approximate", "str:none|tanh", "none"),), _same, _no_parameters, ({"approximate": "tanh"}, ((2, 3),))))
    for name in ("Softmax", "LogSoftmax"):
        add(_layer(name, (Param("dim", "int?", None),), _softmax_layer_shape, _no_parameters, ({"dim": -1}, ((2, 3),))))
    for kind, gates in (("RNN", 1), ("LSTM", 4), ("GRU", 3)):
        add(_layer(
            kind, _rnn_params(kind), _rnn_shape(kind), _rnn_count(gates),
            ({"input_size": 5, "hidden_size": 4, "num_layers": 2}, ((7, 2, 5),)),
            call=(t, Param("hx", "tensors?" if kind == "LSTM" else "tensor?", None)),
            positional=2,
        ))
    add(_layer(
        "MultiheadAttention",
        (
            Param("embed_dim", "int"),
            Param("num_heads", "int"),
            Param("dropout", "float", 0.0),
            Param("bias", "bool", True),
            Param("add_bias_kv", "bool", False),
            Param("add_zero_attn", "bool", False),
            Param("kdim", "int?", None),
            Param("vdim", "int?", None),
            Param("batch_first", "bool", False),
        ),
        _mha_shape, _mha_count,
        ({"embed_dim": 8, "num_heads": 2}, ((5, 2, 8), (6, 2, 8), (6, 2, 8))),
        call=(
            Param("query", "tensor"),
            Param("key", "tensor"),
            Param("value", "tensor"),
            Param("key_padding_mask", "tensor?", None),
            Param("need_weights", "bool", True),
            Param("attn_mask", "tensor?", None),
            Param("average_attn_weights", "bool", True),
            Param("is_causal", "bool", False),
        ),
        positional=2,
    ))
    add(_layer(
        "TransformerEncoderLayer",
        (
            Param("d_model", "int"),
            Param("nhead", "int"),
            Param("dim_feedforward", "int", 2048),
            Param("dropout", "float", 0.1),
            # torch's default is the function F.relu, which the string selects too.
            Param("activation", "str:relu|gelu", "relu"),
            Param("layer_norm_eps", "float", 1e-05),
            Param("batch_first", "bool", False),
            Param("norm_first", "bool", False),
            Param("bias", "bool", True),
        ),
        _encoder_layer_shape, _encoder_layer_count,
        ({"d_model": 8, "nhead": 2, "dim_feedforward": 16}, ((5, 2, 8),)),
        call=(
            Param("src", "tensor"),
            Param("src_mask", "tensor?", None),
            Param("src_key_padding_mask", "tensor?", None),
            Param("is_causal", "bool", False),
        ),
        positional=2,
    ))
    return {layer.name: layer for layer in layers}


LAYERS: dict[str, Layer] = _build_layers()


# ------------------------------------------------------------------ functions and methods


def _elementwise(b: Mapping[str, Any]) -> Tensor:
    return b["input"] if "input" in b else b["self"]


def _softmax_shape(b: Mapping[str, Any]) -> Tensor:
    x = _elementwise(b)
    _dim(b["dim"], len(x.shape))
    return x


def _same_dtype(a: Tensor, b: Tensor, what: str) -> None:
    if a.dtype != b.dtype:
        _fail(f"expected {what} of one dtype, found {describe_value(a)} and {describe_value(b)}")


def _mm_shape(b: Mapping[str, Any]) -> Tensor:
    a = b["input"] if "input" in b else b["self"]
    m = _tensor(b["mat2"], "mat2")
    _same_dtype(a, m, "two operands")
    if len(a.shape) != 2 or len(m.shape) != 2:
        _fail(f"expected two 2-d tensors, found {a} and {m}")
    if a.shape[1] != m.shape[0]:
        _fail(f"expected mat2 with {a.shape[1]} rows (the first operand's columns), found {a} and {m}")
    return Tensor((a.shape[0], m.shape[1]))


def _matmul_shape(b: Mapping[str, Any]) -> Tensor:
    a = b["input"] if "input" in b else b["self"]
    other = _tensor(b["other"], "other")
    _same_dtype(a, other, "two operands")
    return Tensor(matmul_shape(a.shape, other.shape))


def _bmm_shape(b: Mapping[str, Any]) -> Tensor:
    a, m = b["input"], _tensor(b["mat2"], "mat2")
    _same_dtype(a, m, "two operands")
    if len(a.shape) != 3 or len(m.shape) != 3:
        _fail(f"expected two 3-d tensors (batch, n, m) and (batch, m, p), found {a} and {m}")
    if a.shape[0] != m.shape[0]:
        _fail(f"expected mat2 with the same batch size ({a.shape[0]}), found {a} and {m}")
    if a.shape[2] != m.shape[1]:
        _fail(f"expected mat2 with {a.shape[2]} rows (the first operand's dim 2), found {a} and {m}")
    return Tensor((a.shape[0], a.shape[1], m.shape[2]))


def _cat_shape(b: Mapping[str, Any]) -> Tensor:
    tensors = b["tensors"]
    for i, x in enumerate(tensors):
        if not x.shape:
            _fail(f"expected tensors of at least 1 dimension, found a 0-d tensor at position {i}")
    # torch skips legacy empty 1-d tensors, shape (0,), whatever the others' shapes.
    shapes = [x.shape for x in tensors if x.shape != (0,)] or [(0,)]
    first = shapes[0]
    dim = _dim(b["dim"], len(first))
    for shape in shapes[1:]:
        if len(shape) != len(first) or any(s != f for i, (s, f) in enumerate(zip(shape, first)) if i != dim):
            _fail(f"expected tensors of one shape except in dim {b['dim']}, found {', '.join(str(x) for x in tensors)}")
    return Tensor(first[:dim] + (sum(s[dim] for s in shapes),) + first[dim + 1 :], promote(*tensors))


def _stack_shape(b: Mapping[str, Any]) -> Tensor:
    tensors = b["tensors"]
    first = tensors[0].shape
    if any(x.shape != first for x in tensors):
        _fail(f"expected tensors of one shape, found {', '.join(str(x) for x in tensors)}")
    dim = _dim(b["dim"], len(first) + 1)
    return Tensor(first[:dim] + (len(tensors),) + first[dim:], promote(*tensors))


def _flatten_shape(b: Mapping[str, Any]) -> Tensor:
    return Tensor(_flatten(_elementwise(b).shape, b["start_dim"], b["end_dim"]))


def _reduce(shape: tuple[int, ...], dim: Any, keepdim: bool) -> tuple[int, ...]:
    if dim is None:
        return (1,) * len(shape) if keepdim else ()
    dims = _dims(dim, len(shape))
    if not shape:
        return ()
    return tuple(1 if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


def _reduce_shape(b: Mapping[str, Any]) -> Tensor:
    dim, keepdim = b["dim"], b["keepdim"]
    if dim is OMITTED and keepdim is not OMITTED:
        _fail(f"expected dim to be given with keepdim (torch has no sum/mean(keepdim=...) alone), found keepdim={keepdim} only")
    return Tensor(_reduce(b["self"].shape, None if dim is OMITTED else dim, keepdim is True))


def _norm_shape(b: Mapping[str, Any]) -> Tensor:
    x, p, dim = b["self"], b["p"], b["dim"]
    if p in ("fro", "nuc"):
        # A matrix norm: over two dims, or (fro) one dim or the whole tensor.
        count = len(x.shape) if dim is None else 1 if _is_int(dim) else len(dim)
        if p == "nuc" and count != 2 or p == "fro" and dim is not None and count > 2:
            _fail(f"expected dim to name 2 dims for p={p!r}, found dim={dim} for {x}")
    return Tensor(_reduce(x.shape, dim, b["keepdim"]))


def _reshape_shape(b: Mapping[str, Any]) -> Tensor:
    x, shape = b["self"], b["shape"]
    # An empty shape is refused: x.reshape() raises, and once bound it cannot
    # be told from x.reshape(()).
    if not _is_ints(shape) or not shape:
        _fail(f"expected the new shape as one or more ints, found {describe_value(shape)}")
    return Tensor(_infer_size(tuple(shape), _numel(x.shape), f"shape for {x}"))


def _transpose_shape(b: Mapping[str, Any]) -> Tensor:
    x = b["self"]
    shape = list(x.shape)
    i, j = _dim(b["dim0"], len(shape), "dim0"), _dim(b["dim1"], len(shape), "dim1")
    if shape:
        shape[i], shape[j] = shape[j], shape[i]
    return Tensor(tuple(shape))


def _permute_shape(b: Mapping[str, Any]) -> Tensor:
    x, dims = b["self"], b["dims"]
    # As for reshape, x.permute() raises; a 0-d tensor has nothing to permute anyway.
    if not _is_ints(dims) or not dims or len(dims) != len(x.shape):
        _fail(f"expected {len(x.shape)} dims (one per dimension of {x}), found {describe_value(dims)}")
    order = _dims(dims, len(x.shape), "dims")
    return Tensor(tuple(x.shape[i] for i in order))


def _unsqueeze_shape(b: Mapping[str, Any]) -> Tensor:
    x = b["self"]
    dim = _dim(b["dim"], len(x.shape) + 1)
    return Tensor(x.shape[:dim] + (1,) + x.shape[dim:])


def _squeeze_shape(b: Mapping[str, Any]) -> Tensor:
    x, dim = b["self"], b["dim"]
    dims = range(len(x.shape)) if dim is OMITTED else _dims(dim, len(x.shape))
    return Tensor(tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def _t_shape(b: Mapping[str, Any]) -> Tensor:
    x = b["self"]
    if len(x.shape) > 2:
        _fail(f"expected at most 2 dimensions, found {x}")
    return Tensor(tuple(reversed(x.shape)))

def _arange_shape(b: Mapping[str, Any]) -> Tensor:
    start, end, step = b["start"], b["end"], b["step"]
    if end is None:  # arange(end)
        start, end = 0, start
    if step == 0:
        _fail("expected a non-zero step, found 0")
    count = (end - start) / step
    if count < 0:
        _fail(f"expected end ({end}) on the side of start ({start}) that step ({step}) moves to")
    if not count <= 2**31:  # also inf, from a tiny step
        _fail(f"expected at most 2**31 elements, found {count}")
    length = math.ceil(count)
    if length > 2**31:
        _fail(f"expected at most 2**31 elements, found {length}")
    written = (b["start"], b["end"], b["step"])
    kind = b["dtype"].kind if b["dtype"] is not None else "float" if any(isinstance(v, float) for v in written) else "long"
    return Tensor((length,), kind)


def _new_shape(b: Mapping[str, Any]) -> Tensor:
    size = b["size"]
    if not _is_ints(size) or any(d < 0 for d in size):
        _fail(f"expected sizes of at least 0, found {describe_value(size)}")
    return Tensor(tuple(size), b["dtype"].kind if b["dtype"] is not None else "float")


def _rand_shape(b: Mapping[str, Any]) -> Tensor:
    return _new_shape(dict(b, dtype=None))  # uniform and normal draws are float32


def _one_hot_shape(b: Mapping[str, Any]) -> Tensor:
    x, n = b["input"], b["num_classes"]
    if n < 1:
        _fail(f"expected num_classes of at least 1 (torch's -1, 'from the data', cannot be checked), found {n}")
    return Tensor(x.shape + (n,), "long")


def _full_shape(b: Mapping[str, Any]) -> Tensor:
    value = b["fill_value"]
    shape = _new_shape(dict(b, dtype=None))
    return replace(shape, dtype=b["dtype"].kind if b["dtype"] is not None else scalar_dtype(value))


def _repeat_interleave_shape(b: Mapping[str, Any]) -> Tensor:
    x, repeats, dim = b["input"], b["repeats"], b["dim"]
    if repeats < 0:
        _fail(f"expected repeats of at least 0, found {repeats}")
    if dim is None:  # the flattened input
        return Tensor((_numel(x.shape) * repeats,))
    d = _dim(dim, len(x.shape))
    if not x.shape:
        return Tensor((repeats,))
    return Tensor(x.shape[:d] + (x.shape[d] * repeats,) + x.shape[d + 1 :])


def _where_shape(b: Mapping[str, Any]) -> Tensor:
    condition, x, y = b["condition"], b["input"], b["other"]
    if condition.dtype != "bool":
        _fail(f"expected a bool condition (a comparison, or a mask), found {describe_value(condition)}")
    shape = condition.shape
    for value in (x, y):
        if isinstance(value, Tensor):
            shape = broadcast(shape, value.shape)
    return Tensor(shape, promote(x, y))


def _pow_shape(b: Mapping[str, Any]) -> Tensor:
    base, exponent = b["input"] if "input" in b else b["self"], b["exponent"]  # torch.pow(x, e), x.pow(e)
    if not isinstance(base, Tensor) and not isinstance(exponent, Tensor):
        _fail(f"expected a tensor as input or exponent, found {describe_value(base)} and {describe_value(exponent)}")
    kind = promote(base, exponent)
    if kind == "bool":
        _fail("expected a numeric tensor (long or float), found only bools")
    if kind == "long" and _is_int(exponent) and exponent < 0:
        _fail(f"expected a non-negative exponent for integers (torch refuses them), found {exponent}")
    shape = broadcast(base.shape if isinstance(base, Tensor) else (), exponent.shape if isinstance(exponent, Tensor) else ())
    return Tensor(shape, kind)


def _masked_fill_shape(b: Mapping[str, Any]) -> Tensor:
    x, mask, value = b["self"], b["mask"], b["value"]
    if mask.dtype != "bool":
        _fail(f"expected a bool mask, found {describe_value(mask)}")
    if isinstance(value, Tensor) and value.shape:
        _fail(f"expected a number or a 0-d tensor as value, found {describe_value(value)}")
    return Tensor(broadcast(x.shape, mask.shape), x.dtype)


def _expand_shape(b: Mapping[str, Any]) -> Tensor:
    x, sizes = b["self"], b["size"]
    if not _is_ints(sizes) or not sizes or len(sizes) < len(x.shape):
        _fail(f"expected at least {max(len(x.shape), 1)} sizes (one per dimension of {x}, new ones first), found {describe_value(sizes)}")
    lead = len(sizes) - len(x.shape)
    out = []
    for i, size in enumerate(sizes):
        if i < lead:
            if size < 0:
                _fail(f"expected a size of at least 0 for the new dim {i}, found {size}")
            out.append(size)
            continue
        old = x.shape[i - lead]
        if size == -1:
            out.append(old)
        elif size == old or old == 1 and size >= 0:
            out.append(size)
        else:
            _fail(f"expected size {old} (or -1) for dim {i} of {x}, or any size where it is 1, found {size}")
    return Tensor(tuple(out))


def _to_shape(b: Mapping[str, Any]) -> Tensor:
    x, target = b["self"], b["dtype"]
    return replace(x, dtype=target.kind) if isinstance(target, DType) else x


def _float_shape(b: Mapping[str, Any]) -> Tensor:
    return replace(b["self"], dtype="float")


def _split_shape(b: Mapping[str, Any]) -> Chunks:
    """``x.split(size, dim)``: chunks of ``size`` along dim (the last one smaller), or the sizes listed."""
    x, size = b["self"], b["split_size"]
    if not x.shape:
        _fail(f"expected a tensor with at least one dimension, found {x}")
    dim = _dim(b["dim"], len(x.shape))
    n = x.shape[dim]
    if _is_int(size):
        if size < 1:
            _fail(f"expected a split size of at least 1, found {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = list(size)
        if not sizes or any(s < 0 for s in sizes) or sum(sizes) != n:
            _fail(f"expected split sizes that sum to {n} (dimension {b['dim']} of {x}), found {describe_value(size)}")
    return Chunks(Tensor(x.shape[:dim] + (s,) + x.shape[dim + 1:], x.dtype) for s in sizes)


def _sdpa_shape(b: Mapping[str, Any]) -> Tensor:
    """``F.scaled_dot_product_attention(q, k, v)``: q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev)."""
    q, k, v, mask = b["query"], b["key"], b["value"], b["attn_mask"]
    for name in ("query", "key", "value"):
        if len(b[name].shape) < 2:
            _fail(f"expected {name} of at least 2 dimensions (..., length, embedding), found {b[name]}")
    if not q.dtype == k.dtype == v.dtype == "float":
        _fail(f"expected float query, key and value, found {describe_value(q)}, {describe_value(k)} and {describe_value(v)}")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        _fail(f"expected query, key and value with the same leading dimensions, found {q}, {k} and {v}")
    if q.shape[-1] != k.shape[-1]:
        _fail(f"expected query and key of one embedding size (last dimension), found {q} and {k}")
    if k.shape[-2] != v.shape[-2]:
        _fail(f"expected key and value of one length (dimension -2), found {k} and {v}")
    scores = q.shape[:-1] + (k.shape[-2],)
    if mask is not None:
        if b["is_causal"]:
            _fail("expected attn_mask=None with is_causal=True (torch refuses both)")
        try:
            fits = broadcast(mask.shape, scores) == scores
        except ShapeError:
            fits = False
        if mask.dtype == "long" or not fits:
            _fail(f"expected a bool or float attn_mask broadcastable to the scores {Tensor(scores)}, found {describe_value(mask)}")
        if len(q.shape) == 4 and len(mask.shape) < 2:  # torch's CPU kernel for 4-d inputs indexes the mask's dim -2
            _fail(f"expected an attn_mask of at least 2 dimensions with a 4-d query, found {describe_value(mask)}")
    if not 0 <= b["dropout_p"] <= 1:
        _fail(f"expected dropout_p in [0, 1], found {b['dropout_p']}")
    return Tensor(q.shape[:-1] + (v.shape[-1],), q.dtype)


def _type_as_shape(b: Mapping[str, Any]) -> Tensor:
    """``x.type_as(other)``: x's shape in other's dtype (Llama's RMSNorm casts back after a float32 norm)."""
    return replace(b["self"], dtype=b["other"].dtype)


def _flip_shape(b: Mapping[str, Any]) -> Tensor:
    x = b["self"]
    _dims(tuple(b["dims"]), len(x.shape), "dims")
    return x


def _long_shape(b: Mapping[str, Any]) -> Tensor:
    return replace(b["self"], dtype="long")


def _dim_value(b: Mapping[str, Any]) -> int:
    return len(b["self"].shape)


def _size_value(b: Mapping[str, Any]) -> Any:
    x, dim = b["self"], b["dim"]
    if dim is OMITTED:
        return x.shape
    if not x.shape:
        _fail(f"expected a tensor of at least 1 dimension for size(dim), found {x}")
    return x.shape[_dim(dim, len(x.shape))]


def transposed(x: Tensor) -> Tensor:
    """``x.T``: refused beyond 2 dimensions, where torch deprecates it (use .transpose or .permute)."""
    if len(x.shape) > 2:
        _fail(f"expected at most 2 dimensions for .T (use .transpose(d0, d1) or .permute(...)), found {x}")
    return Tensor(tuple(reversed(x.shape)), x.dtype)


# ------------------------------------------------------------------ indexing


_MASKED = -1  # in an index's result: a dim of as many elements as a mask holds True, unknown here


def index_shape(x: Tensor, index: Any, assign: bool = False) -> Tensor:
    """The shape of ``x[index]``, as torch indexes.

    ``index`` is one item or a tuple of items: an int, a ``slice``, None (a
    new dim of 1), ``...`` (Ellipsis), or an index tensor (long: its values
    pick; bool: a mask over as many dims as it has). Ints select first (they
    drop their dim without taking part in advanced indexing); the shape of
    the index tensors, broadcast together, replaces their dims where they
    are adjacent, and comes first where they are not. A mask selects as
    many elements as it holds True, which depends on the data: refused when
    reading, allowed in an assignment (``x[mask] = value``), where that dim
    is ``_MASKED``.
    """
    items = index if isinstance(index, tuple) else (index,)
    consumed = 0
    for item in items:
        if isinstance(item, Tensor):
            if item.dtype == "float":
                _fail(f"expected index tensors of dtype long or bool, found {describe_value(item)}")
            if item.dtype == "bool" and not item.shape:
                _fail("expected a bool mask of at least 1 dimension, found a 0-d one")
            consumed += len(item.shape) if item.dtype == "bool" else 1
        elif _is_int(item) or isinstance(item, slice):
            consumed += 1
        elif item is not None and item is not Ellipsis:
            _fail(f"expected an index of ints, slices, None, ... or index tensors, found {describe_value(item)}")
    if sum(item is Ellipsis for item in items) > 1:
        _fail("expected at most one ... in an index, found several")
    ndim = len(x.shape)
    if consumed > ndim:
        _fail(f"expected at most {ndim} indexed dims for {x}, found {consumed}")
    expanded: list[Any] = []
    for item in items:
        expanded += [slice(None)] * (ndim - consumed) if item is Ellipsis else [item]
    if Ellipsis not in items:
        expanded += [slice(None)] * (ndim - consumed)
    out: list[Any] = []
    picks: list[tuple[int, tuple[int, ...]]] = []  # (place in out, shape) of each index tensor
    dim = 0
    for item in expanded:
        if item is None:
            out.append(1)
        elif _is_int(item) or isinstance(item, Tensor) and item.dtype == "long" and not item.shape:
            if _is_int(item) and not -x.shape[dim] <= item < x.shape[dim]:
                _fail(f"expected an index in [{-x.shape[dim]}, {x.shape[dim] - 1}] for dim {dim} of {x}, found {item}")
            dim += 1  # selected: the dim goes
        elif isinstance(item, slice):
            for part, name in ((item.start, "start"), (item.stop, "stop"), (item.step, "step")):
                if part is not None and not _is_int(part):
                    _fail(f"expected ints or None in a slice, found {name} {describe_value(part)}")
            if item.step is not None and item.step < 1:
                _fail(f"expected a positive slice step, found {item.step}")
            out.append(len(range(*item.indices(x.shape[dim]))))
            dim += 1
        elif item.dtype == "bool":
            size = x.shape[dim : dim + len(item.shape)]
            if item.shape != size:
                _fail(f"expected a mask of shape {Tensor(size)} (dims {dim} on of {x}), found {describe_value(item)}")
            if not assign:
                _fail(
                    "expected no bool mask when reading: the number of elements it selects depends on the data; "
                    "use torch.where or masked_fill, or assign through it (X[mask] = value)"
                )
            picks.append((len(out), (_MASKED,)))
            out.append(None)
            dim += len(item.shape)
        else:
            picks.append((len(out), item.shape))
            out.append(None)
            dim += 1
    if not picks:
        return Tensor(tuple(out), x.dtype)
    if any(shape == (_MASKED,) for _, shape in picks) and len(picks) > 1:
        _fail("expected a bool mask as the only index tensor, found it combined with others")
    picked: tuple[int, ...] = ()
    for _, shape in picks:
        picked = shape if shape == (_MASKED,) else broadcast(picked, shape)
    places = [place for place, _ in picks]
    rest = [d for d in out if d is not None]
    if places == list(range(places[0], places[0] + len(places))):
        before = [d for d in out[: places[0]] if d is not None]
        result = before + list(picked) + rest[len(before) :]
    else:
        result = list(picked) + rest
    return Tensor(tuple(result), x.dtype)


def check_setitem(x: Tensor, index: Any, value: Any) -> None:
    """Raise ShapeError unless ``x[index] = value`` works in torch (it changes nothing of x's shape).

    The value is a scalar, or a tensor that broadcasts to the indexed part
    once its leading dims of 1 are dropped (as torch drops them); through
    index tensors torch copies only a value of x's own dtype (a single
    element through a mask is a fill, which converts).
    """
    target = index_shape(x, index, assign=True).shape
    if not isinstance(value, Tensor):
        if not (isinstance(value, bool) or _is_number(value)):
            _fail(f"expected a number, a bool or a tensor as the value, found {describe_value(value)}")
        return
    shape = value.shape
    while shape and shape[0] == 1:
        shape = shape[1:]
    fits = len(shape) <= len(target) and all(
        v == 1 or v == t for v, t in zip(reversed(shape), reversed(target))
    )
    if not fits:
        shown = tuple("k" if t == _MASKED else t for t in target)
        _fail(f"expected a value that broadcasts to the indexed shape ({', '.join(map(str, shown))}), found {describe_value(value)}")
    indexes = index if isinstance(index, tuple) else (index,)
    picks = any(isinstance(i, Tensor) and i.dtype == "long" and i.shape for i in indexes)
    masks = any(isinstance(i, Tensor) and i.dtype == "bool" for i in indexes)
    if value.dtype != x.dtype and (picks or masks and _numel(value.shape) != 1):
        _fail(f"expected a value of x's dtype ({x.dtype}) through index tensors, found {describe_value(value)}")


def _layer_norm_function_shape(b: Mapping[str, Any]) -> Tensor:
    x, normalized = b["input"], _ntuple(b["normalized_shape"], 1)
    _at_least(normalized, 1, "normalized_shape")
    if len(x.shape) < len(normalized) or x.shape[len(x.shape) - len(normalized) :] != normalized:
        _fail(f"expected the last dims to be {Tensor(normalized)}, found {x}")
    for name in ("weight", "bias"):
        if b[name] is not None and b[name].shape != normalized:
            _fail(f"expected {name} of shape {Tensor(normalized)}, found {b[name]}")
    return x


def _build_functions() -> dict[str, Function]:
    x = Param("input", "tensor")
    inplace = Param("inplace", "bool", False)
    a, b = {"input": Tensor((2, 3))}, {"input": Tensor((4,))}
    dtype, device = Param("dtype", "dtype?", None), Param("device", "device?", None)
    entries = [
        _function("F.relu", (x, inplace), _elementwise, a, dtypes="numeric"),
        _function(
            "F.gelu", (x, Param("approximate", "str:none|tanh", "none")), _elementwise,
            a, {"input": Tensor((3,)), "approximate": "tanh"}, keyword_only=("approximate",), dtypes="float",
        ),
        _function("F.silu", (x, inplace), _elementwise, a, dtypes="float"),
        _function("F.sigmoid", (x,), _elementwise, a, dtypes="to_float"),
        _function("F.tanh", (x,), _elementwise, a, dtypes="to_float"),
        _function("F.leaky_relu", (x, Param("negative_slope", "float", 0.01), inplace), _elementwise, a, dtypes="float"),
        _function(
            "F.layer_norm",
            (x, Param("normalized_shape", "ints"), Param("weight", "tensor?", None), Param("bias", "tensor?", None), Param("eps", "float", 1e-5)),
            _layer_norm_function_shape,
            {"input": Tensor((2, 3)), "normalized_shape": (3,), "weight": Tensor((3,)), "bias": Tensor((3,))},
            {"input": Tensor((2, 4, 3)), "normalized_shape": (3,), "weight": Tensor((3,)), "bias": None, "eps": 1e-6},
            {"input": Tensor((2, 4, 3)), "normalized_shape": (4, 3)},
            dtypes="float",
        ),
        _function(
            "F.scaled_dot_product_attention",
            (
                Param("query", "tensor"), Param("key", "tensor"), Param("value", "tensor"), Param("attn_mask", "tensor?", None),
                Param("dropout_p", "float", 0.0), Param("is_causal", "bool", False), Param("scale", "float?", None),
            ),
            _sdpa_shape,
            {"query": Tensor((2, 4, 5, 8)), "key": Tensor((2, 4, 5, 8)), "value": Tensor((2, 4, 5, 8)), "is_causal": True},
            {"query": Tensor((3, 5, 8)), "key": Tensor((3, 7, 8)), "value": Tensor((3, 7, 6)), "attn_mask": Tensor((5, 7), "bool"), "scale": 0.5},
            {"query": Tensor((2, 5, 8)), "key": Tensor((2, 6, 8)), "value": Tensor((2, 6, 8)), "attn_mask": Tensor((2, 1, 6))},
            keyword_only=("scale",), dtypes="rule",
        ),
        # dim is required here though torch defaults it to None: its implicit choice is deprecated.
        _function("F.softmax", (x, Param("dim", "int")), _softmax_shape, {"input": Tensor((2, 3)), "dim": -1}, dtypes="float"),
        _function("F.log_softmax", (x, Param("dim", "int")), _softmax_shape, {"input": Tensor((2, 3)), "dim": 0}, dtypes="float"),
        _function("torch.sigmoid", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.tanh", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.exp", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.sqrt", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.rsqrt", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.sin", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.cos", (x,), _elementwise, b, dtypes="to_float"),
        _function("torch.relu", (x,), _elementwise, b, dtypes="numeric"),
        _function("torch.zeros_like", (x,), _elementwise, a),
        _function("torch.ones_like", (x,), _elementwise, a),
        _function("torch.mm", (x, Param("mat2", "tensor")), _mm_shape, {"input": Tensor((2, 3)), "mat2": Tensor((3, 5))}, dtypes="numeric"),
        _function(
            "torch.bmm", (x, Param("mat2", "tensor")), _bmm_shape,
            {"input": Tensor((4, 2, 3)), "mat2": Tensor((4, 3, 5))}, {"input": Tensor((1, 1, 3)), "mat2": Tensor((1, 3, 1))},
            dtypes="numeric",
        ),
        _function(
            "torch.matmul", (x, Param("other", "tensor")), _matmul_shape,
            {"input": Tensor((2, 3)), "other": Tensor((3, 5))},
            {"input": Tensor((3,)), "other": Tensor((3,))},
            {"input": Tensor((3,)), "other": Tensor((4, 3, 5))},
            {"input": Tensor((4, 1, 2, 3)), "other": Tensor((5, 3, 2))},
            {"input": Tensor((4, 2, 3)), "other": Tensor((3,))},
            dtypes="numeric",
        ),
        _function(
            "torch.cat", (Param("tensors", "tensors"), Param("dim", "int", 0)), _cat_shape,
            {"tensors": (Tensor((2, 3)), Tensor((4, 3)))},
            {"tensors": (Tensor((2, 3)), Tensor((2, 1)), Tensor((2, 2))), "dim": -1},
            {"tensors": (Tensor((0,)), Tensor((2, 3)))},
            {"tensors": (Tensor((2, 3), "long"), Tensor((1, 3), "bool"))},
        ),
        _function(
            "torch.stack", (Param("tensors", "tensors"), Param("dim", "int", 0)), _stack_shape,
            {"tensors": (Tensor((2, 3)), Tensor((2, 3)))},
            {"tensors": (Tensor((2, 3)), Tensor((2, 3)), Tensor((2, 3))), "dim": -1},
            {"tensors": (Tensor((2,), "bool"), Tensor((2,), "long"))},
        ),
        _function(
            "torch.flatten", (x, Param("start_dim", "int", 0), Param("end_dim", "int", -1)), _flatten_shape,
            {"input": Tensor((2, 3, 4))}, {"input": Tensor((2, 3, 4, 5)), "start_dim": 1, "end_dim": 2}, {"input": Tensor(())},
        ),
        # arange(end) binds end to `start` here; torch names it `end` (a keyword call needs both).
        _function(
            "torch.arange", (Param("start", "float"), Param("end", "float?", None), Param("step", "float", 1), dtype, device),
            _arange_shape,
            {"start": 0, "end": 5}, {"start": 1, "end": 8, "step": 3}, {"start": 0.0, "end": 1.0, "step": 0.25},
            {"start": 6, "end": 0, "step": -2}, {"start": 0, "end": 4, "dtype": TORCH_DTYPES["float32"]},
            {"start": 0, "end": 3, "device": DEVICE},
            keyword_only=("dtype", "device"), dtypes="rule",
        ),
        _function(
            "torch.repeat_interleave", (x, Param("repeats", "int"), Param("dim", "int?", None)), _repeat_interleave_shape,
            {"input": Tensor((2, 3)), "repeats": 2}, {"input": Tensor((2, 3), "long"), "repeats": 3, "dim": -1},
            {"input": Tensor((4,)), "repeats": 0, "dim": 0}, {"input": Tensor(()), "repeats": 2},
        ),
        _function(
            "torch.where", (Param("condition", "tensor"), Param("input", "tensor|scalar"), Param("other", "tensor|scalar")),
            _where_shape,
            {"condition": Tensor((2, 3), "bool"), "input": Tensor((2, 3)), "other": Tensor((3,))},
            {"condition": Tensor((2, 1), "bool"), "input": Tensor((3,), "long"), "other": -1.5},
            {"condition": Tensor((4,), "bool"), "input": 1, "other": Tensor((4,), "long")},
            positional_only=("condition", "input"),  # torch names a scalar input `self`
            dtypes="rule",
        ),
        _function(
            "torch.zeros", (Param("size", "ints"), dtype, device), _new_shape,
            {"size": (2, 3)}, {"size": (4,), "dtype": TORCH_DTYPES["long"]}, {"size": (1, 2), "device": DEVICE},
            varargs="size", keyword_only=("dtype", "device"), dtypes="rule",
        ),
        _function(
            "torch.ones", (Param("size", "ints"), dtype, device), _new_shape,
            {"size": (2, 3)}, {"size": (0, 2), "dtype": TORCH_DTYPES["bool"]},
            varargs="size", keyword_only=("dtype", "device"), dtypes="rule",
        ),
        # Randomness in forward (d2l's dropout from scratch): float32 draws of a size, or of a tensor's shape.
        _function(
            "torch.rand", (Param("size", "ints"), device), _rand_shape,
            {"size": (2, 3)}, {"size": (4,), "device": DEVICE},
            varargs="size", keyword_only=("device",), dtypes="rule",
        ),
        _function("torch.rand_like", (x,), _elementwise, a, dtypes="float"),
        _function("torch.randn_like", (x,), _elementwise, a, dtypes="float"),
        # num_classes is required: torch's default (-1) takes the largest id in the data. (torch documents
        # the first argument as `tensor` but binds it by keyword as `input`.)
        _function(
            "F.one_hot", (x, Param("num_classes", "int")), _one_hot_shape,
            {"input": Tensor((2, 3), "long"), "num_classes": 5}, {"input": Tensor((4,), "long"), "num_classes": 4},
            dtypes="long",
        ),
        _function(
            "torch.full", (Param("size", "ints"), Param("fill_value", "scalar"), dtype, device), _full_shape,
            {"size": (2, 3), "fill_value": 1.5}, {"size": (2,), "fill_value": 7}, {"size": (3,), "fill_value": True},
            {"size": (2, 2), "fill_value": 0, "dtype": TORCH_DTYPES["float32"]},
            keyword_only=("dtype", "device"), dtypes="rule",
        ),
        _function(
            "torch.pow", (Param("input", "tensor|scalar"), Param("exponent", "tensor|scalar")), _pow_shape,
            {"input": Tensor((2, 3)), "exponent": 2}, {"input": 10000, "exponent": Tensor((4,))},
            {"input": Tensor((2, 1), "long"), "exponent": Tensor((3,), "long")}, {"input": Tensor((3,), "long"), "exponent": 0.5},
            positional_only=("input",),  # torch names a scalar input `self`
            dtypes="rule",
        ),
    ]
    return {f.name: f for f in entries}

def _repeat_shape(b: Mapping[str, Any]) -> Tensor:
    """``x.repeat(*sizes)``: x, with ones in front to len(sizes) dims, tiled sizes[i] times along dim i."""
    x, sizes = b["self"], b["repeats"]
    if not _is_ints(sizes) or not sizes or len(sizes) < len(x.shape):
        _fail(f"expected at least {max(len(x.shape), 1)} repeat counts (one per dimension of {x}, new ones first), found {describe_value(sizes)}")
    if any(size < 0 for size in sizes):
        _fail(f"expected repeat counts of at least 0, found {describe_value(sizes)}")
    padded = (1,) * (len(sizes) - len(x.shape)) + x.shape
    return Tensor(tuple(size * dim for size, dim in zip(sizes, padded)), x.dtype)


def _build_methods() -> dict[str, Function]:
    me = Param("self", "tensor")
    m = {"self": Tensor((2, 3))}
    dim = Param("dim", "int|ints?", None)
    keepdim = Param("keepdim", "bool", False)
    # sum and mean refuse keepdim without dim; see OMITTED.
    reduce_params = (me, Param("dim", "int|ints?", OMITTED), Param("keepdim", "bool", OMITTED))
    policies = {"abs": "numeric", "relu": "numeric", "sigmoid": "to_float", "tanh": "to_float", "exp": "to_float",
                "log": "to_float", "sqrt": "to_float", "rsqrt": "to_float", "clone": "any", "detach": "any", "contiguous": "any"}
    entries = [_function(name, (me,), _elementwise, m, dtypes=policy) for name, policy in policies.items()] + [
        _function(
            "sum", reduce_params, _reduce_shape,
            m, {"self": Tensor((2, 3, 4)), "dim": (0, -1), "keepdim": True}, {"self": Tensor(())}, {"self": Tensor((2, 3)), "dim": None, "keepdim": True},
            {"self": Tensor((2, 3), "bool"), "dim": 1},
            dtypes="sum",
        ),
        _function(
            "mean", reduce_params, _reduce_shape,
            m, {"self": Tensor((2, 3, 4)), "dim": 1}, {"self": Tensor((2, 3)), "dim": None, "keepdim": True}, {"self": Tensor((2, 3)), "dim": -1, "keepdim": False},
            dtypes="float",
        ),
        _function(
            "norm", (me, Param("p", "norm?", "fro"), dim, keepdim), _norm_shape,
            m, {"self": Tensor((2, 3, 4)), "p": 1, "dim": (0, 2)}, {"self": Tensor((2, 3)), "p": "nuc"}, {"self": Tensor((2, 3, 4)), "dim": -1, "keepdim": True},
            dtypes="float",
        ),
        _function("softmax", (me, Param("dim", "int")), _softmax_shape, {"self": Tensor((2, 3)), "dim": 1}, dtypes="float"),
        _function("log_softmax", (me, Param("dim", "int")), _softmax_shape, {"self": Tensor((2, 3)), "dim": 1}, dtypes="float"),
        _function("mm", (me, Param("mat2", "tensor")), _mm_shape, {"self": Tensor((2, 3)), "mat2": Tensor((3, 4))}, dtypes="numeric"),
        _function("matmul", (me, Param("other", "tensor")), _matmul_shape, {"self": Tensor((2, 3)), "other": Tensor((3,))}, dtypes="numeric"),
        _function("reshape", (me, Param("shape", "ints")), _reshape_shape, {"self": Tensor((2, 3, 4)), "shape": (4, -1)}, {"self": Tensor(()), "shape": (1, 1)}, varargs="shape"),
        # torch's view(*shape) rejects the keyword `shape` (it knows it as `size`).
        _function("view", (me, Param("shape", "ints")), _reshape_shape, {"self": Tensor((2, 3, 4)), "shape": (-1,)}, varargs="shape", keyword_varargs=False),
        _function("flatten", (me, Param("start_dim", "int", 0), Param("end_dim", "int", -1)), _flatten_shape, {"self": Tensor((2, 3, 4)), "start_dim": 1}),
        _function("transpose", (me, Param("dim0", "int"), Param("dim1", "int")), _transpose_shape, {"self": Tensor((2, 3, 4)), "dim0": 0, "dim1": -1}),
        _function("permute", (me, Param("dims", "ints")), _permute_shape, {"self": Tensor((2, 3, 4)), "dims": (2, 0, 1)}, varargs="dims"),
        _function("unsqueeze", (me, Param("dim", "int")), _unsqueeze_shape, {"self": Tensor((2, 3)), "dim": -1}, {"self": Tensor(()), "dim": 0}),
        _function(
            "squeeze", (me, Param("dim", "int|ints", OMITTED)), _squeeze_shape,
            {"self": Tensor((2, 1, 3, 1))}, {"self": Tensor((2, 1, 3, 1)), "dim": 1}, {"self": Tensor((2, 1, 3, 1)), "dim": (0, -1)},
        ),
        _function("t", (me,), _t_shape, m, {"self": Tensor((3,))}),
        # reversed(inputs) on a tensor, as d2l's BiRNNScratch writes it, is inputs.flip(0).
        _function("flip", (me, Param("dims", "ints")), _flip_shape, {"self": Tensor((4, 2, 3)), "dims": (0,)}, {"self": Tensor((2, 3)), "dims": (0, -1)}, varargs="dims"),
        _function(
            "masked_fill", (me, Param("mask", "tensor"), Param("value", "tensor|scalar")), _masked_fill_shape,
            {"self": Tensor((2, 3)), "mask": Tensor((2, 3), "bool"), "value": -1e6},
            {"self": Tensor((2, 1, 3), "long"), "mask": Tensor((4, 1), "bool"), "value": 0},
            {"self": Tensor((3,)), "mask": Tensor((3,), "bool"), "value": Tensor(())},
        ),
        _function(
            "expand", (me, Param("size", "ints")), _expand_shape,
            {"self": Tensor((1, 1, 4)), "size": (2, -1, 3, 4)}, {"self": Tensor(()), "size": (2, 3)}, {"self": Tensor((3, 1), "bool"), "size": (-1, 5)},
            varargs="size",
        ),
        # d2l's Seq2SeqDecoder tiles the context over the time steps: context.repeat(num_steps, 1, 1).
        _function(
            "repeat", (me, Param("repeats", "ints")), _repeat_shape,
            {"self": Tensor((2, 3)), "repeats": (4, 1, 1)}, {"self": Tensor((2, 3), "long"), "repeats": (2, 3)}, {"self": Tensor(()), "repeats": (3,)},
            {"self": Tensor((1, 2), "bool"), "repeats": (0, 2)},
            varargs="repeats",
        ),
        _function(
            "pow", (me, Param("exponent", "tensor|scalar")), _pow_shape,
            {"self": Tensor((2, 3)), "exponent": 2}, {"self": Tensor((2, 1), "long"), "exponent": Tensor((3,), "long")},
            {"self": Tensor((3,), "long"), "exponent": 0.5},
            dtypes="rule",
        ),
        _function(
            "split", (me, Param("split_size", "int|ints"), Param("dim", "int", 0)), _split_shape,
            {"self": Tensor((2, 5, 12)), "split_size": 4, "dim": 2}, {"self": Tensor((7, 3)), "split_size": 3},
            {"self": Tensor((2, 12)), "split_size": (4, 8), "dim": -1}, {"self": Tensor((4,), "long"), "split_size": (1, 3)},
        ),
        _function(
            "type_as", (me, Param("other", "tensor")), _type_as_shape,
            {"self": Tensor((2, 3)), "other": Tensor((4,), "long")}, {"self": Tensor((2,), "long"), "other": Tensor(())},
            dtypes="rule",
        ),
        _function("float", (me,), _float_shape, {"self": Tensor((2,), "bool")}, {"self": Tensor((2, 3), "long")}, m, dtypes="rule"),
        # d2l's X.t().type(torch.int64) on token ids read as floats, written as .long().
        _function("long", (me,), _long_shape, {"self": Tensor((2,), "bool")}, {"self": Tensor((2, 3), "long")}, m, dtypes="rule"),
        # to(dtype) and to(device) are torch overloads that name the position differently.
        _function(
            "to", (me, Param("dtype", "dtype|device")), _to_shape,
            {"self": Tensor((2, 3)), "dtype": TORCH_DTYPES["long"]}, {"self": Tensor((2,), "bool"), "dtype": DEVICE},
            positional_only=("dtype",), dtypes="rule",
        ),
        _function(
            "type", (me, Param("dtype", "dtype")), _to_shape,
            {"self": Tensor((2, 3)), "dtype": TORCH_DTYPES["bool"]}, {"self": Tensor((2,), "long"), "dtype": TORCH_DTYPES["float32"]},
            dtypes="rule",
        ),
        _function("dim", (me,), _dim_value, m, {"self": Tensor(())}),
        _function(
            "size", (me, Param("dim", "int", OMITTED)), _size_value,
            m, {"self": Tensor((2, 3, 4)), "dim": -1}, {"self": Tensor(())},
        ),
    ]
    return {f.name: f for f in entries}


FUNCTIONS: dict[str, Function] = _build_functions()
METHODS: dict[str, Function] = _build_methods()
