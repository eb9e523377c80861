"""Analyse: names, references and shapes.

Turns schema-valid JSON into checked ``model.Block`` objects (every name and
expression checked), resolves which block uses which, and runs shape
inference (``shapes.py``) on each block's example so that mistakes are
caught before any code is written.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterable

from . import catalogue, expressions
from .errors import ErrorList, SpecError, did_you_mean
from .expressions import Scope
from .load import RawSpec
from .model import (
    Arg,
    Assign,
    Block,
    For,
    If,
    LayerDef,
    RepeatDef,
    Return,
    Statement,
    TensorDef,
    While,
)
from .shapes import fits, infer
from .values import REQUIRED

CONTAINERS = ("Sequential", "ModuleList")
DEFAULT_MAX_ITERATIONS = 10_000


class _Collector:
    """Runs checks and keeps going after a failure, so every error is reported."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[SpecError] = []

    def run(self, check: Callable[[], Any], default: Any = None) -> Any:
        try:
            return check()
        except SpecError as exc:
            exc.file = exc.file or self.file
            self.errors.append(exc)
        except ErrorList as exc:
            for error in exc.errors:
                error.file = error.file or self.file
            self.errors.extend(exc.errors)
        return default


# ------------------------------------------------------------------ phase 1


def check_spec(raw: RawSpec, block_names: set[str]) -> Block:
    """Build a checked Block from one schema-valid spec, or raise ErrorList."""
    doc = raw.doc
    errors = _Collector(str(raw.path))
    name = doc["name"]
    errors.run(lambda: _check_class_name(name, block_names))

    args = [
        errors.run(lambda n=n, a=a: _arg(n, a, f"args.{n}"))
        for n, a in doc.get("args", {}).items()
    ]
    args = [a for a in args if a is not None]
    errors.run(lambda: _check_variadic(args))
    arg_names = {a.name for a in args}

    members: dict[str, str] = {}  # member name -> where it is declared

    def member(name: str, path: str) -> bool:
        expressions.check_identifier(name, "member", path)
        if name in members:
            raise SpecError("E311", f"member {name!r} is already declared at {members[name]}", path=path)
        members[name] = path
        return True

    init_scope = Scope("init", frozenset(arg_names))
    tensors: dict[str, list[TensorDef]] = {"parameters": [], "buffers": []}
    for section in ("parameters", "buffers"):
        for tname, tdoc in doc.get(section, {}).items():
            path = f"{section}.{tname}"
            if errors.run(lambda: member(tname, path), default=False):
                shape = [
                    errors.run(lambda v=v, i=i: _init_expr(v, init_scope, f"{path}.shape[{i}]"))
                    for i, v in enumerate(tdoc["shape"])
                ]
                tensors[section].append(TensorDef(tname, shape, tdoc["init"], tdoc.get("doc", "")))

    layers: dict[str, LayerDef] = {}
    for lname, ldoc in doc.get("layers", {}).items():
        path = f"layers.{lname}"
        errors.run(lambda: member(lname, path))
        layer = errors.run(lambda: _layer(ldoc, path, init_scope, block_names, top=True))
        if layer is not None:
            layers[lname] = layer

    forward = doc["forward"]
    inputs = forward["inputs"]
    for i, input_name in enumerate(inputs):
        errors.run(lambda: expressions.check_identifier(input_name, "input", f"forward.inputs[{i}]"))
    variadic = next((a.name for a in args if a.variadic), None)
    local_names = set(inputs) | _assigned_names(forward["body"])
    for local in sorted(local_names & set(members)):
        errors.errors.append(SpecError("E311", f"local name {local!r} is also a member; use self.{local} or rename", errors.file, "forward"))
    forward_scope = Scope(
        "forward",
        frozenset(local_names),
        members=frozenset(members),
        functions=frozenset(catalogue.FUNCTIONS),
        methods=frozenset(catalogue.METHODS),
    )
    body = errors.run(lambda: _statements(forward["body"], "forward.body", forward_scope, variadic), default=[])
    if body and not isinstance(body[-1], Return):
        errors.errors.append(SpecError("E404", "forward must end with a return statement", errors.file, "forward.body"))

    example = doc["example"]
    errors.run(lambda: _check_example(example, args, inputs))

    if errors.errors:
        raise ErrorList(errors.errors)
    block = Block(
        raw=raw,
        name=name,
        doc=doc["doc"],
        args=args,
        parameters=tensors["parameters"],
        buffers=tensors["buffers"],
        layers=layers,
        inputs=inputs,
        body=body,
        example=example,
    )
    block.uses = {layer.type for layer in _walk_layers(layers.values()) if layer.kind == "block"}
    block.uses |= {
        l["type"] for l in _example_layers(example) if l["type"] in block_names
    }
    return block


