"""Shape inference: run a block's example on shapes, before any code is written.

Builds every layer and block of the example with concrete arguments
(``Instance``), then runs forward on abstract values (``values.Tensor`` for a
tensor, plain Python values for the rest), checking every call against the
catalogue's shape rules. What it learns fills the docstring table and the
output annotation.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from typing import Any, Callable

from . import catalogue, expressions, initialisers
from .errors import SpecError, did_you_mean
from .expressions import Scope
from .model import (
    Append,
    Assign,
    Block,
    For,
    If,
    LayerDef,
    Method,
    RepeatDef,
    Return,
    Statement,
    TableRow,
    While,
)
from .values import DEVICE, REQUIRED, TORCH_DTYPES, Chunks, LayerClass, ShapeError, Tensor, TensorList

MAX_PARAMETERS = 2_000_000_000
# Bounds on the work of one example's shape inference, so that no spec can make
# generation hang (nested loops, blocks that call blocks that call blocks...).
MAX_LAYERS = 20_000
MAX_STEPS = 200_000
MAX_LIST = 65_536  # items of a list forward builds
MAX_TABLE_CHILDREN = 64  # a longer container gets one row in the docstring table, not one per child



CLASS_TYPES = frozenset({
    "type[nn.Module]", "type[nn.Module] | None", "Callable[..., nn.Module]", "Callable[..., nn.Module] | None",
})


def fits(annotation: str, value: Any) -> bool:
    """Whether ``value`` is a value of a spec argument annotated ``annotation``."""
    if annotation.endswith(" | None"):
        return value is None or fits(annotation[: -len(" | None")], value)
    if annotation == "type[nn.Module]":  # a class itself: a partial needs Callable[..., nn.Module]
        return isinstance(value, LayerClass) and not value.keywords
    if annotation == "Callable[..., nn.Module]":
        return isinstance(value, LayerClass)
    if annotation == "str":
        return isinstance(value, str)
    if annotation in ("tuple[bool, bool]", "tuple[float, float]"):
        kind = annotation[6:-1].split(", ")[0]
        return isinstance(value, tuple) and len(value) == 2 and all(fits(kind, v) for v in value)
    if annotation == "int":
        return catalogue.check_kind("int", value)
    if annotation == "float":
        return catalogue.check_kind("float", value)
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation.startswith("tuple"):
        if not isinstance(value, tuple) or not all(catalogue.check_kind("int", v) for v in value):
            return False
        return annotation == "tuple[int, ...]" or len(value) == 2
    return False


class Instance:
    """A layer or block built with concrete arguments, known by its shapes."""

    def __init__(self, kind: str, type_name: str, path: str, file: str) -> None:
        self.kind = kind  # "layer", "block", "container", "none"
        self.type = type_name
        self.path = path
        self.file = file
        self.args: dict[str, Any] = {}
        self.layer: catalogue.Layer | None = None
        self.block: Block | None = None
        self.definition: LayerDef | None = None
        self.children: dict[str, Instance] = {}
        self.tensors: dict[str, Tensor] = {}
        self.parameter_names: list[str] = []
        self.hyper: dict[str, Any] = {}  # constructor arguments forward reads as self.<name>
        self.outputs: list[Any] = []
        self.env: dict[str, Any] = {}  # a block's constructor arguments

    def parameter_count(self) -> int:
        if self.kind == "layer":
            assert self.layer is not None
            return self.layer.parameters(self.args)
        own = sum(math.prod(self.tensors[n].shape) for n in self.parameter_names)
        return own + sum(c.parameter_count() for c in self.children.values())


class ShapeChecker:
    """Builds instances from the example and runs forward on shapes."""

    def __init__(self, blocks: dict[str, Block]) -> None:
        self.blocks = blocks
        self.layers = 0
        self.steps = 0
        # Which way each if went, per file: (file, path) -> {"then", "else"}; every arm must be taken.
        self.taken: dict[tuple[str, str], set[str]] = {}
        self.training = True  # self.training in forward: the example's "training"
        self.method_returns: dict[str, str] = {}  # public method -> its return annotation on the first example that ran it

    def _tick(self, file: str, path: str) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SpecError("E408", f"shape inference of the example takes over {MAX_STEPS:,} steps; make the example smaller", file, path)

    # -------------------------------------------------------------- build

    def build_block(self, block: Block, values: dict[str, Any], path: str) -> Instance:
        try:
            return self._build_block(block, values, path)
        except SpecError as exc:
            exc.file = exc.file or block.file  # an error inside a used block is that block's
            raise

    def _build_block(self, block: Block, values: dict[str, Any], path: str) -> Instance:
        inst = Instance("block", block.name, path, block.file)
        inst.block = block
        # Spec classes are layer classes in constructor arithmetic; the arguments shadow them.
        env: dict[str, Any] = {name: LayerClass(name, "block") for name in self.blocks if name[:1].isupper()}
        env.update({a.name: values.get(a.name, a.default) for a in block.args})
        for arg in block.args:
            if arg.otherwise is not None:  # name = name or <otherwise>
                env[arg.name] = env[arg.name] or expressions.evaluate(arg.otherwise, env, f"args.{arg.name}.or")
        for check in block.checks:
            holds = expressions.evaluate(check.test, env, f"{check.path}.{'if' if check.kind == 'raise' else 'assert'}")
            if not isinstance(holds, bool):
                raise SpecError("E323", f"a check's condition must be a bool, found {_describe(holds)}", block.file, check.path)
            if holds == (check.kind == "raise"):
                raise SpecError("E412", f"the constructor refuses this configuration: {check.message!r}", block.file, path or check.path)
        for item in block.derived:
            if isinstance(item.value, ast.IfExp):  # `a if c else b`: both sides must be built by some example
                self.holds(item.value.test, env, block.file, item.path)
            env[item.name] = expressions.evaluate(item.value, env, item.path)
        inst.env = env
        inst.hyper = {name: env[name] for name in block.kept}
        inst.hyper.update({d.name: env[d.name] for d in block.derived if d.kept})
        for section, defs in (("parameters", block.parameters), ("buffers", block.buffers)):
            for t in defs:
                if t.condition is not None and not self.holds(t.condition, env, block.file, f"{section}.{t.name}.if"):
                    inst.tensors[t.name] = None  # type: ignore[assignment]
                    continue
                dims = []
                if isinstance(t.shape, list):
                    sizes = [(expressions.evaluate(e, env, f"{section}.{t.name}.shape[{i}]"), f"{section}.{t.name}.shape[{i}]") for i, e in enumerate(t.shape)]
                else:  # one expression for the whole shape
                    where = f"{section}.{t.name}.shape"
                    whole = expressions.evaluate(t.shape, env, where)
                    if not isinstance(whole, tuple) or len(whole) > 8:
                        raise SpecError("E323", f"a shape expression must give a tuple of at most 8 sizes, found {whole!r}", block.file, where)
                    sizes = [(dim, where) for dim in whole]
                for dim, where in sizes:
                    if not catalogue.check_kind("int", dim) or dim < 1:
                        raise SpecError("E324", f"a dimension must be a positive int, found {dim!r}", block.file, where)
                    dims.append(dim)
                inst.tensors[t.name] = Tensor(tuple(dims))
                if section == "parameters":
                    inst.parameter_names.append(t.name)
        if block.constructor:
            self.run_constructor(block, inst, dict(env))
        for name, layer in block.layers.items():
            condition = True
            if layer.condition is not None:
                condition = self.holds(layer.condition, env, block.file, f"{layer.path}.if")
            if condition:
                inst.children[name] = self.build_layer(layer, env, block)
            elif layer.orelse is not None:
                inst.children[name] = self.build_layer(layer.orelse, env, block)
            else:
                inst.children[name] = Instance("none", layer.type, layer.path, block.file)
        if block.variadic is not None:
            for i, module in enumerate(values.get(block.variadic.name, ())):
                inst.children[str(i)] = module
        return inst

    def holds(self, condition: ast.expr, env: dict[str, Any], file: str, path: str) -> bool:
        """A constructor condition ('if' of a layer or tensor); which way it went is recorded: both must be taken."""
        value = expressions.evaluate(condition, env, path)
        if value is None or isinstance(value, LayerClass):  # `if norm_layer`: set or not
            value = value is not None
        if not isinstance(value, bool):
            raise SpecError("E323", f"an 'if' must be a bool, found {_describe(value)}", file, path)
        self.took(file, path, "then" if value else "else")
        return value

    def run_constructor(self, block: Block, inst: Instance, env: dict[str, Any]) -> None:
        """Constructor statements, on shapes: locals get values; a buffer's slice must take what is put in it."""
        for stmt in block.constructor:
            self._tick(block.file, stmt.path)
            value = self.eval(stmt.value, env, inst, f"{stmt.path}.value")
            if isinstance(stmt.target, ast.Name):
                env[stmt.target.id] = value
                continue
            assert isinstance(stmt.target, ast.Subscript)
            target = self.eval(stmt.target.value, env, inst, f"{stmt.path}.assign")
            index = self.index(stmt.target, env, inst, f"{stmt.path}.assign")
            self._rule(lambda: catalogue.check_setitem(target, index, value), "assignment", (block.file, stmt.path))

    def build_layer(self, layer: LayerDef, env: dict[str, Any], owner: Block) -> Instance:
        self.layers += 1
        if self.layers > MAX_LAYERS:
            raise SpecError("E324", f"the example builds over {MAX_LAYERS:,} layers", owner.file, layer.path)
        inst = Instance(layer.kind, layer.type, layer.path, owner.file)
        inst.definition = layer
        values = {k: expressions.evaluate(v, env, f"{layer.path}.args.{k}") for k, v in layer.args.items()}
        if layer.kind == "container":
            index = 0
            if layer.type == "ModuleDict":
                for child in layer.children:
                    assert isinstance(child, LayerDef)
                    inst.children[child.key] = self.build_layer(child, env, owner)
                return inst
            for child in layer.children:
                if isinstance(child, RepeatDef):
                    items = expressions.evaluate(child.iterable, env, f"{child.path}.in")
                    if not isinstance(items, tuple):
                        raise SpecError("E317", f"a repeat runs over range(...) or a tuple, found {items!r}", owner.file, f"{child.path}.in")
                    for item in items:
                        inner = dict(env, **{child.var: item})
                        for sub in child.layers:
                            key = f"{child.prefix}{item}" if child.prefix else str(index)
                            if key in inst.children:
                                raise SpecError("E311", f"two children are named {key!r}", owner.file, f"{child.path}.in")
                            inst.children[key] = self.build_layer(sub, inner, owner)
                            index += 1
                elif child.condition is None or self.holds(child.condition, env, owner.file, f"{child.path}.if"):
                    inst.children[child.name or str(index)] = self.build_layer(child, env, owner)
                    index += 1
                elif child.orelse is not None:
                    inst.children[str(index)] = self.build_layer(child.orelse, env, owner)
                    index += 1
            return inst
        if layer.kind == "class":
            chosen = env.get(layer.type)
            if not isinstance(chosen, LayerClass):
                raise SpecError("E323", f"layer type {layer.type} must be a layer class in this configuration, found {_describe(chosen)}", owner.file, f"{layer.path}.type")
            positional = [expressions.evaluate(v, env, f"{layer.path}.positional[{i}]") for i, v in enumerate(layer.positional)]
            return self.build_class(chosen, positional, values, layer, owner)
        if layer.kind == "block":
            return self.build_spec_block(self.blocks[layer.type], values, layer, owner)
        return self.build_catalogued(catalogue.LAYERS[layer.type], values, layer, owner, inst)

    def build_class(self, chosen: LayerClass, positional: list[Any], values: dict[str, Any], layer: LayerDef, owner: Block) -> Instance:
        """``norm_layer(planes)``: the class this example chose, with a partial's keywords, then the positional and keyword arguments."""
        names = [a.name for a in self.blocks[chosen.name].args] if chosen.kind == "block" else [p.name for p in catalogue.LAYERS[chosen.name].params]
        label = chosen.name if chosen.kind == "block" else f"nn.{chosen.name}"
        positional = [*chosen.positional, *positional]  # partial(nn.GroupNorm, 4)(planes): GroupNorm(4, planes)
        # Up to the first argument torch takes by keyword only (GroupNorm's bias comes after device and dtype).
        keyword_only = catalogue.LAYERS[chosen.name].keyword_only if chosen.kind == "layer" else frozenset()
        most = next((i for i, name in enumerate(names) if name in keyword_only), len(names))
        if len(positional) > most:
            raise SpecError("E406", f"{label} takes at most {most} positional arguments, given {len(positional)} (with {chosen}'s)", owner.file, f"{layer.path}.positional")
        bound = dict(chosen.keywords)
        for key in names[: len(positional)]:
            if key in bound:  # as Python's partial: a bound keyword and a positional argument for the same name
                raise SpecError("E406", f"{label} got {key!r} twice: by position here and by keyword in {chosen}", owner.file, f"{layer.path}.positional")
        bound.update(zip(names, positional))
        for key, value in values.items():
            if key not in names:
                raise SpecError("E321", f"{label} (chosen by {layer.type} here) has no argument {key!r}" + did_you_mean(key, names), owner.file, f"{layer.path}.args.{key}")
            if key in names[: len(positional)]:
                raise SpecError("E406", f"{label} got {key!r} twice", owner.file, f"{layer.path}.args.{key}")
            bound[key] = value
        if chosen.kind == "block":
            return self.build_spec_block(self.blocks[chosen.name], bound, layer, owner)
        inst = Instance("layer", chosen.name, layer.path, owner.file)
        inst.definition = layer
        # A keyword the partial gave is reported at the layer's type, where the class came from.
        origin = {key: f"{layer.path}.type" for key, _ in chosen.keywords if key not in values}
        origin.update((key, f"{layer.path}.type") for key in names[: len(chosen.positional)])  # partial(nn.GroupNorm, -4)
        return self.build_catalogued(catalogue.LAYERS[chosen.name], bound, layer, owner, inst, origin)

    def build_spec_block(self, target: Block, values: dict[str, Any], layer: LayerDef, owner: Block) -> Instance:
        for arg in target.args:
            if arg.name in values and not fits(arg.annotation, values[arg.name]):
                raise SpecError("E323", f"{target.name}'s {arg.name} must be {arg.annotation}, found {_describe(values[arg.name])}", owner.file, f"{layer.path}.args.{arg.name}")
            if arg.name not in values and arg.default is REQUIRED:
                raise SpecError("E322", f"{target.name} needs argument {arg.name!r}", owner.file, f"{layer.path}.args")
            if arg.choices and arg.name in values and values[arg.name] not in arg.choices:
                raise SpecError("E323", f"{target.name}'s {arg.name} must be one of {list(arg.choices)}, found {values[arg.name]!r}", owner.file, f"{layer.path}.args.{arg.name}")
        return self.build_block(target, values, layer.path)

    def build_catalogued(self, spec: catalogue.Layer, values: dict[str, Any], layer: LayerDef, owner: Block, inst: Instance, origin: dict[str, str] | None = None) -> Instance:
        inst.layer = spec
        full: dict[str, Any] = {}
        for param in spec.params:
            if param.name in values:
                value = values[param.name]
                where = (origin or {}).get(param.name, f"{layer.path}.args.{param.name}")
                if not catalogue.check_kind(param.kind, value):
                    raise SpecError("E323", f"nn.{spec.name}'s {param.name} must be {catalogue.describe_kind(param.kind)}, found {value!r}", owner.file, where)
                if _must_be_positive(param.name) and isinstance(value, int) and value < 1:
                    raise SpecError("E324", f"{param.name} must be at least 1, found {value}", owner.file, where)
                full[param.name] = value
            elif param.name in layer.inferred:
                full[param.name] = layer.inferred[param.name]
            elif param.default is not REQUIRED:
                full[param.name] = param.default
            elif param.name == spec.inferred:
                if owner.args:
                    raise SpecError("E403", f"{param.name} can only be left out in a block without constructor arguments; write it as an expression of them", owner.file, f"{layer.path}.args")
                full[param.name] = None  # filled at the first call
            else:
                raise SpecError("E322", f"nn.{spec.name} needs argument {param.name!r}", owner.file, f"{layer.path}.args")
        inst.args = full
        return inst

    # -------------------------------------------------------------- run

    def call(self, inst: Instance, args: list[Any], kwargs: dict[str, Any], where: tuple[str, str]) -> Any:
        file, path = where
        self._tick(file, path)
        if inst.kind == "none":
            raise SpecError("E406", f"layer at {inst.path} is None in this configuration; test it with 'is not None' first", file, path)
        if inst.kind == "container":
            if inst.type != "Sequential":
                raise SpecError("E406", f"a {inst.type} is not callable; index it or loop over it", file, path)
            if len(args) != 1 or kwargs:
                raise SpecError("E406", "a Sequential takes exactly one input", file, path)
            value = args[0]
            for child in inst.children.values():
                value = self.call(child, [value], {}, where)
            inst.outputs.append(value)
            return value
        if inst.kind == "block":
            assert inst.block is not None
            block = inst.block
            required = len(block.inputs) - len(block.optional)
            if kwargs or not required <= len(args) <= len(block.inputs):
                count = f"{required} to {len(block.inputs)}" if block.optional else str(len(block.inputs))
                raise SpecError("E406", f"{inst.type} takes {count} input(s), given {len(args)}", file, path)
            args = list(args) + [None] * (len(block.inputs) - len(args))
            for name, value in zip(block.inputs, args):
                _check_input(f"{inst.type}'s input {name}", value, _input_type(block, name), name in block.optional, where)
            value = self.run(inst, args)
            inst.outputs.append(value)
            return value
        assert inst.layer is not None
        bound = _bind(inst.layer.call, args, kwargs, f"nn.{inst.type}", where)
        if inst.layer.inferred and inst.args.get(inst.layer.inferred) is None:
            first = bound[inst.layer.call[0].name]
            if not isinstance(first, Tensor) or not first.shape:
                raise SpecError("E401", f"cannot infer {inst.layer.inferred} of nn.{inst.type} from {first!r}", file, path)
            try:
                value = first.shape[inst.layer.inferred_dim]
            except IndexError:
                raise SpecError("E401", f"cannot infer {inst.layer.inferred} of nn.{inst.type} from shape {first}", file, path) from None
            inst.args[inst.layer.inferred] = value
            assert inst.definition is not None
            known = inst.definition.inferred.setdefault(inst.layer.inferred, value)
            if known != value:
                raise SpecError("E401", f"{inst.layer.inferred} inferred as {value} here but {known} elsewhere", inst.file, inst.path)
        try:
            value = inst.layer.shape(inst.args, bound)
        except ShapeError as exc:
            context = f" (called from {file}: {path})" if file != inst.file else f" (called from {path})"
            raise SpecError("E401", f"nn.{inst.type}: {exc}{context}", inst.file, inst.path) from None
        inst.outputs.append(value)
        return value

    def run(self, inst: Instance, inputs: list[Any], extra: dict[str, Any] | None = None) -> Any:
        block = inst.block
        assert block is not None
        env: dict[str, Any] = dict(zip(block.inputs, inputs))
        env.update(extra or {})
        result = self._statements(block.body, env, inst)
        return result[1]

    def call_function(self, function: Block, args: list[Any], kwargs: dict[str, Any], where: tuple[str, str]) -> Any:
        """A function spec called from forward: bound like Python binds a def's arguments, then run on shapes."""
        file, path = where
        self._tick(file, path)
        names = function.inputs + [a.name for a in function.args]
        if len(args) > len(names):
            raise SpecError("E406", f"{function.name} takes at most {len(names)} arguments, given {len(args)}", file, path)
        bound = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise SpecError("E321", f"{function.name} has no argument {key!r}" + did_you_mean(key, names), file, path)
            if key in bound:
                raise SpecError("E406", f"{function.name} got {key!r} twice", file, path)
            bound[key] = value
        for name in function.inputs:
            if name not in bound:
                if name not in function.optional:
                    raise SpecError("E322", f"{function.name} needs argument {name!r}", file, path)
                bound[name] = None
            value = bound[name]
            if not isinstance(value, Tensor) and not (value is None and name in function.optional):
                raise SpecError("E406", f"{function.name}'s {name} must be a tensor{' or None' if name in function.optional else ''}, found {_describe(value)}", file, path)
        for arg in function.args:
            if arg.name not in bound:
                if arg.default is REQUIRED:
                    raise SpecError("E322", f"{function.name} needs argument {arg.name!r}", file, path)
                bound[arg.name] = arg.default
            elif not fits(arg.annotation, bound[arg.name]):
                raise SpecError("E323", f"{function.name}'s {arg.name} must be {arg.annotation}, found {_describe(bound[arg.name])}", file, path)
        inst = Instance("function", function.name, "", function.file)
        inst.block = function
        try:
            return self.run(inst, [bound[n] for n in function.inputs], {a.name: bound[a.name] for a in function.args})
        except SpecError as exc:
            exc.file = exc.file or function.file
            raise

    def call_method(self, inst: Instance, method: Method, args: list[Any], kwargs: dict[str, Any], where: tuple[str, str]) -> Any:
        """``self._scale(input)``: a helper method run on shapes with the block's members."""
        file, path = where
        self._tick(file, path)
        if kwargs or len(args) != len(method.inputs):
            raise SpecError("E406", f"self.{method.name} takes {len(method.inputs)} positional input(s)", file, path)
        for name, value in zip(method.inputs, args):
            _check_input(f"self.{method.name}'s {name}", value, method.types.get(name, "torch.Tensor"), False, where)
        done, value = self._statements(method.body, dict(zip(method.inputs, args)), inst)
        returns = annotation(value)
        if returns is None:
            raise SpecError("E401", returns_message(f"self.{method.name}", value), file, method.path)
        method.returns = returns
        return value

    def took(self, file: str, path: str, *arms: str) -> None:
        self.taken.setdefault((file, path), set()).update(arms)

    def _statements(self, body: list[Statement], env: dict[str, Any], inst: Instance) -> tuple[bool, Any]:
        for stmt in body:
            done, value = self._statement(stmt, env, inst)
            if done:
                return True, value
        return False, None

    def _statement(self, stmt: Statement, env: dict[str, Any], inst: Instance) -> tuple[bool, Any]:
        file = inst.file
        self._tick(file, stmt.path)
        if isinstance(stmt, Assign):
            value = self.eval(stmt.value, env, inst, stmt.path)
            if stmt.item is not None:  # X[index] = value: X keeps its shape and dtype
                target = self.eval(stmt.item.value, env, inst, stmt.path)
                if not isinstance(target, Tensor):
                    raise SpecError("E401", f"{stmt.targets[0]}[...] = needs {stmt.targets[0]} to be a tensor, found {_describe(target)}", file, stmt.path)
                index = self.index(stmt.item, env, inst, stmt.path)
                self._rule(lambda: catalogue.check_setitem(target, index, value), "assignment", (file, stmt.path))
                return False, None
            if stmt.op != "=":
                target = stmt.targets[0]
                if target not in env:
                    raise SpecError("E303", f"{target!r} is used before it is assigned", file, stmt.path)
                op = {"+=": ast.Add(), "-=": ast.Sub(), "*=": ast.Mult(), "/=": ast.Div()}[stmt.op]
                new = self._binop(op, env[target], value, (file, stmt.path))
                if isinstance(env[target], Tensor) and new != env[target]:
                    old = env[target]
                    change = f"shape from {old} to {new}" if new.shape != old.shape else f"dtype from {old.dtype} to {new.dtype}"
                    raise SpecError("E401", f"in-place {stmt.op} would change {target}'s {change}", file, stmt.path)
                env[target] = new
            elif len(stmt.targets) == 1:
                self._store(stmt.targets[0], value, env, inst, stmt.path)
            else:
                if not isinstance(value, tuple) or len(value) != len(stmt.targets):
                    raise SpecError("E401", f"cannot unpack {_describe(value)} into {len(stmt.targets)} names", file, stmt.path)
                for target, item in zip(stmt.targets, value):
                    self._store(target, item, env, inst, stmt.path)
            return False, None
        if isinstance(stmt, Append):
            target = env.get(stmt.target)
            if not isinstance(target, TensorList):
                raise SpecError("E401", f"{stmt.target}.append() needs a list built with {stmt.target} = [], found {_describe(target)}", file, stmt.path)
            value = self.eval(stmt.value, env, inst, stmt.path)
            if not isinstance(value, Tensor):
                raise SpecError("E401", f"only tensors may be appended to a list, found {_describe(value)}", file, stmt.path)
            env[stmt.target] = _list(target.items + (value,), (file, stmt.path))
            return False, None
        if isinstance(stmt, If):
            test = self._condition(self.eval(stmt.test, env, inst, stmt.path + ".if"), (file, stmt.path + ".if"))
            if isinstance(test, bool):
                self.took(file, stmt.path, "then" if test else "else")
                return self._statements(stmt.then if test else stmt.orelse, env, inst)
            self.took(file, stmt.path, "then", "else")
            # Data-dependent: both branches must leave the same shapes behind.
            # (torch.is_grad_enabled() is decided at run time too.)
            then_env, else_env = dict(env), dict(env)
            tensors_before = dict(inst.tensors)
            then = self._statements(stmt.then, then_env, inst)
            then_tensors, inst.tensors = inst.tensors, dict(tensors_before)
            orelse = self._statements(stmt.orelse, else_env, inst)
            # A name bound in one arm only is unbound after the if (using it is E303); a name bound in both must agree.
            differ = sorted(n for n in set(then_env) & set(else_env) if then_env[n] != else_env[n])
            if differ or then != orelse or then_tensors != inst.tensors:
                what = f": {differ[0]} is {_describe(then_env[differ[0]])} in one and {_describe(else_env[differ[0]])} in the other" if differ else ""
                raise SpecError("E401", f"the two branches of a data-dependent if give different shapes{what}", file, stmt.path)
            for name in list(env):
                if name not in then_env or name not in else_env:
                    del env[name]
            env.update({n: v for n, v in then_env.items() if n in else_env})
            return then
        if isinstance(stmt, While):
            test = self._condition(self.eval(stmt.test, env, inst, stmt.path + ".while"), (file, stmt.path + ".while"))
            if isinstance(test, bool):
                raise SpecError("E407", "a while loop must depend on tensor data; use a for loop over a layer container for a fixed count", file, stmt.path)
            before = dict(env)
            done, value = self._statements(stmt.body, env, inst)
            if done or env != before:
                raise SpecError("E401", "the body of a data-dependent while loop must keep every shape unchanged", file, stmt.path)
            return False, None
        if isinstance(stmt, For) and stmt.over == "values":
            return self._loop_over_values(stmt, env, inst)
        if isinstance(stmt, For):
            if isinstance(stmt.iterable, ast.Name):  # the variadic module argument
                items = list(inst.children.values())
            else:
                container = self.eval(stmt.iterable, env, inst, stmt.path + ".in")
                if not isinstance(container, Instance) or container.kind != "container" or container.type == "ModuleDict":
                    raise SpecError("E316", "a for loop runs over a Sequential or ModuleList", file, stmt.path)
                items = list(container.children.values())
            for index, item in enumerate(items):
                if stmt.index is not None:
                    env[stmt.index] = index
                env[stmt.var] = item
                done, value = self._statements(stmt.body, env, inst)
                if done:
                    return True, value
            return False, None
        return True, self.eval(stmt.value, env, inst, stmt.path + ".return")

    def _store(self, target: str, value: Any, env: dict[str, Any], inst: Instance, path: str) -> None:
        if not target.startswith("self."):
            env[target] = value
            return
        # A buffer's new value (d2l's BatchNorm): the same shape, so state_dict keeps its layout.
        name = target[5:]
        old = inst.tensors[name]
        if not isinstance(value, Tensor) or value.shape != old.shape:
            raise SpecError("E401", f"{target} is a buffer of shape {old}; forward may only give it a new value of that shape, found {_describe(value)}", inst.file, path)
        inst.tensors[name] = value

    def _loop_over_values(self, stmt: For, env: dict[str, Any], inst: Instance) -> tuple[bool, Any]:
        """``for X in inputs:`` (a tensor's first dimension) or over a list: the body runs once, on one item's shape.

        One pass decides every later one only if it leaves each value that existed
        before the loop as it was (lists may grow: what one pass appends, every pass
        appends); otherwise the spec is refused (E410) rather than guessed.
        """
        file, path = inst.file, stmt.path
        seq = self.eval(stmt.iterable, env, inst, path + ".in")
        name = expressions.unparse(stmt.iterable)
        if isinstance(seq, Tensor):
            if not seq.shape:
                raise SpecError("E401", f"cannot loop over {name}: it is a 0-d tensor", file, path)
            count, kinds = seq.shape[0], [_first_dim_item(seq)]
        elif isinstance(seq, TensorList):
            count, kinds = len(seq.items), sorted(set(seq.items), key=seq.items.index)
            if len(kinds) > 1:
                raise SpecError("E410", f"cannot loop over the list {name}: its items have different shapes ({', '.join(map(str, kinds))}); one pass of the body could not stand for all", file, path)
        else:
            raise SpecError("E316", f"a for loop over a name runs over a tensor or a list, found {_describe(seq)}", file, path)
        if count == 0:
            raise SpecError("E410", f"{name} is empty in this example, so the loop body is never shape-checked; give a larger example", file, path)
        before = dict(env)
        env[stmt.var] = kinds[0]
        done, _ = self._statements(stmt.body, env, inst)
        if done:
            raise SpecError("E410", "a return inside a loop over a tensor or list cannot be shape-checked; build a list and return after the loop", file, path)
        for key, old in before.items():
            new = env.get(key)
            if isinstance(old, TensorList) and isinstance(new, TensorList) and new.items[: len(old.items)] == old.items:
                appended = new.items[len(old.items):]
                env[key] = _list(old.items + appended * count, (file, path))
            elif new != old and key != stmt.var:
                raise SpecError(
                    "E410",
                    f"one pass of the loop body changes {key} from {_describe(old)} to {_describe(new)}, so one symbolic pass "
                    "cannot decide the shapes of the next; keep the shapes of values carried between iterations fixed",
                    file, path,
                )
        return False, None

    # -------------------------------------------------------------- expressions

    def eval(self, node: ast.expr, env: dict[str, Any], inst: Instance, path: str) -> Any:
        where = (inst.file, path)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise SpecError("E303", f"{node.id!r} is used before it is assigned", *where)
            return env[node.id]
        if isinstance(node, ast.List):
            items = tuple(self.eval(e, env, inst, path) for e in node.elts)
            if not all(isinstance(item, Tensor) for item in items):
                raise SpecError("E401", "a list in forward holds tensors only; write a tuple for other values", *where)
            return TensorList(items)
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e, env, inst, path) for e in node.elts)
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner == "self":
                if node.attr in inst.tensors:
                    return inst.tensors[node.attr]
                if node.attr in inst.hyper:
                    return inst.hyper[node.attr]
                if node.attr == "training":
                    return self.training
                child = inst.children[node.attr]
                return None if child.kind == "none" else child
            if owner == "torch":
                return TORCH_DTYPES[node.attr]
            if owner == "math":
                return expressions.MATH_CONSTANTS[node.attr]
            value = self.eval(node.value, env, inst, path)
            if not isinstance(value, Tensor):
                raise SpecError("E401", f".{node.attr} needs a tensor, found {_describe(value)}", *where)
            if node.attr == "T":
                return self._rule(lambda: catalogue.transposed(value), ".T", where)
            return DEVICE if node.attr == "device" else value.shape
        if isinstance(node, ast.Call):
            return self._call(node, env, inst, path)
        if isinstance(node, ast.BinOp):
            return self._binop(node.op, self.eval(node.left, env, inst, path), self.eval(node.right, env, inst, path), where)
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand, env, inst, path)
            if isinstance(operand, Tensor):
                if isinstance(node.op, ast.Not):
                    return _DATA
                symbol = {ast.Invert: "~", ast.USub: "-", ast.UAdd: "+"}[type(node.op)]
                return self._rule(lambda: catalogue.unary_result(symbol, operand), f"unary {symbol}", where)
            if operand is _DATA:
                return _DATA
            if isinstance(node.op, ast.Invert):
                raise SpecError("E401", f"~ needs a bool or integer tensor, found {_describe(operand)}", *where)
            return expressions.evaluate(ast.UnaryOp(node.op, ast.Constant(operand)), {}, path)
        if isinstance(node, ast.BoolOp):
            values = [self.eval(v, env, inst, path) for v in node.values]
            if any(v is _DATA or isinstance(v, Tensor) for v in values):
                return _DATA
            return expressions.evaluate(ast.BoolOp(node.op, [ast.Constant(v) for v in values]), {}, path)
        if isinstance(node, ast.Compare):
            left = self.eval(node.left, env, inst, path)
            for op, comp in zip(node.ops, node.comparators):
                right = self.eval(comp, env, inst, path)
                if isinstance(op, (ast.Is, ast.IsNot)):
                    result = (left is None) == isinstance(op, ast.Is)
                elif _DATA in (left, right):
                    return _DATA
                elif isinstance(left, Tensor) or isinstance(right, Tensor):
                    for side in (left, right):
                        if isinstance(side, Instance):
                            raise SpecError("E401", f"cannot compare a tensor with {_describe(side)}", *where)
                    if len(node.ops) > 1:
                        raise SpecError("E401", "a chained comparison of tensors needs & between its parts: (a < X) & (X < b)", *where)
                    symbol = _COMPARE_SYMBOLS[type(op)]
                    return self._rule(lambda: catalogue.operator_result(symbol, left, right), symbol, where)
                else:
                    result = expressions.evaluate(ast.Compare(ast.Constant(left), [op], [ast.Constant(right)]), {}, path)
                if not result:
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            test = self._condition(self.eval(node.test, env, inst, path), where)
            key = f"{path}: {expressions.unparse(node)}"
            if isinstance(test, bool):
                self.took(inst.file, key, "then" if test else "else")
                return self.eval(node.body if test else node.orelse, env, inst, path)
            self.took(inst.file, key, "then", "else")
            body, orelse = self.eval(node.body, env, inst, path), self.eval(node.orelse, env, inst, path)
            if body != orelse:
                raise SpecError("E401", f"the two sides of a data-dependent conditional give {_describe(body)} and {_describe(orelse)}", *where)
            return body
        if isinstance(node, ast.Subscript):
            value = self.eval(node.value, env, inst, path)
            index = self.index(node, env, inst, path)
            if isinstance(value, TensorList) and isinstance(index, int) and not isinstance(index, bool):
                if not -len(value.items) <= index < len(value.items):  # Hs[i]: one state per layer, each given
                    raise SpecError("E401", f"index {index} is out of range for {expressions.unparse(node.value)}, a list of {len(value.items)} tensors in this example", *where)
                return value.items[index]
            if isinstance(value, Instance) and value.kind == "container":
                return _child(value, index, where)
            if isinstance(value, Tensor):
                return self._rule(lambda: catalogue.index_shape(value, index), "indexing", where)
            if isinstance(value, tuple) and (isinstance(index, slice) or catalogue.check_kind("int", index)):
                if isinstance(index, slice) and not all(p is None or catalogue.check_kind("int", p) for p in (index.start, index.stop, index.step)):
                    raise SpecError("E401", f"a slice of a tuple takes ints or None, found {index}", *where)
                try:
                    return value[index]
                except (IndexError, ValueError) as exc:
                    raise SpecError("E401", f"cannot index {_describe(value)} by {index}: {exc}", *where) from None
            if isinstance(value, Instance) and value.kind == "container":
                return _child(value, index, where)
            raise SpecError("E401", f"cannot index {_describe(value)} by {_describe(index)}: index a tensor, or a tuple such as X.shape by an int or a slice", *where)
        raise SpecError("E302", f"{type(node).__name__} is not supported in forward", *where)

    def index(self, node: ast.Subscript, env: dict[str, Any], inst: Instance, path: str) -> Any:
        """The index of ``node``: ints, ``slice`` objects, None, Ellipsis and tensors, one or a tuple."""

        def item(part: ast.expr) -> Any:
            if isinstance(part, ast.Slice):
                return slice(*(None if p is None else self.eval(p, env, inst, path) for p in (part.lower, part.upper, part.step)))
            return self.eval(part, env, inst, path)

        if isinstance(node.slice, ast.Tuple):
            return tuple(item(part) for part in node.slice.elts)
        return item(node.slice)

    @staticmethod
    def _condition(test: Any, where: tuple[str, str]) -> Any:
        """A test as Python reads it: a tensor of one element, or a plain value."""
        if isinstance(test, Tensor) and math.prod(test.shape) != 1:
            raise SpecError(
                "E401", f"a condition on {_describe(test)} is ambiguous (torch needs one element); reduce it first, e.g. X.sum() > 0", *where
            )
        return test

    def _rule(self, rule: Callable[[], Any], label: str, where: tuple[str, str]) -> Any:
        try:
            return rule()
        except ShapeError as exc:
            raise SpecError("E401", f"{label}: {exc}", *where) from None

    def _call(self, node: ast.Call, env: dict[str, Any], inst: Instance, path: str) -> Any:
        where = (inst.file, path)
        args = [self.eval(a, env, inst, path) for a in node.args]
        kwargs = {k.arg: self.eval(k.value, env, inst, path) for k in node.keywords if k.arg}
        func = node.func
        kind = type(func)
        if kind is ast.Attribute and type(func.value) is ast.Name and f"{func.value.id}.{func.attr}" in expressions.MODE_FUNCTIONS:
            return _DATA  # torch.is_grad_enabled(): decided at run time
        if kind is ast.Name and func.id in expressions.FORWARD_BUILTINS:
            return self._builtin(func.id, args[0], where)
        if kind is ast.Attribute and type(func.value) is ast.Name and func.value.id == "math":
            if any(isinstance(a, Tensor) or a is _DATA for a in args):
                raise SpecError("E401", f"math.{func.attr} takes numbers; for a tensor use torch.{func.attr}", *where)
            try:
                return expressions.call_math(func.attr, args)
            except (TypeError, ValueError, ArithmeticError) as exc:  # math.log(1, 1) divides by zero
                raise SpecError("E306", f"cannot evaluate {ast.unparse(node)!r} on {_describe(tuple(args))}: {exc}", *where) from None
        if kind is ast.Name and inst.block is not None and func.id in inst.block.functions:
            return self.call_function(self.blocks[func.id], args, kwargs, where)
        if isinstance(func, ast.Attribute) and _is_self(func.value) and inst.block is not None:
            method = next((m for m in inst.block.methods if m.name == func.attr), None)
            if method is not None:
                return self.call_method(inst, method, args, kwargs, where)
        if isinstance(func, (ast.Name, ast.Subscript)) or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"):
            target = self.eval(func, env, inst, path)
            if isinstance(target, Instance):
                return self.call(target, args, kwargs, where)
            if target is None:
                raise SpecError("E406", f"{ast.unparse(func)} is None in this configuration; test it with 'is not None' first", *where)
            raise SpecError("E406", f"{ast.unparse(func)} is not a layer and cannot be called", *where)
        assert isinstance(func, ast.Attribute)
        # A torch function takes a list as the sequence of its tensors (torch.stack(outputs)); a method,
        # function spec or block with a list input took it as a list above.
        args = [item.items if isinstance(item, TensorList) else item for item in args]
        kwargs = {k: v.items if isinstance(v, TensorList) else v for k, v in kwargs.items()}
        if isinstance(func.value, ast.Name) and func.value.id in ("F", "torch"):
            spec = catalogue.FUNCTIONS[f"{func.value.id}.{func.attr}"]
            label = spec.name
        else:
            owner = self.eval(func.value, env, inst, path)
            if not isinstance(owner, Tensor):
                raise SpecError("E401", f".{func.attr}() needs a tensor, found {_describe(owner)}", *where)
            spec = catalogue.METHODS[func.attr]
            label = f"Tensor.{func.attr}"
            args = [owner] + args
        # What torch refuses to take by position, or by keyword, is refused here too.
        names = [p.name for p in spec.params]
        if spec.varargs:  # it takes every remaining positional argument
            names = names[: names.index(spec.varargs) + 1]
        by_position = names[: len(args)]
        for name in sorted(spec.keyword_only & set(by_position)):
            raise SpecError("E406", f"{label} takes {name!r} by keyword only", *where)
        if spec.varargs and not spec.keyword_varargs and spec.varargs in kwargs:
            raise SpecError("E406", f"{label} does not take {spec.varargs!r} by keyword", *where)
        if kwargs and spec.positional_only:
            for name in sorted(spec.positional_only & set(kwargs)):
                raise SpecError("E406", f"{label} takes {name!r} by position only", *where)
        bound = _bind(spec.params, args, kwargs, label, where, spec.varargs)
        try:
            return spec.shape(bound)
        except ShapeError as exc:
            raise SpecError("E401", f"{spec.name}: {exc}", *where) from None

    def _binop(self, op: ast.operator, left: Any, right: Any, where: tuple[str, str]) -> Any:
        if left is _DATA or right is _DATA:
            return _DATA
        if any(isinstance(side, tuple) and any(isinstance(item, Tensor) for item in side) for side in (left, right)):
            raise SpecError("E401", f"{_BINOP_SYMBOLS[type(op)]}: a tuple of tensors is not a tensor; unpack or index it first, found {_describe(left)} and {_describe(right)}", *where)
        if isinstance(left, TensorList) or isinstance(right, TensorList):
            raise SpecError("E401", f"{_BINOP_SYMBOLS[type(op)]}: a list of tensors is not a tensor; index it (Hs[0]) or stack it (torch.stack(Hs)), found {_describe(left)} and {_describe(right)}", *where)
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            symbol = _BINOP_SYMBOLS[type(op)]
            for side in (left, right):
                if isinstance(side, Instance):  # a layer, not a value: the message names it
                    raise SpecError("E401", f"{symbol}: cannot combine a tensor with {_describe(side)}", *where)
            return self._rule(lambda: catalogue.operator_result(symbol, left, right), symbol, where)
        if isinstance(op, (ast.BitAnd, ast.BitOr)):
            raise SpecError("E401", f"{_BINOP_SYMBOLS[type(op)]} needs a tensor (a mask), found {_describe(left)} and {_describe(right)}", *where)
        return expressions.evaluate(ast.BinOp(ast.Constant(left), op, ast.Constant(right)), {}, where[1])

    def _builtin(self, name: str, value: Any, where: tuple[str, str]) -> Any:
        """len, int and float in forward: on shapes and numbers (a tensor's values are not known here)."""
        if name == "len":
            if isinstance(value, Tensor):
                if not value.shape:
                    raise SpecError("E401", "len() of a 0-d tensor", *where)
                return value.shape[0]
            if isinstance(value, tuple):
                return len(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return expressions.bounded(int(value) if name == "int" else float(value))
            except SpecError as exc:
                raise SpecError(exc.code, exc.message, *where) from None
        raise SpecError("E401", f"{name}() takes {'a tensor or a tuple' if name == 'len' else 'a number (a tensor element depends on the data)'}, found {_describe(value)}", *where)


def _input_type(block: Block, name: str) -> str:
    """The annotation of a forward input: a tensor, a pair of tensors, or a list of tensors."""
    if name in block.pairs:
        return "tuple[torch.Tensor, torch.Tensor]"
    return "list[torch.Tensor]" if name in block.lists else "torch.Tensor"


def _check_input(label: str, value: Any, kind: str, optional: bool, where: tuple[str, str]) -> None:
    """A value passed to a block's forward or a method: of the input's declared kind (or None where optional)."""
    if value is None and optional:
        return
    if kind == "tuple[torch.Tensor, torch.Tensor]":
        ok = isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, Tensor) for v in value)
        need = "a pair of tensors"
    elif kind == "list[torch.Tensor]":
        ok, need = isinstance(value, TensorList), "a list of tensors"
    else:
        ok, need = isinstance(value, Tensor), "a tensor"
    if not ok:
        raise SpecError("E406", f"{label} must be {need}{' or None' if optional else ''}, found {_describe(value)}", *where)


