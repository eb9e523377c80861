"""The AST gate: the last check before anything is written.

Whatever the templates or the renderer did, a generated file must parse and
contain only what a block file may contain. A template defect that slips in
anything else makes the run fail instead of shipping it.
"""

from __future__ import annotations

import ast

from . import catalogue
from .errors import SpecError
from .expressions import MATH_CONSTANTS, MATH_FUNCTIONS, MODE_FUNCTIONS, RESERVED, SEQUENTIAL_METHODS, TENSOR_ATTRIBUTES
from .initialisers import CREATE, FORMS, TENSORS
from .model import Block, LayerDef
from .values import TORCH_DTYPES

# (statement, module, name, the name it is bound to): the imports a generated file may have.
ALLOWED_IMPORTS = {
    ("from", "collections.abc", "Callable", "Callable"),  # Callable[..., nn.Module]: layer-class arguments
    ("from", "functools", "partial", "partial"),  # partial(nn.LayerNorm, eps=1e-06)
    ("import", "math", None, "math"),
    ("import", "torch", None, "torch"),
    ("from", "torch", "nn", "nn"),
    ("from", "torch.nn", "functional", "F"),
}
# The builtins generated code reads: the calls expressions allow (range, len, min, max, int, float,
# round), the loops' enumerate and str, the annotations' types and the errors a check raises. Any
# other free name (eval, getattr, __builtins__, open, object...) is refused, called or not: a file
# could otherwise alias one (in_channels = eval) and call it under an innocent name. super and type
# only in the forms the renderer writes (see _checked_names).
BUILTINS = frozenset({
    "range", "len", "min", "max", "int", "float", "round", "bool", "str", "enumerate", "isinstance",
    "list", "tuple", "dict", "super", "type",
    "ValueError", "TypeError", "NotImplementedError", "RuntimeError",
})
# What follows a module's name: the catalogue's layers and functions, the tensors parameters are
# created with, dtypes, math's functions. Never a submodule or a helper torch happens to expose
# (torch.os, torch.builtins, torch.load, torch.hub, torch.jit, torch.ops, F.importlib...).
MODULE_ATTRIBUTES = {
    "torch": frozenset(
        {f.split(".", 1)[1] for f in catalogue.FUNCTIONS if f.startswith("torch.")}
        | {f.split(".", 1)[1] for f in MODE_FUNCTIONS} | set(CREATE) | {"empty", "Tensor"} | set(TORCH_DTYPES)
    ),
    "nn": frozenset(set(catalogue.LAYERS) | {"Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "init"}),
    "F": frozenset(f.split(".", 1)[1] for f in catalogue.FUNCTIONS if f.startswith("F.")),
    "math": frozenset(set(MATH_FUNCTIONS) | set(MATH_CONSTANTS)),
}
# Where an imported name may stand: a module only before a dot (torch.cat, nn.init.normal_),
# partial only called, Callable only subscripted (Callable[..., nn.Module]). Never a value of its
# own, which a file could bind to another name (t = torch; t.load(...)) or pack (ops = (torch, F))
# and so reach what MODULE_ATTRIBUTES refuses.
IMPORT_PLACES = {"torch": (ast.Attribute, "value"), "nn": (ast.Attribute, "value"), "F": (ast.Attribute, "value"),
                 "math": (ast.Attribute, "value"), "partial": (ast.Call, "func"), "Callable": (ast.Subscript, "value")}
assert set(IMPORT_PLACES) == {bound for *_, bound in ALLOWED_IMPORTS}
# What follows self besides the block's own members and methods: what the renderer writes
# (self.training in forward, register_buffer and the variadic add_module in __init__, the init
# rules' self.modules()). Never another nn.Module method (register_forward_hook, apply, load_state_dict...).
SELF_ATTRIBUTES = frozenset({"training", "register_buffer", "add_module", "modules"})
# What follows anything else (a tensor, a layer, a local): the catalogue's tensor methods, the
# attributes forward reads (shape, T, device), a layer's tensors, their .data in init update steps,
# get_parameter and add_module on a layer in __init__, a list's append. Never .numpy(), .tofile(),
# .dump(), .save() or any other way out of the tensor world.
OBJECT_ATTRIBUTES = frozenset(
    set(catalogue.METHODS) | TENSOR_ATTRIBUTES | set(TENSORS) | {"data", "get_parameter", "add_module", "append"}
)
FORBIDDEN_CALLS = frozenset(
    {"exec", "eval", "compile", "__import__", "open", "getattr", "setattr", "delattr",
     "globals", "locals", "vars", "breakpoint", "input", "exit", "quit", "help"}
)
FORBIDDEN_NODES = frozenset({
    ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Global,
    ast.Nonlocal, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Delete, ast.Await, ast.Yield,
    ast.YieldFrom, ast.AsyncFunctionDef, ast.NamedExpr, ast.Match,
    ast.JoinedStr,  # messages are plain literals, never formatted
})
# What a constructor check may raise (the schema's list), and the while loop's bound.
RAISED = frozenset({"ValueError", "TypeError", "NotImplementedError", "RuntimeError"})


def check(source: str, chain: list[Block], file: str) -> None:
    """Raise SpecError (code E900: a generator defect) unless ``source`` passes."""

    def fail(message: str) -> None:
        raise SpecError("E900", f"generated code failed the AST gate: {message}", file=file)

    try:
        tree = ast.parse(source)
        # The compiler's own checks, which the parser leaves to it: a duplicate argument, a repeated
        # keyword, break outside a loop... Compiling the tree already parsed runs nothing.
        compile(tree, file, "exec", dont_inherit=True)
    except SyntaxError as exc:
        fail(f"does not compile: {exc.msg} at line {exc.lineno}")
    expected = [b.name for b in chain]
    classes: list[ast.ClassDef | ast.FunctionDef] = []
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ("import", alias.name, None, alias.asname or alias.name) not in ALLOWED_IMPORTS:
                    fail(f"import of {alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if ("from", node.module, alias.name, alias.asname or alias.name) not in ALLOWED_IMPORTS or node.level:
                    fail(f"import from {node.module}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            classes.append(node)
        else:
            fail(f"top-level {type(node).__name__} at line {node.lineno}")
    if [c.name for c in classes] != expected:
        fail(f"classes and functions {[c.name for c in classes]}, expected {expected}")
    module_names = frozenset(imported | set(expected))
    for node, block in zip(classes, chain):
        if block.kind in ("function", "builder"):
            if not isinstance(node, ast.FunctionDef):
                fail(f"{node.name} must be a function")
            _check_function(node, block, fail)
        elif not isinstance(node, ast.ClassDef):
            fail(f"{node.name} must be a class")
        else:
            _check_class(node, block, fail)
        _check_names(node, block, module_names, fail)
        if block.kind != "builder":  # a builder is constructor code, whose layer arguments may be strings anywhere
            _check_strings(node, fail)


def _check_strings(node: ast.ClassDef | ast.FunctionDef, fail) -> None:
    """A string in forward, a method or a function spec is data in one of the places the renderer
    writes one: a docstring, a keyword argument's value, one side of == / != against a name or
    self.<attribute>, a ModuleDict key, or a raise's message. (__init__ is constructor code.)"""
    functions = [node] if isinstance(node, ast.FunctionDef) else [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"]
    for func in functions:
        placed: set[int] = set()
        body = func.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            placed.add(id(body[0].value))
        for child in _nodes(func):
            if isinstance(child, ast.Call):
                placed.update(id(k.value) for k in child.keywords)
            elif isinstance(child, ast.Compare) and len(child.ops) == 1 and isinstance(child.ops[0], (ast.Eq, ast.NotEq)):
                left, right = child.left, child.comparators[0]
                for value, other in ((left, right), (right, left)):
                    if type(other) is ast.Name or (type(other) is ast.Attribute and type(other.value) is ast.Name and other.value.id == "self"):
                        placed.add(id(value))
            elif isinstance(child, ast.Subscript):
                placed.add(id(child.slice))
            elif isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call):
                placed.update(id(a) for a in child.exc.args)
        for child in _nodes(func):
            if isinstance(child, ast.Constant) and isinstance(child.value, str) and id(child) not in placed:
                fail(f"string {child.value!r} in {func.name} outside a keyword argument, a comparison or a message")


def _check_function(func: ast.FunctionDef, block: Block, fail) -> None:
    """A function spec: a plain typed def; no decorators, no self, no attributes but tensor ones."""
    if func.decorator_list:
        fail(f"decorator on {func.name}")
    builder = block.kind == "builder"
    expected = ([] if builder else block.inputs) + [a.name for a in block.args]
    if [a.arg for a in func.args.args] != expected or func.args.vararg or func.args.kwarg or func.args.kwonlyargs:
        fail(f"function {func.name} takes {[a.arg for a in func.args.args]}, the spec declares {expected}")
    if builder and (func.returns is None or ast.unparse(func.returns) != "nn.Sequential"):
        fail(f"builder {func.name} must return nn.Sequential")
    # A builder assigns only in its loops: the book's `in_channels = out_channels`, an argument
    # given another argument or a number for the next step (render._carried).
    args = {a.name for a in block.args}
    carried = {
        id(stmt) for loop in _nodes(func) if type(loop) is ast.For for stmt in loop.body
        if type(stmt) is ast.Assign and len(stmt.targets) == 1 and type(stmt.targets[0]) is ast.Name
        and stmt.targets[0].id in args and is_carried_value(stmt.value, args)
    }
    for node in _nodes(func):
        kind = type(node)
        if builder and kind is ast.Starred and ast.unparse(node) == "*layers":
            continue  # nn.Sequential(*layers): the list the builder's loop filled
        if builder and kind is ast.Assign and id(node) not in carried:
            fail(f"assignment {ast.unparse(node)[:60]!r} in builder {func.name}")
        if kind in FORBIDDEN_NODES or kind in (ast.ClassDef, ast.Starred) or (kind is ast.FunctionDef and node is not func):
            fail(f"{kind.__name__} in {func.name}")
        elif kind is ast.Call and type(node.func) is ast.Name and node.func.id in FORBIDDEN_CALLS:
            fail(f"call of {node.func.id} in {func.name}")
        elif kind is ast.Attribute and node.attr == "add_module":
            fail(f"add_module in {func.name}: a builder's children are numbered")
        elif kind is ast.Name and node.id == "self":
            fail(f"self in function {func.name}")
        elif kind is ast.Assign and any(type(t) is ast.Subscript and type(t.value) is not ast.Name for t in node.targets):
            fail(f"subscript assignment into something other than a local in {func.name}")
        elif kind is ast.AugAssign and type(node.target) is ast.Subscript:
            fail(f"augmented assignment to {ast.unparse(node.target)} in {func.name}")
        elif kind is ast.Attribute and node.attr.startswith("_"):
            fail(f"private attribute {node.attr} in {func.name}")
    _check_init_code(func, "function", fail)  # no initialisation code outside a block's __init__


def is_carried_value(value: ast.expr, args: set[str]) -> bool:
    """What a builder's loop may give an argument for the next step: another argument or an int or float."""
    if type(value) is ast.Name:
        return value.id in args
    return type(value) is ast.Constant and type(value.value) in (int, float)


def _check_names(top: ast.ClassDef | ast.FunctionDef, block: Block, module_names: frozenset[str], fail) -> None:
    """Every name a function or class reads is its own local, the file's import or block, or one of BUILTINS;
    a module's attribute is one MODULE_ATTRIBUTES lists, and a module stands only before its dot (IMPORT_PLACES);
    self's attribute is the block's own or one of SELF_ATTRIBUTES, anything else's one of OBJECT_ATTRIBUTES;
    a private attribute is the block's own.

    A function's locals are its arguments and what its body assigns (no global, nonlocal, del,
    lambda or comprehension gets past the gate). Defaults, annotations and decorators are read in
    the enclosing scope, so there only the file's names and BUILTINS count.
    """
    where = top.name
    known = module_names | BUILTINS
    own = {t.name for t in block.parameters + block.buffers} | set(block.layers) | set(block.kept)
    own |= {d.name for d in block.derived if d.kept} | {m.name for m in block.methods}
    if block.variadic is not None:
        own.add("_modules")
    # One walk per function (its body's locals), one of whatever a class has besides.
    functions = [top] if type(top) is ast.FunctionDef else [n for n in top.body if type(n) is ast.FunctionDef]
    rest = [] if type(top) is ast.FunctionDef else [top, *(n for stmt in top.body if type(stmt) is not ast.FunctionDef for n in _nodes(stmt))]
    scoped: list[tuple[list[ast.AST], frozenset[str]]] = [(rest, known)]
    for func in functions:
        outside = [*func.decorator_list, *func.args.defaults, *(d for d in func.args.kw_defaults if d is not None)]
        if func.returns is not None:
            outside.append(func.returns)
        arguments = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs, *filter(None, [func.args.vararg, func.args.kwarg])]
        outside += [a.annotation for a in arguments if a.annotation is not None]
        read_outside = {id(n) for tree in outside for n in _nodes(tree)}
        walked = _nodes(func)
        local = {a.arg for a in arguments} | {n.id for n in walked if type(n) is ast.Name and type(n.ctx) is ast.Store}
        scoped.append(([n for n in walked if id(n) in read_outside], known))
        scoped.append(([n for n in walked if id(n) not in read_outside], known | local))
    nodes = [n for part, _ in scoped for n in part]
    # super and type in the renderer's forms only: super().__init__() and type(module) (both
    # also checked elsewhere), and type[nn.Module] annotating a layer-class argument.
    formed: set[int] = set()
    for node in nodes:
        if (type(node) is ast.Call and not node.args and not node.keywords and type(node.func) is ast.Attribute
                and node.func.attr == "__init__" and _is_call_of(node.func.value, "super")):
            formed |= {id(node.func), id(node.func.value.func)}  # type: ignore[attr-defined]
        elif type(node) is ast.Call and type(node.func) is ast.Name and node.func.id == "type":
            formed.add(id(node.func))
        elif type(node) is ast.Subscript and type(node.value) is ast.Name and node.value.id == "type":
            formed.add(id(node.value))
    placed: dict[int, tuple[type, str]] = {}  # a node's id -> (its parent's type, the field it is in)
    for node in nodes:
        if type(node) is ast.Attribute:
            placed[id(node.value)] = (ast.Attribute, "value")
        elif type(node) is ast.Call:
            placed[id(node.func)] = (ast.Call, "func")
        elif type(node) is ast.Subscript:
            placed[id(node.value)] = (ast.Subscript, "value")
    imports = module_names & set(IMPORT_PLACES)
    for node in nodes:  # first, so an aliased module is named as such rather than by what follows the alias
        if type(node) is ast.Name and node.id in imports and placed.get(id(node)) != IMPORT_PLACES[node.id]:
            fail(f"{node.id} as a value in {where}: an import stands only where the renderer writes it")
    for part, names in scoped:
        for node in part:
            kind = type(node)
            if kind is ast.Name:
                if node.id.startswith("__"):
                    fail(f"name {node.id} in {where}")
                if type(node.ctx) is ast.Load and (node.id not in names or node.id in ("super", "type") and id(node) not in formed):
                    fail(f"name {node.id} in {where}, which the renderer never reads there")
            elif kind is ast.Attribute:
                owner = node.value
                if type(owner) is ast.Name and owner.id in MODULE_ATTRIBUTES and owner.id in module_names and node.attr not in MODULE_ATTRIBUTES[owner.id]:
                    fail(f"{owner.id}.{node.attr} in {where}")
    for node in nodes:  # then private attributes, so torch._C._x is named by its module's check
        if type(node) is ast.Attribute and node.attr.startswith("_") and id(node) not in formed:
            owner = node.value
            if not (type(owner) is ast.Name and owner.id == "self" and node.attr in own):
                fail(f"private attribute {node.attr} in {where}")
    for node in nodes:  # then every other attribute, so each of those names the part it refuses
        if type(node) is ast.Attribute:
            owner = node.value
            if type(owner) is ast.Name and owner.id in MODULE_ATTRIBUTES and owner.id in module_names:
                pass  # checked above
            elif _is_nn_init(owner):
                if node.attr not in INIT_FUNCTIONS:
                    fail(f"nn.init.{node.attr} in {where}")
            elif type(owner) is ast.Name and owner.id == "self":
                if node.attr not in own and node.attr not in SELF_ATTRIBUTES:
                    fail(f"self.{node.attr} in {where}, which is neither the block's own nor an attribute the renderer writes")
            elif id(node) in formed or (node.attr == "values" and ast.unparse(owner) == "self._modules"):
                pass  # super().__init__; the variadic children's loop
            elif node.attr not in OBJECT_ATTRIBUTES:
                fail(f"attribute .{node.attr} in {where}, which the renderer never writes after {ast.unparse(owner)[:40]}")


def _is_call_of(node: ast.expr, name: str) -> bool:
    """``name()``: a call of a bare name without arguments."""
    return type(node) is ast.Call and type(node.func) is ast.Name and node.func.id == name and not node.args and not node.keywords


def _check_class(cls: ast.ClassDef, block: Block, fail) -> None:
    base = cls.bases[0] if len(cls.bases) == 1 else None
    is_module = type(base) is ast.Attribute and base.attr == "Module" and type(base.value) is ast.Name and base.value.id == "nn"
    if not is_module or cls.keywords or cls.decorator_list:
        fail(f"class {cls.name} must derive from nn.Module only")
    methods = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in cls.body if not isinstance(n, ast.FunctionDef)]
    helpers = [m.name for m in block.methods]
    if methods != ["__init__", *helpers, "forward"]:
        fail(f"class {cls.name} defines {methods}")
    for helper in helpers:  # never a dunder or an nn.Module attribute: a method cannot override what torch or Python calls
        if helper.startswith("__") or helper in RESERVED or not helper.replace("_", "").isalnum():
            fail(f"method {helper} in {cls.name}")
    _check_signatures(cls, block, fail)
    if not others or not (isinstance(others[0], ast.Expr) and isinstance(others[0].value, ast.Constant)):
        fail(f"class {cls.name} has statements besides its docstring and methods")
    # Besides, only bare attribute annotations for type checkers: each buffer's, and the
    # variadic children's; never a value.
    allowed = {(t.name, "torch.Tensor") for t in block.buffers}
    if block.variadic is not None:
        allowed.add(("_modules", "dict[str, nn.Module]"))
    for node in others[1:]:
        if not (
            isinstance(node, ast.AnnAssign) and node.value is None and isinstance(node.target, ast.Name)
            and (node.target.id, ast.unparse(node.annotation)) in allowed
        ):
            fail(f"class {cls.name} has statements besides its docstring, its attribute types and methods")
        allowed.discard((node.target.id, ast.unparse(node.annotation)))  # each once
    members = {t.name for t in block.parameters} | set(block.layers) | set(block.kept) | {d.name for d in block.derived if d.kept}
    named: dict[str, set[str]] = {}  # member -> the children's names that add_module gave, in the literal form
    buffers = {t.name for t in block.buffers}
    assigned: set[str] = set()
    registered: set[str] = set()
    forward = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward")
    in_forward = {id(n) for n in _nodes(forward)}
    constructor = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    in_init = {id(n) for n in _nodes(constructor)}
    for node in _nodes(cls):
        kind = type(node)
        if kind in FORBIDDEN_NODES:
            fail(f"{kind.__name__} in {cls.name}")
        elif kind is ast.Call:
            func = node.func
            if type(func) is ast.Name and func.id in FORBIDDEN_CALLS:
                fail(f"call of {func.id} in {cls.name}")
            if type(func) is ast.Attribute and func.attr == "add_module":
                if id(node) not in in_init:
                    fail(f"add_module outside {cls.name}.__init__")
                _check_add_module(node, block, named, fail)
            if type(func) is ast.Attribute and func.attr == "register_buffer":
                name = node.args[0] if node.args else None
                if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                    fail(f"register_buffer without a literal name in {cls.name}")
                registered.add(name.value)
        elif kind is ast.Attribute:
            if node.attr.startswith("__") and node.attr != "__init__":
                fail(f"dunder attribute {node.attr} in {cls.name}")
            if node.attr == "_modules" and block.variadic is None:
                fail(f"_modules in {cls.name}")
        elif kind is ast.Assign:
            for target in _flat_targets(node.targets):
                if type(target) is ast.Subscript:  # constructor statements fill buffers: self.<buffer>[...] = ...
                    owner = target.value
                    into_buffer = type(owner) is ast.Attribute and type(owner.value) is ast.Name and owner.value.id == "self" and owner.attr in buffers
                    if not into_buffer or id(node) in in_forward:  # forward replaces a buffer whole, never writes into it
                        if not (type(owner) is ast.Name and owner.id != "self"):  # X[index] = value on a local tensor
                            fail(f"assignment to {ast.unparse(target)} in {cls.name}")
                if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                    if id(node) in in_forward:
                        # Forward's one assignment to self: a new value for a declared buffer.
                        if target.attr not in buffers:
                            fail(f"{cls.name}.forward assigns self.{target.attr}, which is not a declared buffer")
                        continue
                    if len(node.targets) != 1 or type(node.targets[0]) is not ast.Attribute:
                        fail(f"{cls.name} assigns self.{target.attr} by unpacking")
                    assigned.add(target.attr)
                    if target.attr in block.kept and ast.unparse(node.value) != target.attr:
                        fail(f"{cls.name} keeps self.{target.attr} as something other than its argument")
        elif kind is ast.AugAssign:
            if type(node.target) is ast.Subscript:
                fail(f"augmented assignment to {ast.unparse(node.target)} in {cls.name}")
            # An attribute is updated in place only by __init__'s init steps (<tensor>.data *= ...),
            # which _check_init_code admits in their one form.
            for target in _flat_targets([node.target]):
                if type(target) is ast.Subscript or (type(target) is ast.Attribute and id(node) not in in_init):
                    fail(f"augmented assignment to {ast.unparse(target)} in {cls.name}")
        elif kind is ast.AnnAssign:
            if type(node.target) is ast.Attribute:
                fail(f"annotated attribute in {cls.name}")
        elif kind is ast.Raise:
            call = node.exc
            if not (
                type(call) is ast.Call and type(call.func) is ast.Name and call.func.id in RAISED
                and len(call.args) == 1 and not call.keywords and type(call.args[0]) is ast.Constant
                and type(call.args[0].value) is str and node.cause is None
            ):
                fail(f"raise of something other than an error with a literal message in {cls.name}")
        elif kind is ast.Assert:
            if not (type(node.msg) is ast.Constant and type(node.msg.value) is str):
                fail(f"assert without a literal message in {cls.name}")
        elif kind is ast.Starred:
            if ast.unparse(node) != "*layers":
                fail(f"starred expression {ast.unparse(node)} in {cls.name}")
        elif kind is ast.FunctionDef:
            if node.decorator_list:
                fail(f"decorator in {cls.name}")
    for method in cls.body:
        if isinstance(method, ast.FunctionDef):
            _check_init_code(method, cls.name, fail, _constructor_locals(block))
    expected_names = {
        member: {c.name for c in layer.children if isinstance(c, LayerDef) and c.name}
        for member, layer in block.layers.items()
    }
    for member, names in named.items():
        if names != expected_names.get(member, set()):
            fail(f"{cls.name} names the children of self.{member} {sorted(names)}, the spec {sorted(expected_names.get(member, set()))}")
    if assigned != members:
        fail(f"{cls.name} assigns attributes {sorted(assigned)}, the spec declares {sorted(members)}")
    if registered != buffers:
        fail(f"{cls.name} registers buffers {sorted(registered)}, the spec declares {sorted(buffers)}")
    order = _registration_order(constructor, block)
    if order != registration_order(block):
        fail(f"{cls.name} registers {order}, the spec's order is {registration_order(block)}")


def registration_order(block: Block) -> list[str]:
    """What the spec says __init__ makes, in order: parameters and buffers, then the layers; a tensor
    with "after" right after its layer."""
    tensors = block.parameters + block.buffers
    order = [t.name for t in tensors if t.after is None]
    for layer in block.layers:
        order += [layer] + [t.name for t in tensors if t.after == layer]
    return order


def _registration_order(constructor: ast.FunctionDef, block: Block) -> list[str]:
    """The order in which __init__ makes the spec's parameters, buffers and layers (so the order of the draws)."""
    names = {t.name for t in block.parameters} | set(block.layers)
    made: list[tuple[int, int, str]] = []
    for node in _nodes(constructor):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self" and target.attr in names:
                made.append((node.lineno, node.col_offset, target.attr))
        elif isinstance(node, ast.Call) and type(node.func) is ast.Attribute and node.func.attr == "register_buffer":
            name = node.args[0] if node.args else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                made.append((node.lineno, node.col_offset, name.value))
    return [name for _, _, name in sorted(made)]


# What forward and the methods take: a tensor, a pair of tensors, a list of tensors, each maybe None.
INPUT_TYPES = ("torch.Tensor", "tuple[torch.Tensor, torch.Tensor]", "list[torch.Tensor]")


def _check_signatures(cls: ast.ClassDef, block: Block, fail) -> None:
    """forward's and each method's arguments: self, then the spec's inputs, each annotated with its declared type,
    None its only default; no *args, **kwargs or keyword-only arguments."""
    declared = {"forward": (block.inputs, {n: "tuple[torch.Tensor, torch.Tensor]" for n in block.pairs} | {n: "list[torch.Tensor]" for n in block.lists}, block.optional)}
    declared.update({m.name: (m.inputs, m.types, frozenset()) for m in block.methods})
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.name not in declared:
            continue
        inputs, types, optional = declared[node.name]
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or [a.arg for a in args.args] != ["self", *inputs]:
            fail(f"{cls.name}.{node.name} takes {[a.arg for a in args.args]}, the spec declares {['self', *inputs]}")
        if any(not (type(d) is ast.Constant and d.value is None) for d in args.defaults) or len(args.defaults) != len(optional):
            fail(f"{cls.name}.{node.name} has defaults other than None for its optional inputs")
        for arg in args.args[1:]:
            kind = types.get(arg.arg, "torch.Tensor")
            text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
            allowed = {f"{kind} | None"} if arg.arg in optional else {kind}
            if kind not in INPUT_TYPES or text not in allowed:
                fail(f"{cls.name}.{node.name}'s {arg.arg} is annotated {text or 'nothing'}, the spec declares {kind}")


def _check_add_module(call: ast.Call, block: Block, named: dict[str, set[str]], fail) -> None:
    """add_module in the three forms the renderer emits, and no other.

    ``self.add_module(str(idx), module)``: the variadic argument's children;
    ``self.<layer>.add_module("block" + str(i), ...)``: a repeat with a prefix;
    ``self.<layer>.add_module("stage1", ...)``: a named Sequential child (an
    identifier, neither private nor an nn.Sequential method), or "3", a later
    unnamed child by its position.
    """
    owner = call.func.value  # type: ignore[attr-defined]
    if len(call.args) != 2 or call.keywords:
        fail(f"add_module with other than a name and a module: {ast.unparse(call)[:60]!r}")
    name = call.args[0]
    if type(owner) is ast.Name and owner.id == "self":
        if block.variadic is None or ast.unparse(name) != "str(idx)":
            fail(f"self.add_module({ast.unparse(name)}, ...) in {block.name}")
        return
    if not (type(owner) is ast.Attribute and type(owner.value) is ast.Name and owner.value.id == "self" and owner.attr in block.layers):
        fail(f"add_module on {ast.unparse(owner)}, which is not a declared layer of {block.name}")
    if (type(name) is ast.BinOp and type(name.op) is ast.Add and type(name.left) is ast.Constant and type(name.left.value) is str
            and name.left.value.isidentifier() and type(name.right) is ast.Call and ast.unparse(name.right.func) == "str"
            and len(name.right.args) == 1 and type(name.right.args[0]) is ast.Name and not name.right.keywords):
        return  # "block" + str(i)
    if not (type(name) is ast.Constant and type(name.value) is str):
        fail(f"add_module without a literal name: {ast.unparse(name)[:60]!r}")
    text = name.value
    if text.isdigit() and text.isascii():
        return
    if not text.isidentifier() or not text.isascii() or text.startswith("_") or text in SEQUENTIAL_METHODS:
        fail(f"add_module name {text!r}")
    named.setdefault(owner.attr, set()).add(text)


INIT_FUNCTIONS = frozenset(f"{form}_" for form in FORMS)
UPDATE_OPS = (ast.Mult, ast.Div, ast.Add, ast.Sub)


def _constructor_locals(block: Block) -> frozenset[str]:
    """The local names __init__ may assign: the shared ``shape``, constructor statements' locals,
    derived values that are not kept, and arguments given an ``or`` default."""
    names = {"shape"}
    names |= {s.target.id for s in block.constructor if isinstance(s.target, ast.Name)}
    names |= {d.name for d in block.derived if not d.kept}
    names |= {a.name for a in block.args if a.otherwise is not None}
    return frozenset(names)


def _check_init_code(method: ast.FunctionDef, cls: str, fail, locals_ok: frozenset[str] = frozenset({"shape"})) -> None:
    """Initialisation code: only in __init__, and only in the forms the renderer emits.

    ``nn.init.<form>_(...)`` calls from the allowlist; ``<tensor>.data <op>= ...``
    update steps; one ``for module in self.modules():`` loop testing
    ``type(module)``; ``shape = ...`` as the only local assignment.
    """
    in_init = method.name == "__init__"
    where = f"{cls}.{method.name}"
    allowed_data: set[int] = set()  # the .data nodes inside update steps
    allowed_init: set[int] = set()  # the nn.init nodes inside nn.init.<form>_
    loops = 0
    for node in _nodes(method):
        kind = type(node)
        if kind is ast.AugAssign and in_init:
            target = node.target
            if not (type(target) is ast.Attribute and target.attr == "data" and isinstance(node.op, UPDATE_OPS)
                    and _root(target) in ("self", "module")):
                fail(f"augmented assignment {ast.unparse(node)[:60]!r} in {where}")
            allowed_data |= {id(n) for n in _nodes(node) if type(n) is ast.Attribute and n.attr == "data"}
        elif kind is ast.Assign and in_init:
            for target in node.targets:
                if type(target) is ast.Name and target.id not in locals_ok:
                    fail(f"assignment to {target.id} in {where}")
        elif kind is ast.For:
            uses_modules = _is_self_modules(node.iter)
            if uses_modules:
                loops += 1
                if not in_init or loops > 1 or not (type(node.target) is ast.Name and node.target.id == "module"):
                    fail(f"loop over self.modules() in {where}")
        elif kind is ast.Call and type(node.func) is ast.Name and node.func.id == "type":
            if not in_init or len(node.args) != 1 or node.keywords or not (type(node.args[0]) is ast.Name and node.args[0].id == "module"):
                fail(f"call of type in {where}")
        elif kind is ast.Attribute:
            if _is_nn_init(node.value):
                if not in_init or node.attr not in INIT_FUNCTIONS:
                    fail(f"nn.init.{node.attr} in {where}")
                allowed_init.add(id(node.value))
            if node.attr == "modules" and not in_init:
                fail(f".modules in {where}")
    for node in _nodes(method):
        if type(node) is ast.Attribute:
            if node.attr == "data" and id(node) not in allowed_data:
                fail(f".data outside an init update step in {where}")
            if _is_nn_init(node) and id(node) not in allowed_init:
                fail(f"nn.init other than nn.init.<form>_ in {where}")
        if type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "modules" and not _is_for_iter(method, node):
            fail(f"self.modules() outside the init loop in {where}")


def _is_nn_init(node: ast.expr) -> bool:
    return type(node) is ast.Attribute and node.attr == "init" and type(node.value) is ast.Name and node.value.id == "nn"


def _root(node: ast.expr) -> str | None:
    """The name a tensor is reached from: ``self`` for ``self.net.get_parameter("0.weight").data``."""
    while type(node) in (ast.Attribute, ast.Subscript) or _is_get_parameter(node):
        node = node.func.value if type(node) is ast.Call else node.value  # type: ignore[attr-defined]
    return node.id if type(node) is ast.Name else None


def _is_get_parameter(node: ast.expr) -> bool:
    """``<...>.get_parameter("<literal>")``: how layer inits name a tensor a type checker cannot type."""
    return (
        type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "get_parameter"
        and len(node.args) == 1 and not node.keywords and type(node.args[0]) is ast.Constant and type(node.args[0].value) is str
    )


def _is_self_modules(node: ast.expr) -> bool:
    return (type(node) is ast.Call and not node.args and not node.keywords and type(node.func) is ast.Attribute
            and node.func.attr == "modules" and type(node.func.value) is ast.Name and node.func.value.id == "self")


def _is_for_iter(method: ast.FunctionDef, call: ast.Call) -> bool:
    return any(type(n) is ast.For and n.iter is call and _is_self_modules(call) for n in _nodes(method))


def _flat_targets(targets: list[ast.expr]) -> list[ast.expr]:
    """Assignment targets with tuples and lists unpacked: ``Y, self.moving_mean = ...``."""
    flat: list[ast.expr] = []
    for target in targets:
        if type(target) in (ast.Tuple, ast.List):
            flat.extend(_flat_targets(target.elts))
        else:
            flat.append(target)
    return flat


def _nodes(root: ast.AST) -> list[ast.AST]:
    """Every node under ``root`` (ast.walk's chain of generators costs twice as much).

    Nodes are matched by exact type: the parser makes no subclasses.
    """
    found = []
    stack = [root]
    node_type = ast.AST
    while stack:
        node = stack.pop()
        found.append(node)
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                stack.extend(item for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type) and field != "ctx":  # Load/Store markers carry nothing
                stack.append(value)
    return found