def _check_class_name(name: str, block_names: set[str]) -> None:
    expressions.check_identifier(name, "class name", "name")
    if name in catalogue.LAYERS or name in CONTAINERS:
        raise SpecError("E312", f"class name {name!r} is a torch.nn layer; choose another", path="name")


def _arg(name: str, doc: dict[str, Any], path: str) -> Arg:
    expressions.check_identifier(name, "argument", path)
    annotation = doc["type"]
    variadic = doc.get("variadic", False)
    if variadic != (annotation == "nn.Module"):
        raise SpecError("E313", "only a variadic argument may have type nn.Module, and it must", path=path)
    default = doc.get("default", REQUIRED)
    if default is not REQUIRED:
        if variadic:
            raise SpecError("E313", "a variadic argument takes no default", path=path)
        if isinstance(default, list):
            default = tuple(default)
        if not fits(annotation, default):
            raise SpecError("E323", f"default {default!r} is not a {annotation}", path=f"{path}.default")
    return Arg(name, annotation, default, variadic, doc.get("doc", ""))


def _check_variadic(args: list[Arg]) -> None:
    variadic = [a for a in args if a.variadic]
    if variadic and (len(variadic) > 1 or args[-1] is not variadic[0] or len(args) > 1):
        raise SpecError("E313", "a variadic module argument must be the only argument", path="args")
    seen_default = False
    for arg in args:
        if arg.default is not REQUIRED:
            seen_default = True
        elif seen_default and not arg.variadic:
            raise SpecError("E313", f"argument {arg.name!r} without a default follows one with a default", path=f"args.{arg.name}")


def _init_expr(value: Any, scope: Scope, path: str) -> ast.expr:
    tree = expressions.from_json(value, path)
    expressions.check(tree, scope, path)
    return tree


def _layer(doc: dict[str, Any], path: str, scope: Scope, block_names: set[str], top: bool = False) -> LayerDef:
    errors = _Collector("")
    type_name = doc["type"]
    layer = LayerDef(path=path, type=type_name, doc=doc.get("doc", ""))
    if "if" in doc:
        if not top:
            errors.errors.append(SpecError("E314", "'if' is only allowed on a block's own layers", path=f"{path}.if"))
        layer.condition = errors.run(lambda: _init_expr(doc["if"], scope, f"{path}.if"))
    if type_name in CONTAINERS:
        layer.kind = "container"
        if doc.get("args"):
            errors.errors.append(SpecError("E321", f"{type_name} takes no args; list its children under 'layers'", path=f"{path}.args"))
        for i, child in enumerate(doc.get("layers", [])):
            child_path = f"{path}.layers[{i}]"
            if "for" in child:
                layer.children.append(errors.run(lambda: _repeat(child, child_path, scope, block_names, top)))
            else:
                layer.children.append(errors.run(lambda: _layer(child, child_path, scope, block_names)))
    else:
        if "layers" in doc:
            errors.errors.append(SpecError("E201", "only Sequential and ModuleList take 'layers'", path=f"{path}.layers"))
        if type_name in catalogue.LAYERS:
            layer.kind = "layer"
            known = {p.name for p in catalogue.LAYERS[type_name].params}
        elif type_name in block_names:
            layer.kind = "block"
            known = None  # checked once the other spec is loaded
        else:
            known_types = set(catalogue.LAYERS) | set(block_names) | set(CONTAINERS)
            raise SpecError("E320", f"unknown layer type {type_name!r}" + did_you_mean(type_name, known_types), path=f"{path}.type")
        for key, value in doc.get("args", {}).items():
            arg_path = f"{path}.args.{key}"
            if known is not None and key not in known:
                errors.errors.append(SpecError("E321", f"nn.{type_name} has no argument {key!r}" + did_you_mean(key, known), path=arg_path))
                continue
            tree = errors.run(lambda: _init_expr(value, scope, arg_path))
            if tree is not None:
                layer.args[key] = tree
    if errors.errors:
        raise ErrorList(errors.errors)
    return layer


