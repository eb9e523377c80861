"""Analyse: names, references and shapes.

Turns schema-valid JSON into checked ``model.Block`` objects (every name and
expression checked), resolves which block uses which, and runs shape
inference (``shapes.py``) on each block's example so that mistakes are
caught before any code is written.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterable

from . import catalogue, expressions, initialisers
from .errors import ErrorList, SpecError, did_you_mean
from .expressions import Scope
from .load import RawSpec
from .model import (
    Append,
    Arg,
    Assign,
    Block,
    Check,
    ConstructorAssign,
    Derived,
    For,
    If,
    InitRule,
    LayerDef,
    Method,
    RepeatDef,
    Return,
    Statement,
    TensorDef,
    While,
)
from .shapes import CLASS_TYPES, fits, infer
from .values import REQUIRED, LayerClass

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
# What constructor statements may call: constant tensor code (no randomness), as d2l's PositionalEncoding
# computes its table. Only what the catalogue also knows (with a shape rule) is allowed.
CONSTRUCTOR_FUNCTIONS = frozenset({
    "torch.arange", "torch.pow", "torch.sin", "torch.cos", "torch.exp", "torch.log", "torch.zeros", "torch.ones",
    "torch.full", "torch.cat", "torch.stack", "torch.outer", "torch.matmul", "torch.tanh", "torch.sigmoid",
}) & frozenset(catalogue.FUNCTIONS)
CONSTRUCTOR_METHODS = frozenset({
    "reshape", "view", "unsqueeze", "squeeze", "transpose", "permute", "flatten", "float", "to", "exp", "log",
    "sin", "cos", "sqrt", "t", "T", "sum", "mean", "clone", "contiguous", "expand",
}) & frozenset(catalogue.METHODS)
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
    kind = doc.get("kind", "block")
    errors.run(lambda: _check_class_name(name, block_names, kind))
    if kind == "function":
        for section in ("parameters", "buffers", "layers", "sequential", "methods"):
            if section in doc:
                errors.errors.append(SpecError("E318", f"a function spec has no {section}; write a block (kind 'block') to hold them", errors.file, section))
    elif kind == "builder":
        for section in ("parameters", "buffers", "layers", "forward", "functions", "methods"):
            if section in doc:
                errors.errors.append(SpecError("E318", f"a builder has no {section}: it returns an nn.Sequential of the layers under 'sequential'", errors.file, section))
    elif "sequential" in doc:
        errors.errors.append(SpecError("E318", "only a builder (kind 'builder') has 'sequential'; a block lists its layers under 'layers'", errors.file, "sequential"))

    classes = frozenset(n for n in block_names if n[:1].isupper())  # spec classes usable as layer classes
    # An argument whose declaration fails is still known by name: no consequential errors where it is used.
    args = [
        errors.run(lambda n=n, a=a: _arg(n, a, f"args.{n}", classes), default=Arg(n, a["type"], None if "default" in a else REQUIRED))
        for n, a in doc.get("args", {}).items()
    ]
    errors.run(lambda: _check_variadic(args))
    arg_names = {a.name for a in args}
    for arg in args:
        if arg.otherwise is not None:
            errors.run(lambda arg=arg: expressions.check(arg.otherwise, Scope("init", frozenset(arg_names), classes=classes), f"args.{arg.name}.or"))

    # Derived values: each sees the arguments and the values derived before it.
    derived: list[Derived] = []
    derived_names: set[str] = set()  # also those whose expression fails: no consequential errors
    for dname, text in doc.get("derived", {}).items():
        path = f"derived.{dname}"
        if errors.run(lambda: expressions.check_identifier(dname, "derived value", path), default=False) is None:
            if dname in arg_names or any(d.name == dname for d in derived):
                errors.errors.append(SpecError("E311", f"derived value {dname!r} is already an argument", errors.file, path))
                continue
            scope = Scope("init", frozenset(arg_names | derived_names), classes=classes)
            derived_names.add(dname)
            tree = errors.run(lambda: _init_expr(text, scope, path))
            if tree is not None:
                derived.append(Derived(dname, tree, path))
    init_names = frozenset(arg_names | derived_names)

    checks: list[Check] = []
    for i, cdoc in enumerate(doc.get("checks", [])):
        path = f"checks[{i}]"
        key = "if" if "raise" in cdoc else "assert"
        tree = errors.run(lambda: _init_expr(cdoc[key], Scope("init", frozenset(arg_names), classes=classes), f"{path}.{key}"))
        if tree is not None:
            checks.append(Check("raise" if key == "if" else "assert", tree, cdoc["message"], path, cdoc.get("raise", "ValueError")))

    members: dict[str, str] = {}  # member name -> where it is declared

    def member(name: str, path: str, what: str = "member") -> bool:
        expressions.check_identifier(name, what, path)
        if name in members:
            raise SpecError("E311", f"member {name!r} is already declared at {members[name]}", path=path)
        members[name] = path
        return True

    init_scope = Scope("init", init_names, classes=classes)
    tensors: dict[str, list[TensorDef]] = {"parameters": [], "buffers": []}
    for section in ("parameters", "buffers"):
        for tname, tdoc in doc.get(section, {}).items():
            path = f"{section}.{tname}"
            # A buffer is also annotated in the class body (`P: torch.Tensor`), where linters read it as a variable.
            if errors.run(lambda: member(tname, path, "buffer" if section == "buffers" else "member"), default=False):
                if isinstance(tdoc["shape"], str):  # the whole shape as one expression
                    shape = errors.run(lambda: _init_expr(tdoc["shape"], init_scope, f"{path}.shape"))
                else:
                    shape = [
                        errors.run(lambda v=v, i=i: _init_expr(v, init_scope, f"{path}.shape[{i}]"))
                        for i, v in enumerate(tdoc["shape"])
                    ]
                init = errors.run(lambda: initialisers.parse(tdoc["init"], tname, f"{path}.init", init_scope.names, creates=True))
                persistent = tdoc.get("persistent", True)
                if section == "parameters" and "persistent" in tdoc:
                    errors.errors.append(SpecError("E318", "only a buffer can be non-persistent", errors.file, f"{path}.persistent"))
                condition = errors.run(lambda: _init_expr(tdoc["if"], init_scope, f"{path}.if")) if "if" in tdoc else None
                tensors[section].append(TensorDef(tname, shape, init, tdoc.get("doc", ""), persistent, condition, tdoc.get("after")))

    layers: dict[str, LayerDef] = {}
    for lname, ldoc in doc.get("layers", {}).items():
        path = f"layers.{lname}"
        errors.run(lambda: member(lname, path))
        layer = errors.run(lambda: _layer(ldoc, path, init_scope, block_names, top=True, init_ok=True))
        if layer is not None:
            layers[lname] = layer
    init_rules = [
        errors.run(lambda i=i, r=r: _init_rule(r, f"init[{i}]", init_scope))
        for i, r in enumerate(doc.get("init", []))
    ]
    errors.run(lambda: _check_rules_distinct([r for r in init_rules if r is not None]))

    if kind == "builder":
        # Checked and shape-inferred as a block holding the Sequential as "net", whose forward runs it;
        # rendered as the book's def returning the Sequential itself (render.builder_context).
        members[BUILDER_MEMBER] = "sequential"
        net = errors.run(lambda: _builder_sequential(doc["sequential"], init_scope, block_names))
        if net is not None:
            layers = {BUILDER_MEMBER: net}
    constructor = errors.run(
        lambda: _constructor(doc.get("constructor", []), arg_names, {t.name for t in tensors["buffers"]}), default=[]
    )
    errors.run(lambda: _check_placement(tensors, doc.get("layers", {}), constructor))
    if constructor and kind != "block":
        errors.errors.append(SpecError("E318", f"a {kind} spec has no constructor", errors.file, "constructor"))

    forward = doc["forward"] if kind != "builder" else BUILDER_FORWARD
    inputs, optional = _inputs(forward["inputs"], errors)
    pairs = frozenset(i["name"] for i in forward["inputs"] if isinstance(i, dict) and i.get("type") == PAIR)
    lists = frozenset(i["name"] for i in forward["inputs"] if isinstance(i, dict) and i.get("type") == LIST)
    variadic = next((a.name for a in args if a.variadic), None)
    functions = doc.get("functions", [])
    for i, used in enumerate(functions):
        if used not in block_names or used == name:
            errors.errors.append(SpecError("E320", f"unknown function spec {used!r}" + did_you_mean(used, {n for n in block_names if n.islower()}), errors.file, f"functions[{i}]"))
    local_names = set(inputs) | _assigned_names(forward["body"])
    if kind == "function":  # a def's arguments are plain names; it has no self
        local_names |= arg_names
    for local in sorted(local_names & set(members)):
        errors.errors.append(SpecError("E311", f"local name {local!r} is also a member; use self.{local} or rename", errors.file, "forward"))
    for local in sorted(local_names & set(functions)):
        errors.errors.append(SpecError("E311", f"local name {local!r} is also a function this spec calls; rename it", errors.file, "forward"))
    # Hyperparameters: in a block, forward reads a constructor argument as self.<name>, as the book does.
    # Layer-class arguments are no hyperparameters: forward calls the layers built from them.
    hyper = frozenset() if kind == "function" else frozenset(a.name for a in args if not a.variadic and a.annotation not in CLASS_TYPES) - set(members)
    hyper |= frozenset(d.name for d in derived) - set(members) - set(arg_names)
    helper_names = frozenset(doc.get("methods", {}))
    for helper in sorted(helper_names & (set(members) | hyper)):
        errors.errors.append(SpecError("E311", f"method {helper!r} is also a member", errors.file, f"methods.{helper}"))

    def forward_scope(names: set[str], helpers: frozenset[str]) -> Scope:
        return Scope(
            "forward",
            frozenset(names),
            # self.training: a block's forward may branch on it (each arm checked by an example with "training").
            members=frozenset(members) | hyper | (frozenset({"training"}) if kind == "block" else frozenset()),
            functions=frozenset(catalogue.FUNCTIONS),
            methods=frozenset(catalogue.METHODS),
            callables=frozenset(functions),
            buffers=frozenset(t.name for t in tensors["buffers"]),
            helpers=helpers,
        )

    methods: list[Method] = []
    for mname, mdoc in doc.get("methods", {}).items():
        path = f"methods.{mname}"
        if errors.run(lambda: expressions.check_identifier(mname, "method", path), default=False) is not None:
            continue
        minputs = [item if isinstance(item, str) else item["name"] for item in mdoc["inputs"]]
        mtypes = {item["name"]: item["type"] for item in mdoc["inputs"] if not isinstance(item, str)}
        for i, input_name in enumerate(minputs):
            errors.run(lambda: expressions.check_identifier(input_name, "input", f"{path}.inputs[{i}]"))
            if input_name in minputs[:i]:  # "Z" and {"name": "Z", ...} pass the schema's uniqueItems
                errors.errors.append(SpecError("E311", f"input {input_name!r} is declared twice", errors.file, f"{path}.inputs[{i}]"))
        # A helper calls only the helpers declared before it: no recursion.
        scope = forward_scope(set(minputs) | _assigned_names(mdoc["body"]), frozenset(m.name for m in methods))
        mbody = errors.run(lambda: _statements(mdoc["body"], f"{path}.body", scope, None))
        if mbody is None:
            continue
        if not _returns(mbody):
            errors.errors.append(SpecError("E404", "a method must end with a return statement", errors.file, f"{path}.body"))
        methods.append(Method(mname, list(minputs), mbody, path, types={n: t for n, t in mtypes.items() if t != TENSOR}))
    body = errors.run(lambda: _statements(forward["body"], "forward.body", forward_scope(local_names, helper_names), variadic), default=[])
    if body and not _returns(body):
        errors.errors.append(SpecError("E404", "forward must end with a return statement", errors.file, "forward.body"))
    read = _members_read(body)
    for method in methods:
        read |= _members_read(method.body)
    kept = [a.name for a in args if a.name in hyper and a.name in read]
    for item in derived:
        item.kept = item.name in read and item.name in hyper

    if ("example" in doc) == ("examples" in doc):
        errors.errors.append(SpecError("E405", "give either 'example' or 'examples' (a list), not both" if "example" in doc else "'example' (or 'examples', a list) is required", errors.file, ""))
        examples: list[dict[str, Any]] = []
    else:
        examples = [doc["example"]] if "example" in doc else doc["examples"]
    failed = helper_names - {m.name for m in methods}
    for i, example in enumerate(examples):
        where = "example" if "example" in doc else f"examples[{i}]"
        types = {**{n: PAIR for n in pairs}, **{n: LIST for n in lists}}
        errors.run(lambda: _check_example(example, args, inputs, optional, where, types, methods, failed))
    for method in methods:  # a public method is shape-checked on the inputs an example gives it
        if method.public and examples and not any(method.name in e.get("methods", {}) for e in examples):
            where = "example" if "example" in doc else "examples"
            errors.errors.append(SpecError("E405", f"no example gives the inputs of method {method.name!r}, so it is never shape-checked; add \"methods\": {{\"{method.name}\": {{...}}}} to an example", errors.file, where))

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
        examples=examples,
        kind=kind,
        constructor=constructor,
        optional=optional,
        kept=kept,
        pairs=pairs,
        lists=lists,
        functions=list(functions),
        examples_key="example" if "example" in doc else "examples",
        checks=checks,
        derived=derived,
        methods=methods,
    )
    block.init_rules = [r for r in init_rules if r is not None]
    block.uses = {layer.type for layer in _walk_layers(layers.values()) if layer.kind == "block"}
    block.uses |= {n.id for tree in _init_trees(block) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in classes}
    block.uses |= {
        l["type"] for example in examples for l in _example_layers(example) if l["type"] in block_names
    }
    block.uses |= set(functions)
    clash = torch_names_clash([block])
    if clash is not None:
        raise ErrorList([clash])
    return block


TENSOR = "torch.Tensor"  # a forward or method input's type (the schema's input_type) ...
PAIR = "tuple[torch.Tensor, torch.Tensor]"  # ... a pair of tensors (an LSTM's (H, C))
LIST = "list[torch.Tensor]"  # ... a list of tensors (one state per layer)
BUILDER_MEMBER = "net"
BUILDER_FORWARD = {"inputs": ["X"], "body": [{"return": "self.net(X)"}]}


def _builder_sequential(items: list[Any], scope: Scope, block_names: set[str]) -> LayerDef:
    """A builder's 'sequential' list as one Sequential, its items at the paths the spec has (sequential[i])."""
    errors = _Collector("")
    net = LayerDef(path="sequential", type="Sequential", kind="container")
    for i, child in enumerate(items):
        path = f"sequential[{i}]"
        if "prefix" in child:
            errors.errors.append(SpecError("E314", "a builder's children are named 0, 1, ... as nn.Sequential names them; a prefix needs a block", path=f"{path}.prefix"))
        elif "name" in child:
            errors.errors.append(SpecError("E314", "a builder's children are named 0, 1, ... as nn.Sequential names them; a child's 'name' needs a block", path=f"{path}.name"))
        elif "for" in child:
            net.children.append(errors.run(lambda: _repeat(child, path, scope, block_names, True)))
        else:
            net.children.append(errors.run(lambda: _layer(child, path, scope, block_names)))
    if errors.errors:
        raise ErrorList(errors.errors)
    return net