class _Data:
    """A value that depends on tensor data: a condition the analyser cannot decide."""

    def __repr__(self) -> str:
        return "<data-dependent>"


_DATA = _Data()

_BINOP_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
}
_COMPARE_SYMBOLS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _bind(params: tuple, args: list[Any], kwargs: dict[str, Any], name: str, where: tuple[str, str], varargs: str | None = None) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    names = [p.name for p in params]
    positional = list(args)
    for param in params:
        if param.name == varargs:
            if positional or varargs not in kwargs:  # x.repeat(repeats=(2, 1)) gives it by keyword instead
                bound[param.name] = tuple(positional[0]) if len(positional) == 1 and isinstance(positional[0], tuple) else tuple(positional)
            positional = []
            continue
        if positional:
            bound[param.name] = positional.pop(0)
    if positional:
        raise SpecError("E406", f"{name} takes at most {len(names)} positional arguments", *where)
    for key, value in kwargs.items():
        if key not in names:
            raise SpecError("E321", f"{name} has no argument {key!r}" + did_you_mean(key, names), *where)
        if key in bound:
            raise SpecError("E406", f"{name} got {key!r} twice", *where)
        bound[key] = value
    for param in params:
        if param.name not in bound:
            if param.default is REQUIRED:
                raise SpecError("E322", f"{name} needs argument {param.name!r}", *where)
            bound[param.name] = param.default
        elif not param.kind.startswith("tensor"):  # sizes too (x.flip(0.5), x.flip(dims='a')), however given
            value = bound[param.name]
            if not isinstance(value, Tensor) and not catalogue.check_kind(param.kind, value):
                raise SpecError("E323", f"{name}'s {param.name} must be {catalogue.describe_kind(param.kind)}, found {_describe(value)}", *where)
    return bound