def _repeat(doc: dict[str, Any], path: str, scope: Scope, block_names: set[str], top: bool) -> RepeatDef:
    if not top:
        raise SpecError("E314", "a repeat is only allowed directly in a block's own Sequential or ModuleList", path=path)
    var = doc["for"]
    expressions.check_identifier(var, "loop variable", f"{path}.for")
    if var in scope.names:
        raise SpecError("E311", f"loop variable {var!r} shadows an argument", path=f"{path}.for")
    iterable = _init_expr(doc["in"], scope, f"{path}.in")
    inner = Scope("init", scope.names | {var})
    layers = [_layer(l, f"{path}.layers[{i}]", inner, block_names) for i, l in enumerate(doc["layers"])]
    return RepeatDef(path, var, iterable, layers)


def _walk_layers(layers: Iterable[LayerDef | RepeatDef]) -> Iterable[LayerDef]:
    for layer in layers:
        if isinstance(layer, RepeatDef):
            yield from _walk_layers(layer.layers)
        elif layer is not None:
            yield layer
            yield from _walk_layers(layer.children)


def _example_layers(example: dict[str, Any]) -> Iterable[dict[str, Any]]:
    def walk(value: Any) -> Iterable[dict[str, Any]]:
        if isinstance(value, dict):
            yield value
            for child in value.get("layers", []):
                yield from walk(child)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for value in example.get("args", {}).values():
        yield from walk(value)


def _assigned_names(body: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        if "assign" in stmt:
            target = stmt["assign"]
            if isinstance(target, list):
                names |= set(target)
            elif "[" not in target:  # X[index] = value binds nothing
                names.add(target)
        if "for" in stmt:
            names.add(stmt["for"])
        for key in ("then", "else", "body"):
            names |= _assigned_names(stmt.get(key, []))
    return names


def _statements(docs: list[dict[str, Any]], path: str, scope: Scope, variadic: str | None) -> list[Statement]:
    errors = _Collector("")
    out: list[Statement] = []
    for i, doc in enumerate(docs):
        stmt = errors.run(lambda: _statement(doc, f"{path}[{i}]", scope, variadic))
        if stmt is not None:
            out.append(stmt)
    if errors.errors:
        raise ErrorList(errors.errors)
    return out


def _forward_expr(text: str, scope: Scope, path: str) -> ast.expr:
    tree = expressions.parse(text, path)
    expressions.check(tree, scope, path)
    return tree


def _statement(doc: dict[str, Any], path: str, scope: Scope, variadic: str | None) -> Statement:
    if "assign" in doc and isinstance(doc["assign"], str) and "[" in doc["assign"]:
        return _item_assign(doc, path, scope)
    if "assign" in doc:
        targets = doc["assign"] if isinstance(doc["assign"], list) else [doc["assign"]]
        for t in targets:
            expressions.check_identifier(t, "variable", f"{path}.assign")
        op = doc.get("op", "=")
        if op != "=" and len(targets) != 1:
            raise SpecError("E315", f"{op} takes one target", path=f"{path}.op")
        return Assign(targets, op, _forward_expr(doc["value"], scope, f"{path}.value"), path)
    if "if" in doc:
        return If(
            _forward_expr(doc["if"], scope, f"{path}.if"),
            _statements(doc["then"], f"{path}.then", scope, variadic),
            _statements(doc.get("else", []), f"{path}.else", scope, variadic),
            path,
        )
    if "while" in doc:
        return While(
            _forward_expr(doc["while"], scope, f"{path}.while"),
            _statements(doc["body"], f"{path}.body", scope, variadic),
            doc.get("max_iterations", DEFAULT_MAX_ITERATIONS),
            path,
        )
    if "for" in doc:
        var = doc["for"]
        expressions.check_identifier(var, "loop variable", f"{path}.for")
        text = doc["in"].strip()
        if variadic is not None and text == variadic:
            iterable: ast.expr = ast.Name(variadic, ast.Load())
        else:
            iterable = _forward_expr(text, scope, f"{path}.in")
            if not (isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name) and iterable.value.id == "self"):
                raise SpecError("E316", "a for loop runs over self.<Sequential or ModuleList> or the variadic module argument", path=f"{path}.in")
        return For(var, iterable, _statements(doc["body"], f"{path}.body", scope, variadic), path)
    return Return(_forward_expr(doc["return"], scope, f"{path}.return"), path)