def _check_class_name(name: str, block_names: set[str], kind: str = "block") -> None:
    expressions.check_identifier(name, "class name" if kind == "block" else "function name", "name")
    # A class may share a catalogued layer's name (nanoGPT's LayerNorm). A layer "type" of that name
    # still means torch's; other specs use the spec's class by name in expressions (a layer-class
    # value: "LayerNorm" against "nn.LayerNorm"); a file holding both is refused by torch_names_clash.
    if name in CONTAINERS:
        raise SpecError("E312", f"class name {name!r} is a torch.nn container; choose another", path="name")
    if kind != "block" and (name in catalogue.FUNCTIONS or f"torch.{name}" in catalogue.FUNCTIONS or f"F.{name}" in catalogue.FUNCTIONS):
        raise SpecError("E312", f"function name {name!r} is a catalogued function; choose another", path="name")


def _init_trees(block: Block) -> Iterable[ast.expr]:
    """Every constructor expression of a block: arguments' defaults and 'or', derived values, checks, tensors, layers."""
    for arg in block.args:
        if arg.otherwise is not None:
            yield arg.otherwise
        if arg.source is not None:
            yield expressions.parse(arg.source, "")
    yield from (d.value for d in block.derived)
    yield from (c.test for c in block.checks)
    for t in block.parameters + block.buffers:
        yield from t.shape if isinstance(t.shape, list) else [t.shape]  # sizes, or one expression of the whole shape
        if t.condition is not None:
            yield t.condition
    for layer in _walk_layers(block.layers.values()):
        yield from layer.args.values()
        yield from layer.positional
        if layer.condition is not None:
            yield layer.condition


