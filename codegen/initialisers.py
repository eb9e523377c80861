"""Initialisation: the forms a spec may give a tensor, checked and re-emitted.

An ``init`` is one string, or a list of steps whose first is a form:

* ``zeros``, ``ones``, ``rand``, ``randn``: a parameter or buffer is created
  so, ``torch.randn(4, 8)``; ``randn * 0.01`` scales it (d2l's RNNScratch).
* ``normal(mean=0, std=0.01)``, ``uniform(-10, 10)``, ``constant(42)``,
  ``xavier_uniform``, ``xavier_normal(gain=2)``, ``kaiming_uniform(a=0)``,
  ``kaiming_normal(mode='fan_out', nonlinearity='relu')`` (and ``zeros`` /
  ``ones`` on a layer's tensor): torch's ``nn.init.<form>_`` with the same
  arguments, in place.
* a later step ``weight *= weight.abs() >= 5`` updates the tensor in place,
  as d2l's ``my_init`` does (``m.weight.data *= m.weight.data.abs() >= 5``):
  the name is the tensor's own, the right side a forward-style expression.

Each step is parsed and checked against these allowlists; the emitted code
is re-built from the checked trees. Nothing here imports torch;
``tests/test_init.py`` checks the signatures and the weight and bias
shapes below against torch.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Mapping

from . import catalogue, expressions
from .errors import SpecError, did_you_mean
from .expressions import Scope
from .model import Init, InitStep
from .values import REQUIRED, Param, ShapeError, Tensor

CREATE = ("rand", "randn", "zeros", "ones")  # torch.<name>(shape): parameters and buffers
TENSORS = ("weight", "bias")  # a layer's tensors an init or an init rule names: self.fc.weight, module.bias
RANDOM = ("rand", "randn")  # may be scaled: randn * 0.01
_NONLINEARITIES = "linear|conv1d|conv2d|conv3d|conv_transpose1d|conv_transpose2d|conv_transpose3d|sigmoid|tanh|relu|leaky_relu|selu"
_KAIMING = (
    Param("a", "float", 0),
    Param("mode", "str:fan_in|fan_out", "fan_in"),
    Param("nonlinearity", f"str:{_NONLINEARITIES}", "leaky_relu"),
)
# nn.init.<name>_(tensor, ...): the parameters after the tensor (generator left out).
FORMS: dict[str, tuple[Param, ...]] = {
    "normal": (Param("mean", "float", 0.0), Param("std", "float", 1.0)),
    "uniform": (Param("a", "float", 0.0), Param("b", "float", 1.0)),
    "constant": (Param("val", "float"),),
    "zeros": (),
    "ones": (),
    "xavier_uniform": (Param("gain", "float", 1.0),),
    "xavier_normal": (Param("gain", "float", 1.0),),
    "kaiming_uniform": _KAIMING,
    "kaiming_normal": _KAIMING,
}
# normal(0.01) would set the mean, not the std: a spec names them.
KEYWORD_ONLY = {"normal": frozenset({"mean", "std"})}
FAN_FORMS = frozenset({"xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"})
UPDATE_OPS = {"*=": ast.Mult(), "/=": ast.Div(), "+=": ast.Add(), "-=": ast.Sub()}
_UPDATE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\*=|/=|\+=|-=)(.*)\Z", re.DOTALL)
MAX_STEPS = 8


# ------------------------------------------------------------------ layers' own tensors


def _ntuple(value: Any, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * n


def _conv(n: int, transposed: bool) -> Callable[[Mapping[str, Any]], dict[str, tuple[int, ...] | None]]:
    def tensors(a: Mapping[str, Any]) -> dict[str, tuple[int, ...] | None]:
        kernel = _ntuple(a["kernel_size"], n)
        if transposed:
            weight = (a["in_channels"], a["out_channels"] // a["groups"]) + kernel
        else:
            weight = (a["out_channels"], a["in_channels"] // a["groups"]) + kernel
        return {"weight": weight, "bias": (a["out_channels"],) if a["bias"] else None}

    return tensors


def _norm(size: str, affine: str) -> Callable[[Mapping[str, Any]], dict[str, tuple[int, ...] | None]]:
    def tensors(a: Mapping[str, Any]) -> dict[str, tuple[int, ...] | None]:
        shape = _ntuple(a[size], 1)
        return {"weight": shape if a[affine] else None, "bias": shape if a[affine] and a["bias"] else None}

    return tensors


# What ``module.weight`` and ``module.bias`` are (None: the layer has no such tensor), from the constructor arguments.
LAYER_TENSORS: dict[str, Callable[[Mapping[str, Any]], dict[str, tuple[int, ...] | None]]] = {
    "Linear": lambda a: {
        "weight": (a["out_features"], a["in_features"]),
        "bias": (a["out_features"],) if a["bias"] else None,
    },
    "Bilinear": lambda a: {
        "weight": (a["out_features"], a["in1_features"], a["in2_features"]),
        "bias": (a["out_features"],) if a["bias"] else None,
    },
    **{f"Conv{n}d": _conv(n, False) for n in (1, 2, 3)},
    **{f"ConvTranspose{n}d": _conv(n, True) for n in (1, 2)},
    **{f"BatchNorm{n}d": _norm("num_features", "affine") for n in (1, 2)},
    "LayerNorm": _norm("normalized_shape", "elementwise_affine"),
    "GroupNorm": _norm("num_channels", "affine"),
    "Embedding": lambda a: {"weight": (a["num_embeddings"], a["embedding_dim"]), "bias": None},
}


# The layers' tensors that torch annotates ``Tensor | None`` (``_ConvNd.bias``): generated code
# names them with ``get_parameter("bias")``, which a type checker reads as a Parameter (and which
# raises if the tensor is missing; E342 has made sure it is not). tests/test_init.py checks
# this list against torch's annotations.
OPTIONAL_TYPED = frozenset(
    {(f"Conv{n}d", "bias") for n in (1, 2, 3)} | {(f"ConvTranspose{n}d", "bias") for n in (1, 2)}
)


def layer_tensors(type_name: str, args: Mapping[str, Any]) -> dict[str, tuple[int, ...] | None] | None:
    """The weight and bias shapes of a catalogue layer built with ``args``; None if unknown (a size not inferred yet)."""
    if any(v is None for k, v in args.items() if k.endswith(("features", "channels", "embeddings", "_dim"))):
        return None
    return LAYER_TENSORS[type_name](args)


# ------------------------------------------------------------------ parsing


def parse(value: str | list[str], name: str, path: str, arg_names: frozenset[str], creates: bool) -> Init:
    """Check an ``init`` for the tensor called ``name``.

    ``creates``: the tensor is a parameter or buffer that the init creates
    (``torch.randn(shape)``); otherwise it is a layer's, already there.
    """
    texts = [value] if isinstance(value, str) else list(value)
    if not texts or len(texts) > MAX_STEPS:
        raise SpecError("E341", f"an init has 1 to {MAX_STEPS} steps", path=path)
    steps = []
    for i, text in enumerate(texts):
        where = path if isinstance(value, str) else f"{path}[{i}]"
        update = _UPDATE.match(text)
        if i == 0:
            if update:
                raise SpecError("E341", "an init starts with a form (normal(std=0.01), xavier_uniform, ...), then may update it in place", path=where)
            steps.append(_first_step(expressions.parse(text, where), where, arg_names, creates))
        elif not update:
            raise SpecError("E341", f"a later step updates the tensor in place, e.g. '{name} *= {name}.abs() >= 5'", path=where)
        else:
            steps.append(_update_step(update, name, where, arg_names))
    return Init(name, steps, path)


def _first_step(tree: ast.expr, path: str, arg_names: frozenset[str], creates: bool) -> InitStep:
    scope = Scope("init", arg_names)
    if isinstance(tree, ast.Name):
        if creates and tree.id in CREATE:
            return InitStep("create", tree.id, path=path)
        if tree.id in RANDOM:
            raise SpecError("E341", f"{tree.id} creates a tensor; a layer's is already there: use normal(std=...) or uniform(a, b)", path=path)
        if tree.id in FORMS:
            missing = [p.name for p in FORMS[tree.id] if p.default is REQUIRED]
            if missing:
                raise SpecError("E322", f"{tree.id} needs argument {missing[0]!r}: {tree.id}(...)", path=path)
            return InitStep("init", tree.id, path=path)
        raise SpecError("E340", f"unknown init {tree.id!r}" + did_you_mean(tree.id, _known(creates)), path=path)
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Mult) and isinstance(tree.left, ast.Name) and tree.left.id in RANDOM:
        if not creates:
            raise SpecError("E341", f"{tree.left.id} * ... creates a tensor; a layer's is already there: use normal(std=...)", path=path)
        expressions.check(tree.right, scope, path)
        return InitStep("create", tree.left.id, scale=tree.right, path=path)
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        form = tree.func.id
        if form not in FORMS:
            if form in CREATE:
                raise SpecError("E340", f"{form} takes no arguments here: write '{form}'", path=path)
            raise SpecError("E340", f"unknown init {form!r}" + did_you_mean(form, FORMS), path=path)
        params = FORMS[form]
        names = [p.name for p in params]
        if len(tree.args) > len(params):
            raise SpecError("E406", f"{form} takes at most {len(params)} arguments ({', '.join(names) or 'none'})", path=path)
        for arg in tree.args:
            if isinstance(arg, ast.Starred):
                raise SpecError("E302", "*args in a call is not allowed", path=path)
        keyword_only = KEYWORD_ONLY.get(form, frozenset())
        if tree.args and keyword_only:
            raise SpecError("E406", f"{form} takes {', '.join(sorted(keyword_only))} by keyword only, e.g. {form}(std=0.01)", path=path)
        given = set(names[: len(tree.args)])
        for kw in tree.keywords:
            if kw.arg is None:
                raise SpecError("E302", "**kwargs in a call is not allowed", path=path)
            if kw.arg not in names:
                raise SpecError("E321", f"{form} has no argument {kw.arg!r}" + did_you_mean(kw.arg, names), path=path)
            if kw.arg in given:
                raise SpecError("E406", f"{form} got {kw.arg!r} twice", path=path)
            given.add(kw.arg)
        missing = [p.name for p in params if p.default is REQUIRED and p.name not in given]
        if missing:
            raise SpecError("E322", f"{form} needs argument {missing[0]!r}", path=path)
        for arg in list(tree.args) + [kw.value for kw in tree.keywords]:
            expressions.check(arg, scope, path)
        return InitStep("init", form, args=list(tree.args), keywords={kw.arg: kw.value for kw in tree.keywords if kw.arg}, path=path)
    raise SpecError("E340", f"an init is a name or a call: {', '.join(sorted(_known(creates)))}", path=path)


def _known(creates: bool) -> set[str]:
    return set(FORMS) | (set(CREATE) if creates else set())


def _update_step(match: re.Match, name: str, path: str, arg_names: frozenset[str]) -> InitStep:
    target, op, text = match.group(1), match.group(2), match.group(3)
    if target != name:
        raise SpecError("E341", f"this step updates {target!r}; it may only update the tensor it initialises, {name!r}", path=path)
    if name in arg_names:
        raise SpecError("E341", f"{name!r} is also a constructor argument; the step would be ambiguous", path=path)
    tree = expressions.parse(text, path)
    scope = Scope(
        "forward",
        arg_names | {name},
        functions=frozenset(catalogue.FUNCTIONS),
        methods=frozenset(catalogue.METHODS),
    )
    expressions.check(tree, scope, path)
    return InitStep("update", op=op, value=tree, path=path)


# ------------------------------------------------------------------ shape checks


def check(init: Init, shape: tuple[int, ...], env: dict[str, Any], file: str, evaluate_forward: Callable[[ast.expr, dict[str, Any], str], Any]) -> None:
    """Check ``init`` against the tensor it initialises (its ``shape``) in a configuration (``env``).

    ``evaluate_forward`` evaluates an update step on shapes (the analyser's forward evaluator).
    """
    for step in init.steps:
        if step.kind == "create" and step.scale is not None:
            scale = expressions.evaluate(step.scale, env, step.path)
            if not catalogue.check_kind("float", scale):
                raise SpecError("E323", f"the scale of {step.func} must be a number, found {scale!r}", file, step.path)
        elif step.kind == "init":
            _check_form(step, shape, env, file)
        elif step.kind == "update":
            assert step.value is not None
            value = evaluate_forward(step.value, dict(env, **{init.name: Tensor(shape)}), step.path)
            if isinstance(value, Tensor):
                try:
                    result = catalogue.broadcast(shape, value.shape)
                except ShapeError as exc:
                    raise SpecError("E401", f"{init.name} {step.op} ...: {exc}", file, step.path) from None
                if result != shape:
                    raise SpecError("E401", f"in-place {step.op} would change {init.name}'s shape from {Tensor(shape)} to {Tensor(result)}", file, step.path)
            elif not catalogue.check_kind("float", value) and not isinstance(value, bool):
                raise SpecError("E323", f"{init.name} {step.op} needs a tensor or a number, found {catalogue.describe_value(value)}", file, step.path)


def _check_form(step: InitStep, shape: tuple[int, ...], env: dict[str, Any], file: str) -> None:
    params = FORMS[step.func]
    values = {p.name: p.default for p in params}
    for param, arg in zip(params, step.args):
        values[param.name] = expressions.evaluate(arg, env, step.path)
    for key, arg in step.keywords.items():
        values[key] = expressions.evaluate(arg, env, step.path)
    for param in params:
        if not catalogue.check_kind(param.kind, values[param.name]):
            raise SpecError("E323", f"{step.func}'s {param.name} must be {catalogue.describe_kind(param.kind)}, found {values[param.name]!r}", file, step.path)
    # What nn.init would refuse when the module is built:
    if step.func == "normal" and values["std"] < 0:
        raise SpecError("E324", f"normal's std must be at least 0, found {values['std']}", file, step.path)
    if step.func == "uniform" and values["a"] > values["b"]:
        raise SpecError("E324", f"uniform needs a <= b, found a={values['a']} > b={values['b']}", file, step.path)
    if step.func in FAN_FORMS and len(shape) < 2:
        raise SpecError("E401", f"{step.func} computes fan in and fan out, which a tensor of shape {Tensor(shape)} (fewer than 2 dimensions) does not have", file, step.path)


# ------------------------------------------------------------------ emitting


def statements(init: Init, target: str, shape_text: str | None = None) -> tuple[str | None, list[str]]:
    """Python source for ``init`` applied to ``target`` (``self.weight``, ``module.bias``, ``self.net.get_parameter("0.weight")``).

    Returns (the value that creates the tensor, or None for a layer's;
    the statements that follow its creation).
    """
    created = None
    lines = []
    for step in init.steps:
        if step.kind == "create":
            created = f"torch.{step.func}({shape_text})"
            if step.scale is not None:  # as one tree, so that unparse adds the parentheses precedence needs
                product = ast.BinOp(ast.parse(created, mode="eval").body, ast.Mult(), _copy(step.scale))
                created = ast.unparse(product)
        elif step.kind == "init":
            if shape_text is not None and created is None:
                created = f"torch.empty({shape_text})"
            args = [target] + [source(a) for a in step.args]
            args += [f"{key}={source(value)}" for key, value in step.keywords.items()]
            lines.append(f"nn.init.{step.func}_({', '.join(args)})")
        else:
            assert step.value is not None
            data = ast.parse(f"{target}.data", mode="eval").body
            value = _Rename(init.name, data).visit(_copy(step.value))
            lines.append(f"{target}.data {step.op} {ast.unparse(value)}")
    return created, lines


def source(tree: ast.expr) -> str:
    """``expressions.unparse``, with a string in the double quotes black would choose."""
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        literal = repr(tree.value)
        if literal.startswith("'") and '"' not in tree.value:
            return '"' + literal[1:-1] + '"'
        return literal
    return expressions.unparse(tree)


def _copy(tree: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(tree), mode="eval").body


class _Rename(ast.NodeTransformer):
    """The tensor's name in an update step -> the tensor itself (``weight`` -> ``module.weight.data``)."""

    def __init__(self, name: str, replacement: ast.expr) -> None:
        self.name = name
        self.replacement = replacement

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.replacement if node.id == self.name else node