def _item_assign(doc: dict[str, Any], path: str, scope: Scope) -> Assign:
    """``X[~mask] = -1e6``: the target is parsed and checked as an expression, a subscript of a local tensor."""
    target = _forward_expr(doc["assign"], scope, f"{path}.assign")
    if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)):
        raise SpecError("E315", f"an assignment target with [ is a local variable indexed once, as in X[mask], found {expressions.unparse(target)!r}", path=f"{path}.assign")
    if doc.get("op", "=") != "=":
        raise SpecError("E315", f"an assignment to {target.value.id}[...] takes '=' only", path=f"{path}.op")
    target.ctx = ast.Store()
    return Assign([target.value.id], "=", _forward_expr(doc["value"], scope, f"{path}.value"), path, item=target)


def _check_example(example: dict[str, Any], args: list[Arg], inputs: list[str]) -> None:
    given = example.get("args", {})
    by_name = {a.name: a for a in args}
    for name in given:
        if name not in by_name:
            raise SpecError("E405", f"example gives unknown argument {name!r}" + did_you_mean(name, by_name), path=f"example.args.{name}")
    for arg in args:
        if arg.default is REQUIRED and not arg.variadic and arg.name not in given:
            raise SpecError("E405", f"example must give required argument {arg.name!r}", path="example.args")
    if set(example["inputs"]) != set(inputs) or list(example["inputs"]) != inputs:
        raise SpecError("E405", f"example inputs must be exactly {inputs} in that order", path="example.inputs")


# ------------------------------------------------------------------ phase 2


def resolve(blocks: dict[str, Block]) -> list[SpecError]:
    """Check block references across specs: arguments by name, and no cycles."""
    errors: list[SpecError] = []
    for block in blocks.values():
        for layer in _walk_layers(block.layers.values()):
            if layer.kind != "block":
                continue
            target = blocks[layer.type]
            known = {a.name for a in target.args}
            for key in layer.args:
                if key not in known:
                    errors.append(SpecError("E321", f"{layer.type} has no argument {key!r}" + did_you_mean(key, known), block.file, f"{layer.path}.args.{key}"))
            if target.variadic is not None:
                errors.append(SpecError("E321", f"{layer.type} takes modules as *args; it cannot be built from a spec", block.file, layer.path))
    # Cycles: depth-first search with colours.
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            errors.append(SpecError("E330", "blocks use each other in a cycle: " + " -> ".join(cycle), blocks[name].file, "layers"))
            return
        state[name] = 1
        for used in sorted(blocks[name].uses):
            if used in blocks:
                visit(used, trail + [name])
        state[name] = 2

    for name in sorted(blocks):
        visit(name, [])
    return errors


def dependencies(block: Block, blocks: dict[str, Block]) -> list[Block]:
    """The blocks ``block`` uses, transitively, each before its users; itself last."""
    order: list[Block] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for used in sorted(blocks[name].uses):
            visit(used)
        order.append(blocks[name])

    visit(block.name)
    return order


def analyse(raws: list[RawSpec], all_names: set[str]) -> tuple[dict[str, Block], list[SpecError]]:
    """Check specs, resolve references, infer shapes; return blocks and all errors.

    ``all_names`` holds the class names of every spec in the folder, loaded
    or not, so that a reference to one is recognised as a block.
    """
    errors: list[SpecError] = []
    blocks: dict[str, Block] = {}
    for raw in raws:
        try:
            block = check_spec(raw, all_names)
        except ErrorList as exc:
            errors.extend(exc.errors)
            continue
        except SpecError as exc:
            exc.file = exc.file or str(raw.path)
            errors.append(exc)
            continue
        blocks[block.name] = block
    # Blocks that use a broken block are skipped, so every independent error is still found.
    def usable(name: str, seen: frozenset[str] = frozenset()) -> bool:
        block = blocks.get(name)
        if block is None or name in seen:
            return block is not None
        return all(usable(used, seen | {name}) for used in block.uses)

    blocks = {name: block for name, block in blocks.items() if usable(name)}
    resolve_errors = resolve(blocks)
    errors.extend(resolve_errors)
    failed = {e.file for e in resolve_errors}
    ordered: dict[str, Block] = {}  # each block after the blocks it uses
    for block in sorted(blocks.values(), key=lambda b: b.name):
        for dep in dependencies(block, blocks):
            ordered.setdefault(dep.name, dep)
    for block in ordered.values():
        if block.file in failed or any(d.file in failed for d in dependencies(block, blocks)):
            continue  # its own errors are reported once, against its own file
        try:
            infer(block, blocks)
        except SpecError as exc:
            exc.file = exc.file or block.file
            errors.append(exc)
            failed.add(block.file)
    return blocks, errors