def _child(container: Instance, index: Any, where: tuple[str, str]) -> Instance:
    """``self.blks[i]`` (Sequential, ModuleList) or ``self.heads['name']`` (ModuleDict)."""
    children = list(container.children.values())
    if container.type == "ModuleDict":
        if not isinstance(index, str) or index not in container.children:
            raise SpecError("E401", f"the ModuleDict at {container.path} has no key {index!r}" + (did_you_mean(index, container.children) if isinstance(index, str) else ""), *where)
        return container.children[index]
    if not catalogue.check_kind("int", index):
        raise SpecError("E401", f"a {container.type} is indexed by an int, found {_describe(index)}", *where)
    if not -len(children) <= index < len(children):
        raise SpecError("E401", f"index {index} is out of range for the {container.type} at {container.path} ({len(children)} layers)", *where)
    return children[index]


def _list(items: tuple[Any, ...], where: tuple[str, str]) -> TensorList:
    if len(items) > MAX_LIST:
        raise SpecError("E324", f"a list of {len(items):,} tensors is too long (at most {MAX_LIST:,}); make the example smaller", *where)
    return TensorList(items)


def _first_dim_item(seq: Tensor) -> Tensor:
    """One item of ``for X in seq``: the tensor without its first dimension (and with its dtype)."""
    return dataclasses.replace(seq, shape=seq.shape[1:])


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _must_be_positive(name: str) -> bool:
    return name.endswith(("features", "channels", "_dim", "_size", "embeddings")) or name.startswith("num_")