def torch_names_clash(chain: list[Block]) -> SpecError | None:
    """A file may not hold a spec class and the torch layer of the same name (nn.LayerNorm beside LayerNorm)."""
    names = {b.name for b in chain if b.kind == "block"}
    for block in chain:
        used = {l.type for l in _walk_layers(block.layers.values()) if l.kind == "layer"}
        used |= {
            n.attr for tree in _init_trees(block) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "nn"
        }
        for name in sorted(names & used):
            return SpecError("E312", f"class name {name!r} is a torch.nn layer that this file also uses (as nn.{name}); rename the spec", chain[-1].file, "name")
    return None


def _inputs(items: list[Any], errors: _Collector) -> tuple[list[str], frozenset[str]]:
    """Forward's inputs by name, and which of them are optional (default None, after the others)."""
    names = [item if isinstance(item, str) else item["name"] for item in items]
    optional = frozenset(item["name"] for item in items if not isinstance(item, str) and "default" in item)
    seen_optional = False
    for i, (name, item) in enumerate(zip(names, items)):
        item = item if isinstance(item, str) or "default" in item else name  # {"name", "type"}: required
        errors.run(lambda: expressions.check_identifier(name, "input", f"forward.inputs[{i}]"))
        if name in names[:i]:
            errors.errors.append(SpecError("E311", f"input {name!r} is declared twice", errors.file, f"forward.inputs[{i}]"))
        if isinstance(item, str) and seen_optional:
            errors.errors.append(SpecError("E318", f"input {name!r} without a default follows an optional one", errors.file, f"forward.inputs[{i}]"))
        seen_optional = seen_optional or not isinstance(item, str)
    return names, optional


def _check_placement(tensors: dict[str, list[TensorDef]], layers: dict[str, Any], constructor: list[ConstructorAssign]) -> None:
    """A tensor's "after" names a layer of the block; constructor statements run before the layers, so they cannot reach it."""
    for section, defs in tensors.items():
        for t in defs:
            if t.after is None:
                continue
            if t.after not in layers:
                raise SpecError("E307", f"'after' must name a layer of this block; {t.after!r} is not one" + did_you_mean(t.after, layers), path=f"{section}.{t.name}.after")
            for statement in constructor:
                if any(_is_self_attribute(n, t.name) for tree in (statement.target, statement.value) for n in ast.walk(tree)):
                    raise SpecError(
                        "E307",
                        f"constructor statements run before the layers, so they cannot use self.{t.name}, which is registered after layer {t.after!r}",
                        path=f"{statement.path}",
                    )


def _is_self_attribute(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == name and isinstance(node.value, ast.Name) and node.value.id == "self"


def _constructor(docs: list[dict[str, Any]], args: set[str], buffers: set[str]) -> list[ConstructorAssign]:
    """Constructor statements: assign a local name, or into a buffer through a subscript."""
    errors = _Collector("")
    local_names: set[str] = set()
    for i, doc in enumerate(docs):
        target = doc["assign"].strip()
        if target.isidentifier():
            local_names.add(target)
    scope = Scope(
        "forward",
        frozenset(args | local_names),
        members=frozenset(buffers),
        functions=CONSTRUCTOR_FUNCTIONS,
        methods=CONSTRUCTOR_METHODS,
    )
    out: list[ConstructorAssign] = []
    for i, doc in enumerate(docs):
        path = f"constructor[{i}]"

        def statement() -> ConstructorAssign:
            target = expressions.parse(doc["assign"], f"{path}.assign")
            if isinstance(target, ast.Name):
                expressions.check_identifier(target.id, "variable", f"{path}.assign")
                if target.id in args:
                    raise SpecError("E311", f"{target.id!r} is a constructor argument; a constructor statement may not change it", path=f"{path}.assign")
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) and isinstance(target.value.value, ast.Name) and target.value.value.id == "self":
                if target.value.attr not in buffers:
                    raise SpecError("E305", f"constructor statements assign into buffers only; self.{target.value.attr} is not one" + did_you_mean(target.value.attr, buffers), path=f"{path}.assign")
                expressions.check(target, scope, f"{path}.assign")
            else:
                raise SpecError("E302", "a constructor statement assigns a local name or self.<buffer>[...]", path=f"{path}.assign")
            return ConstructorAssign(target, _forward_expr(doc["value"], scope, f"{path}.value"), path)

        stmt = errors.run(statement)
        if stmt is not None:
            out.append(stmt)
    if errors.errors:
        raise ErrorList(errors.errors)
    return out