def _describe(value: Any) -> str:
    if isinstance(value, Instance):
        return f"the layer at {value.path}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_describe(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, LayerClass):
        return f"the layer class {value}"
    return catalogue.describe_value(value)


def format_shape(value: Any) -> str:
    if isinstance(value, (Tensor, TensorList)):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(format_shape(v) for v in value) + ")"
    return repr(value)


def build_example(checker: ShapeChecker, block: Block, index: int = 0) -> Instance:
    """Instantiate ``block`` with the arguments of its example number ``index``."""
    # Layers given in the example are checked like a spec's own (imported here: analyse imports this module).
    from .analyse import _layer

    values: dict[str, Any] = {}
    where = block.example_path(index)
    for name, value in block.examples[index].get("args", {}).items():
        arg = next(a for a in block.args if a.name == name)
        path = f"{where}.args.{name}"
        if arg.variadic:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise SpecError("E405", "a variadic module argument takes a list of layers", block.file, path)
            scope = Scope("init", frozenset())
            values[name] = [
                checker.build_layer(_layer(v, f"{path}[{i}]", scope, set(checker.blocks)), {}, block)
                for i, v in enumerate(value)
            ]
        else:
            value = tuple(value) if isinstance(value, list) else value
            if arg.annotation in CLASS_TYPES:  # written as an expression: nn.ReLU, partial(nn.LayerNorm, eps=1e-6)
                from .analyse import class_value

                value = class_value(value, frozenset(n for n in checker.blocks if n[:1].isupper()), path)[0]
            if not fits(arg.annotation, value) or (arg.choices and value not in arg.choices):
                raise SpecError("E323", f"{name} must be {arg.annotation}" + (f" in {list(arg.choices)}" if arg.choices else "") + f", found {_describe(value)}", block.file, path)
            values[name] = value
    if block.kind == "function":
        inst = Instance("function", block.name, "", block.file)
        inst.block = block
        inst.hyper = {a.name: values.get(a.name, a.default) for a in block.args}
        return inst
    return checker.build_block(block, values, "")