def _returns(body: list[Statement]) -> bool:
    """Does ``body`` end in a return, or in an if whose two arms both do (torchvision's `if ...: return a else: return b`)?"""
    if not body:
        return False
    last = body[-1]
    return isinstance(last, Return) or (isinstance(last, If) and _returns(last.then) and _returns(last.orelse))


def _members_read(body: list[Statement]) -> set[str]:
    """Every name forward reads as self.<name>."""
    read: set[str] = set()
    for stmt in body:
        for attr in ("value", "test", "iterable"):
            tree = getattr(stmt, attr, None)
            if tree is not None:
                read |= {
                    n.attr for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
                }
        for attr in ("then", "orelse", "body"):
            read |= _members_read(getattr(stmt, attr, []))
    return read


def class_value(text: Any, classes: frozenset[str], path: str) -> tuple[Any, str]:
    """A layer-class expression (nn.GELU, partial(nn.LayerNorm, eps=1e-6), a spec's class, None): its value and its source."""
    if text is None:
        return None, "None"
    if not isinstance(text, str):
        raise SpecError("E323", f"a layer class is written as an expression such as \"nn.ReLU\", found {text!r}", path=path)
    tree = _init_expr(text, Scope("init", frozenset(), classes=classes), path)
    value = expressions.evaluate(tree, {n: LayerClass(n, "block") for n in classes}, path)
    if not isinstance(value, LayerClass):
        raise SpecError("E323", f"{text!r} is not a layer class", path=path)
    return value, expressions.unparse(tree)


def _arg(name: str, doc: dict[str, Any], path: str, classes: frozenset[str] = frozenset()) -> Arg:
    expressions.check_identifier(name, "argument", path)
    annotation = doc["type"]
    variadic = doc.get("variadic", False)
    if variadic != (annotation == "nn.Module"):
        raise SpecError("E313", "only a variadic argument may have type nn.Module, and it must", path=path)
    choices = tuple(doc.get("choices", ()))
    if bool(choices) != (annotation == "str"):
        raise SpecError("E313", "a str argument lists its allowed values under 'choices', and only a str argument does", path=path)
    otherwise = None
    if "or" in doc:
        if not annotation.endswith("| None"):
            raise SpecError("E313", "only an argument that may be None takes 'or'", path=f"{path}.or")
        otherwise = expressions.parse(doc["or"], f"{path}.or")  # checked once every argument is known
    default = doc.get("default", REQUIRED)
    source = None
    if default is not REQUIRED:
        if variadic:
            raise SpecError("E313", "a variadic argument takes no default", path=path)
        if isinstance(default, list):
            default = tuple(default)
        if annotation in CLASS_TYPES:
            default, source = class_value(default, classes, f"{path}.default")
        if not fits(annotation, default) or (choices and default not in choices):
            raise SpecError("E323", f"default {default if isinstance(default, LayerClass) else repr(default)} is not a {annotation}" + (f" in {list(choices)}" if choices else ""), path=f"{path}.default")
    return Arg(name, annotation, default, variadic, doc.get("doc", ""), choices, source, otherwise)


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


def _layer(
    doc: dict[str, Any], path: str, scope: Scope, block_names: set[str], top: bool = False, child: bool = False,
    init_ok: bool = False, name_ok: bool = False,
) -> LayerDef:
    """One layer; ``top``: a block's own, ``child``: a child of a block's own Sequential or ModuleList (both may have 'if');
    ``init_ok``: the layer sits where generated code can name it after building (``self.net[2]``);
    ``name_ok``: a child of a block's own Sequential without repeats or 'if' (it may have a 'name')."""
    errors = _Collector("")
    type_name = doc["type"]
    layer = LayerDef(path=path, type=type_name, doc=doc.get("doc", ""))
    if "name" in doc:
        if name_ok:
            layer.name = errors.run(lambda: _child_name(doc["name"], f"{path}.name")) or ""
        else:
            errors.errors.append(SpecError(
                "E314",
                "only a child of a block's own Sequential may have a 'name', and only where no child is "
                "repeated or built under 'if' (every child then has a fixed place)",
                path=f"{path}.name",
            ))
    if "if" in doc:
        if not (top or child):
            errors.errors.append(SpecError("E314", "'if' is only allowed on a block's own layers and the children of its Sequential or ModuleList", path=f"{path}.if"))
        layer.condition = errors.run(lambda: _init_expr(doc["if"], scope, f"{path}.if"))
    if "init" in doc:
        errors.run(lambda: _layer_init(layer, doc, path, scope, init_ok))
    if "else" in doc:
        if "if" not in doc:
            errors.errors.append(SpecError("E314", "'else' needs an 'if'", path=f"{path}.else"))
        elif "if" in doc["else"]:
            errors.errors.append(SpecError("E314", "an 'else' layer takes no 'if' of its own", path=f"{path}.else.if"))
        else:
            layer.orelse = errors.run(lambda: _layer(doc["else"], f"{path}.else", scope, block_names))
    if "positional" in doc and (type_name in CONTAINERS or type_name not in scope.names):
        errors.errors.append(SpecError("E321", "only a layer whose type is a layer-class argument or derived value takes 'positional'", path=f"{path}.positional"))
    if type_name in CONTAINERS:
        layer.kind = "container"
        if doc.get("args"):
            errors.errors.append(SpecError("E321", f"{type_name} takes no args; list its children under 'layers'", path=f"{path}.args"))
        children = doc.get("layers", [])
        if (type_name == "ModuleDict") != isinstance(children, dict):
            errors.errors.append(SpecError("E203", f"the layers of a {type_name} are " + ("an object of named layers" if type_name == "ModuleDict" else "a list"), path=f"{path}.layers"))
            children = []
        if isinstance(children, dict):
            for key, child in children.items():
                child_path = f"{path}.layers.{key}"
                errors.run(lambda: expressions.check_identifier(key, "ModuleDict key", child_path))
                sub = errors.run(lambda: _layer(child, child_path, scope, block_names))
                if sub is not None:
                    sub.key = key
                    layer.children.append(sub)
            children = []
        if any("prefix" in child for child in children if isinstance(child, dict)) and (len(children) != 1 or type_name == "ModuleDict"):
            errors.errors.append(SpecError("E314", "a repeat with a prefix must be the only item of its Sequential or ModuleList", path=f"{path}.layers"))
        # A child's place is known (self.net[2]) only where no repeat adds a variable number before it.
        children_ok = init_ok and not any("for" in child for child in children)
        # Named children (the book's self.net.add_module("stage1", ...)) only where every child has a fixed place.
        names_ok = top and type_name == "Sequential" and "if" not in doc and not any("for" in c or "if" in c for c in children)
        for i, child in enumerate(children):
            child_path = f"{path}.layers[{i}]"
            if "for" in child:
                layer.children.append(errors.run(lambda: _repeat(child, child_path, scope, block_names, top)))
            else:
                # An optional child before this one moves it (self.net[1] or [2]): no fixed place for an init.
                placed = children_ok and not any("if" in c for c in children[:i] if isinstance(c, dict))
                layer.children.append(errors.run(lambda: _layer(child, child_path, scope, block_names, child=top and type_name != "ModuleDict", init_ok=placed, name_ok=names_ok)))
        named: dict[str, str] = {}
        for i, child in enumerate(layer.children):
            if isinstance(child, LayerDef) and child.name:
                if child.name in named:
                    errors.errors.append(SpecError("E311", f"two children are named {child.name!r} (also at {named[child.name]})", path=f"{path}.layers[{i}].name"))
                named.setdefault(child.name, f"{path}.layers[{i}]")
    else:
        if "layers" in doc:
            errors.errors.append(SpecError("E201", "only Sequential, ModuleList and ModuleDict take 'layers'", path=f"{path}.layers"))
        if type_name in scope.names:  # a layer-class argument or derived value: checked per example
            layer.kind = "class"
            known = None
            for i, value in enumerate(doc.get("positional", [])):
                tree = errors.run(lambda: _init_expr(value, scope, f"{path}.positional[{i}]"))
                if tree is not None:
                    layer.positional.append(tree)
        elif type_name in catalogue.LAYERS:  # the torch layer, even where a spec shares its name (see torch_names_clash)
            layer.kind = "layer"
            known = {p.name for p in catalogue.LAYERS[type_name].params}
        elif type_name in block_names:
            layer.kind = "block"
            known = None  # checked once the other spec is loaded
        else:
            known_types = set(catalogue.LAYERS) | set(block_names) | set(CONTAINERS) | set(scope.names)
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


def _child_name(name: str, path: str) -> str:
    """A Sequential child's name: an identifier that add_module takes and that shadows nothing."""
    expressions.check_identifier(name, "child name", path)
    if name in expressions.SEQUENTIAL_METHODS:
        raise SpecError("E310", f"child name {name!r} is reserved: it is a method of nn.Sequential", path=path)
    if name.startswith("_"):
        raise SpecError("E310", f"child name {name!r} starts with '_', as nn.Module's internals (_modules) do; choose another", path=path)
    return name


def _layer_init(layer: LayerDef, doc: dict[str, Any], path: str, scope: Scope, init_ok: bool) -> None:
    where = f"{path}.init"
    type_name = doc["type"]
    if type_name not in initialisers.LAYER_TENSORS:
        if type_name in CONTAINERS:
            hint = "; give its children an init, or use a rule in the block's 'init'"
        elif type_name.startswith("Lazy"):
            hint = " before its first call (a lazy layer's tensors do not exist yet); give its size instead"
        elif type_name not in catalogue.LAYERS:
            hint = "; a block initialises its own layers"
        else:
            hint = ""
        raise SpecError("E342", f"{type_name} has no weight or bias to initialise{hint}", path=where)
    if "if" in doc:
        raise SpecError("E342", "a layer built only 'if' a condition holds cannot take an init; use a rule in the block's 'init'", path=where)
    if not init_ok:
        raise SpecError("E342", "only a block's own layers, and the children of its containers with a fixed place (no repeat, no optional child before them), take an init; use a rule in the block's 'init'", path=where)
    errors = _Collector("")
    for tensor, value in doc["init"].items():
        init = errors.run(lambda: initialisers.parse(value, tensor, f"{where}.{tensor}", scope.names, creates=False))
        if init is not None:
            layer.init[tensor] = init
    if errors.errors:
        raise ErrorList(errors.errors)