def example_inputs(example: dict[str, Any]) -> list[Any]:
    """The abstract inputs of an example: a tensor per shape, None where an optional input is left out."""
    inputs: list[Any] = []
    for value in example["inputs"].values():
        if value is None:
            inputs.append(None)
        else:
            inputs.append(_example_tensor(value))  # a shape, {shape, dtype, high}, a pair or a list of shapes
    return inputs


def _example_tensor(value: Any) -> Any:
    """An example input: a shape, {shape, dtype, high}, a pair of shapes, or {"list": [shape, ...]}."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return tuple(_example_tensor(v) for v in value)
    if isinstance(value, dict) and "list" in value:
        return TensorList(tuple(_example_tensor(v) for v in value["list"]))
    if isinstance(value, dict):
        return Tensor(tuple(value["shape"]), {"float32": "float", "long": "long", "bool": "bool"}[value["dtype"]], value.get("high"))
    return Tensor(tuple(value))


def annotation(value: Any) -> str | None:
    """The return annotation TorchScript accepts for ``value``: torch.Tensor, tuple[torch.Tensor, ...] spelled out, nested."""
    if isinstance(value, Chunks):
        return None  # as many as the input gives: no fixed type (see returns_message)
    if isinstance(value, Tensor):
        return "torch.Tensor"
    if isinstance(value, TensorList):
        return "list[torch.Tensor]"
    if isinstance(value, tuple) and value:
        parts = [annotation(v) for v in value]
        if all(parts):
            return "tuple[" + ", ".join(parts) + "]"  # type: ignore[arg-type]
    return None


def returns_message(what: str, value: Any) -> str:
    """Why ``value`` cannot be returned (annotation() found no type for it)."""
    def chunks(v: Any) -> bool:
        return isinstance(v, Chunks) or (isinstance(v, tuple) and any(chunks(item) for item in v))

    if chunks(value):
        return f"{what} returns the chunks of .split(), whose number depends on the input; unpack them (q, k, v = x.split(...)) and return those"
    return f"{what} returns {_describe(value)}; it must return a tensor or a tuple of tensors"


def infer(block: Block, blocks: dict[str, Block]) -> None:
    """Run every example through the block on shapes; fill its table and output from the first."""
    checker = ShapeChecker(blocks)
    first: Instance | None = None
    first_output: Any = None
    for index, example in enumerate(block.examples):
        where = block.example_path(index)
        checker.training = example.get("training", True)
        inst = build_example(checker, block, index)
        inputs = example_inputs(example)
        if block.kind == "function":
            output = checker.run(inst, inputs, inst.hyper)
        else:
            output = checker.run(inst, inputs)
            check_inits(checker, inst)
        declared = example.get("output")
        returns = annotation(output)
        if returns is None:
            raise SpecError("E401", returns_message("forward", output), block.file, "forward.body")
        if declared is not None:
            if not isinstance(output, Tensor):
                raise SpecError("E402", f"example output declared as a shape but forward returns {_describe(output)}", block.file, f"{where}.output")
            if tuple(declared) != output.shape:
                raise SpecError("E402", f"example output declared as {Tensor(tuple(declared))} but the layers give {output}", block.file, f"{where}.output")
        if index == 0:
            first, first_output = inst, output
            block.returns = returns
        elif returns != block.returns:
            raise SpecError("E401", f"this example's forward returns {returns}, the first one's {block.returns}: one annotation must fit both", block.file, where)
        _run_public_methods(checker, block, inst, example, where)
    assert first is not None
    _check_branches(block, checker)
    block.output_shape = first_output.shape if isinstance(first_output, Tensor) else None
    block.output_text = format_shape(first_output)
    block.table = table_rows(first) if block.kind != "function" else []
    block.total_parameters = first.parameter_count() if block.kind != "function" else 0
    if block.total_parameters > MAX_PARAMETERS:
        raise SpecError("E324", f"the example has {block.total_parameters:,} parameters (at most {MAX_PARAMETERS:,})", block.file, "example")


def _run_public_methods(checker: ShapeChecker, block: Block, inst: Instance, example: dict[str, Any], where: str) -> None:
    """Each public method (d2l's init_state) on the inputs this example gives it, as forward on its inputs."""
    for method in block.methods:
        given = example.get("methods", {}).get(method.name)
        if not method.public or given is None:
            continue
        checker.call_method(inst, method, [_example_tensor(v) for v in given.values()], {}, (block.file, f"{where}.methods.{method.name}"))
        first = checker.method_returns.setdefault(method.name, method.returns)
        if method.returns != first:
            raise SpecError("E401", f"method {method.name} returns {method.returns} here, {first} on another example: one annotation must fit both", block.file, f"{where}.methods.{method.name}")


def _check_branches(block: Block, checker: ShapeChecker) -> None:
    """Every arm of every if in forward must have been shape-checked by some example."""
    examples = "the example" if len(block.examples) == 1 else "any example"

    def arms(test: str, taken: set[str], path: str) -> None:
        for arm in ("then", "else"):
            if arm not in taken:
                outcome = "true" if arm == "then" else "false"
                raise SpecError(
                    "E409",
                    f"the {arm} branch of 'if {test}' is never shape-checked: {examples} never makes the test {outcome}; "
                    "add an example (\"examples\": [...]) that does",
                    block.file,
                    path,
                )

    def expressions_of(stmt: Statement) -> list[tuple[ast.expr, str]]:
        found = []
        # The paths shape inference evaluates each expression under (ShapeChecker._statement).
        for attr, suffix in (("value", ""), ("test", ".if"), ("iterable", ".in")):
            tree = getattr(stmt, attr, None)
            if tree is not None:
                if isinstance(stmt, Return):
                    suffix = ".return"
                elif isinstance(stmt, While) and attr == "test":
                    suffix = ".while"
                found.append((tree, stmt.path + suffix))
        return found

    def walk(body: list[Statement]) -> None:
        for stmt in body:
            for tree, path in expressions_of(stmt):
                for node in ast.walk(tree):
                    if isinstance(node, ast.IfExp):
                        text = expressions.unparse(node)
                        arms(expressions.unparse(node.test), checker.taken.get((block.file, f"{path}: {text}"), set()), path)
            if isinstance(stmt, If):
                arms(expressions.unparse(stmt.test), checker.taken.get((block.file, stmt.path), set()), stmt.path)
            for attr in ("then", "orelse", "body"):
                walk(getattr(stmt, attr, []))

    walk(block.body)
    for method in block.methods:
        walk(method.body)
    # The configuration's own branches: conditional layers, tensors and Sequential children.
    conditions = [(f"{section}.{t.name}.if", t.condition) for section, defs in (("parameters", block.parameters), ("buffers", block.buffers)) for t in defs]
    conditions += [(f"{layer.path}.if", layer.condition) for layer in _layers_of(block)]
    conditions += [(d.path, d.value.test) for d in block.derived if isinstance(d.value, ast.IfExp)]
    for path, condition in conditions:
        if condition is not None:
            arms(expressions.unparse(condition), checker.taken.get((block.file, path), set()), path)


def _layers_of(block: Block) -> list[LayerDef]:
    found: list[LayerDef] = []
    stack: list[Any] = list(block.layers.values())
    while stack:
        layer = stack.pop()
        if isinstance(layer, RepeatDef):
            continue  # a repeat's layers take no 'if'
        found.append(layer)
        stack.extend(layer.children)
    return found


def check_inits(checker: ShapeChecker, inst: Instance) -> None:
    """Check every init of a built block against the tensors it initialises (after forward: sizes inferred at the first call are known)."""
    block = inst.block
    assert block is not None
    evaluate = _InitEvaluator(checker.blocks, inst).evaluate
    for t in block.parameters + block.buffers:
        if inst.tensors[t.name] is not None:  # an optional tensor this configuration leaves out is None
            initialisers.check(t.init, inst.tensors[t.name].shape, inst.env, block.file, evaluate)
    rules = {type_name: rule for rule in block.init_rules for type_name in rule.types}
    for layer in _descendants(inst):
        if layer.kind == "block" and layer is not inst:
            check_inits(checker, layer)
            continue
        if layer.kind != "layer":
            continue
        # The block's rule runs first, then the layer's own init (see render).
        owned = layer.definition.init if layer.definition is not None and layer.file == block.file else {}
        rule = rules.get(layer.type)
        for init in ([rule.tensors.get("weight"), rule.tensors.get("bias")] if rule else []) + list(owned.values()):
            if init is None:
                continue
            tensors = initialisers.layer_tensors(layer.type, layer.args)
            if tensors is None:
                continue  # a size inferred at a call that never happened: nothing to check against
            shape = tensors[init.name]
            if shape is None:
                raise SpecError("E342", f"nn.{layer.type} at {layer.path} has no {init.name} in this configuration; nothing to initialise", block.file, init.path)
            initialisers.check(init, shape, inst.env, block.file, evaluate)


def _descendants(inst: Instance) -> list[Instance]:
    """``inst.modules()`` but ``inst``: every layer, container and block below it (a nested block's insides too)."""
    found = []
    stack = list(reversed(inst.children.values()))
    while stack:
        child = stack.pop()
        found.append(child)
        if child.kind in ("container", "block"):
            stack.extend(reversed(child.children.values()))
    return found


class _InitEvaluator(ShapeChecker):
    """Evaluates an init's update step on shapes; a comparison of tensors is a (bool) tensor here."""

    def __init__(self, blocks: dict[str, Block], inst: Instance) -> None:
        super().__init__(blocks)
        self.owner = Instance("block", inst.type, inst.path, inst.file)  # no members: the step sees none

    def evaluate(self, tree: ast.expr, env: dict[str, Any], path: str) -> Any:
        return self.eval(tree, env, self.owner, path)

    def eval(self, node: ast.expr, env: dict[str, Any], inst: Instance, path: str) -> Any:
        if isinstance(node, ast.Compare) and not any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            operands = [self.eval(n, env, inst, path) for n in [node.left, *node.comparators]]
            if any(isinstance(v, Tensor) for v in operands):
                shape: tuple[int, ...] = ()
                for value in operands:
                    if isinstance(value, Tensor):
                        try:
                            shape = catalogue.broadcast(shape, value.shape)
                        except ShapeError as exc:
                            raise SpecError("E401", f"comparison: {exc}", inst.file, path) from None
                return Tensor(shape, "bool")
        return super().eval(node, env, inst, path)


def table_rows(inst: Instance) -> list[TableRow]:
    """One row per parameter, then per child: the order of state_dict(), which lists a module's own
    parameters before its children's whatever order __init__ made them in ("after" included)."""
    rows = [TableRow(name, "-", math.prod(inst.tensors[name].shape)) for name in inst.parameter_names]
    for name, child in inst.children.items():
        if child.kind == "none":
            continue
        if child.kind == "container" and len(child.children) <= MAX_TABLE_CHILDREN:
            for sub, grandchild in child.children.items():
                rows.append(TableRow(f"{name}.{sub}", _outputs(grandchild), grandchild.parameter_count()))
        else:
            rows.append(TableRow(name, _outputs(child), child.parameter_count()))
    return rows


def _outputs(inst: Instance) -> str:
    seen: list[str] = []
    for value in inst.outputs:
        text = format_shape(value)
        if text not in seen:
            seen.append(text)
    return " / ".join(seen) if seen else "-"