def _init_rule(doc: dict[str, Any], path: str, scope: Scope) -> InitRule:
    errors = _Collector("")
    for i, type_name in enumerate(doc["types"]):
        if type_name not in initialisers.LAYER_TENSORS:
            known = set(initialisers.LAYER_TENSORS)
            message = f"{type_name} has no weight or bias to initialise" if type_name in catalogue.LAYERS else f"unknown layer type {type_name!r}" + did_you_mean(type_name, known)
            errors.errors.append(SpecError("E343", message, path=f"{path}.types[{i}]"))
    tensors = {}
    for tensor in initialisers.TENSORS:
        if tensor in doc:
            init = errors.run(lambda: initialisers.parse(doc[tensor], tensor, f"{path}.{tensor}", scope.names, creates=False))
            if init is not None:
                tensors[tensor] = init
    if not tensors and not errors.errors:
        errors.errors.append(SpecError("E343", "a rule initialises 'weight', 'bias' or both", path=path))
    if errors.errors:
        raise ErrorList(errors.errors)
    return InitRule(list(doc["types"]), tensors, path)


def _check_rules_distinct(rules: list[InitRule]) -> None:
    seen: dict[str, str] = {}
    for rule in rules:
        for i, type_name in enumerate(rule.types):
            if type_name in seen:
                raise SpecError("E343", f"{type_name} already has a rule at {seen[type_name]}; one rule per layer type", path=f"{rule.path}.types[{i}]")
            seen[type_name] = rule.path


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
    prefix = doc.get("prefix", "")
    if prefix:
        expressions.check_identifier(prefix, "child name prefix", f"{path}.prefix")
        if len(layers) != 1:
            raise SpecError("E314", "a repeat with a prefix builds one layer per step (its name is prefix + str(step))", path=f"{path}.layers")
    return RepeatDef(path, var, iterable, layers, prefix)


def _walk_layers(layers: Iterable[LayerDef | RepeatDef]) -> Iterable[LayerDef]:
    for layer in layers:
        if isinstance(layer, RepeatDef):
            yield from _walk_layers(layer.layers)
        elif layer is not None:
            yield layer
            if layer.orelse is not None:  # "else": built instead, so its type and expressions count too
                yield layer.orelse
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
            for t in (target if isinstance(target, list) else [target]):
                if not t.startswith("self.") and "[" not in t:  # self.<buffer> and X[index] = value bind nothing
                    names.add(t)
        if "for" in stmt:
            names |= set(stmt["for"]) if isinstance(stmt["for"], list) else {stmt["for"]}
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
            if t.startswith("self."):
                # Forward's one assignment to self: a new value for a declared buffer (d2l's BatchNorm).
                if t[5:] not in scope.buffers:
                    raise SpecError("E411", f"forward may assign to self only to update a declared buffer; {t} is not one" + did_you_mean(t[5:], scope.buffers), path=f"{path}.assign")
            else:
                expressions.check_identifier(t, "variable", f"{path}.assign")
        if len(set(targets)) != len(targets):
            raise SpecError("E311", "an assignment names the same target twice", path=f"{path}.assign")
        op = doc.get("op", "=")
        if op != "=" and any(t.startswith("self.") for t in targets):
            raise SpecError("E411", f"a buffer gets a new value with '=', not {op}", path=f"{path}.op")
        if op != "=" and len(targets) != 1:
            raise SpecError("E315", f"{op} takes one target", path=f"{path}.op")
        return Assign(targets, op, _forward_expr(doc["value"], scope, f"{path}.value"), path)
    if "append" in doc:
        target = doc["append"]
        expressions.check_identifier(target, "list", f"{path}.append")
        if target not in scope.names:
            raise SpecError("E303", f"unknown list {target!r}: build it first with {{\"assign\": \"{target}\", \"value\": \"[]\"}}", path=f"{path}.append")
        return Append(target, _forward_expr(doc["value"], scope, f"{path}.value"), path)
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
        names = doc["for"] if isinstance(doc["for"], list) else [doc["for"]]
        for var in names:
            expressions.check_identifier(var, "loop variable", f"{path}.for")
        if len(names) == 2 and names[0] == names[1]:
            raise SpecError("E311", f"loop variable {names[0]!r} is named twice", path=f"{path}.for")
        text = doc["in"].strip()
        enumerated = expressions.parse(text, f"{path}.in")
        # enumerate(self.blks): the one place forward calls enumerate; its argument is checked as usual.
        if isinstance(enumerated, ast.Call) and isinstance(enumerated.func, ast.Name) and enumerated.func.id == "enumerate":
            if len(names) != 2 or len(enumerated.args) != 1 or enumerated.keywords:
                raise SpecError("E316", "write enumerate over one container, into two names: \"for\": [\"i\", \"blk\"]", path=f"{path}.in")
            text = ast.unparse(enumerated.args[0])
        elif len(names) != 1:
            raise SpecError("E316", "two loop variables need enumerate(self.<Sequential or ModuleList>)", path=f"{path}.in")
        over = "modules"
        if variadic is not None and text == variadic:
            iterable: ast.expr = ast.Name(variadic, ast.Load())
        else:
            iterable = _forward_expr(text, scope, f"{path}.in")
            if isinstance(iterable, ast.Name) and len(names) == 1:
                over = "values"  # a tensor (its first dimension) or a list; shape inference tells which
            elif not (isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name) and iterable.value.id == "self"):
                raise SpecError("E316", "a for loop runs over self.<Sequential or ModuleList>, the variadic module argument, or a local tensor or list by name", path=f"{path}.in")
        body = _statements(doc["body"], f"{path}.body", scope, variadic)
        return For(names[-1], iterable, body, path, index=names[0] if len(names) == 2 else None, over=over)
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


def _check_example(
    example: dict[str, Any], args: list[Arg], inputs: list[str], optional: frozenset[str] = frozenset(), where: str = "example",
    types: dict[str, str] | None = None, methods: list[Method] | None = None, failed: frozenset[str] = frozenset(),
) -> None:
    """``failed``: methods declared but refused (their own error says why): their example inputs are not judged."""
    given = example.get("args", {})
    by_name = {a.name: a for a in args}
    for name in given:
        if name not in by_name:
            raise SpecError("E405", f"example gives unknown argument {name!r}" + did_you_mean(name, by_name), path=f"{where}.args.{name}")
    for arg in args:
        if arg.default is REQUIRED and not arg.variadic and arg.name not in given:
            raise SpecError("E405", f"example must give required argument {arg.name!r}", path=f"{where}.args")
    _check_example_inputs(example["inputs"], inputs, optional, types or {}, f"{where}.inputs")
    public = {m.name: m for m in methods or [] if m.public}
    for name, values in example.get("methods", {}).items():
        if name in failed:
            continue
        if name not in public:
            raise SpecError("E405", f"example gives inputs of {name!r}, which is not a public method of this spec" + did_you_mean(name, public), path=f"{where}.methods.{name}")
        method = public[name]
        _check_example_inputs(values, method.inputs, frozenset(), method.types, f"{where}.methods.{name}")


def _check_example_inputs(given: dict[str, Any], inputs: list[str], optional: frozenset[str], types: dict[str, str], where: str) -> None:
    """An example's inputs for forward or a method: each named in order, each of its declared kind."""
    if list(given) != inputs:
        raise SpecError("E405", f"example inputs must be exactly {inputs} in that order", path=where)
    for name, value in given.items():
        if value is None and name not in optional:
            raise SpecError("E405", f"input {name!r} is not optional; give its shape", path=f"{where}.{name}")
        if isinstance(value, dict) and "dtype" in value and value["dtype"] == "long" and "high" not in value:
            raise SpecError("E405", "a long input needs 'high', the bound of its values (a vocabulary size)", path=f"{where}.{name}")
        if isinstance(value, dict) and "dtype" in value and value["dtype"] != "long" and "high" in value:
            raise SpecError("E405", "'high' bounds the values of a long input only", path=f"{where}.{name}.high")
        if value is None:
            continue
        kind = PAIR if isinstance(value, list) and bool(value) and isinstance(value[0], list) else LIST if isinstance(value, dict) and "list" in value else TENSOR
        declared = types.get(name, TENSOR)
        if kind != declared:
            need = {
                PAIR: "a pair of shapes, [[...], [...]]",
                LIST: 'a list of shapes, {"list": [[...], ...]}',
                TENSOR: 'one shape (declare "type": "tuple[torch.Tensor, torch.Tensor]" for a pair, "list[torch.Tensor]" for a list)',
            }[declared]
            raise SpecError("E405", f"input {name!r} takes {need}", path=f"{where}.{name}")


# ------------------------------------------------------------------ phase 2


def resolve(blocks: dict[str, Block]) -> list[SpecError]:
    """Check block references across specs: arguments by name, and no cycles."""
    errors: list[SpecError] = []
    for block in blocks.values():
        for layer in _walk_layers(block.layers.values()):
            if layer.kind != "block":
                continue
            target = blocks[layer.type]
            if target.kind == "function":
                errors.append(SpecError("E320", f"{layer.type} is a function spec, not a layer: call it from forward and list it under 'functions'", block.file, f"{layer.path}.type"))
                continue
            known = {a.name for a in target.args}
            for key in layer.args:
                if key not in known:
                    errors.append(SpecError("E321", f"{layer.type} has no argument {key!r}" + did_you_mean(key, known), block.file, f"{layer.path}.args.{key}"))
            if target.variadic is not None:
                errors.append(SpecError("E321", f"{layer.type} takes modules as *args; it cannot be built from a spec", block.file, layer.path))
        for i, used in enumerate(block.functions):
            if used in blocks and blocks[used].kind != "function":
                errors.append(SpecError("E320", f"{used} is a {blocks[used].kind}, not a function forward can call" + (": use it as a layer's type" if blocks[used].kind == "builder" else ""), block.file, f"functions[{i}]"))
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
        clash = torch_names_clash(dependencies(block, blocks))
        if clash is not None:
            errors.append(clash)
            failed.add(block.file)
            continue
        try:
            infer(block, blocks)
        except SpecError as exc:
            exc.file = exc.file or block.file
            errors.append(exc)
            failed.add(block.file)
    return blocks, errors
