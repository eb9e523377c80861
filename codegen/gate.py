"""The AST gate: the last check before anything is written.

Whatever the templates or the renderer did, a generated file must parse and
contain only what a block file may contain. A template defect that slips in
anything else makes the run fail instead of shipping it.
"""

from __future__ import annotations

import ast

from .errors import SpecError
from .model import Block

ALLOWED_IMPORTS = {
    ("import", "torch", None),
    ("from", "torch", "nn"),
    ("from", "torch.nn", "functional"),
}
FORBIDDEN_CALLS = frozenset(
    {"exec", "eval", "compile", "__import__", "open", "getattr", "setattr", "delattr",
     "globals", "locals", "vars", "breakpoint", "input", "exit", "quit", "help"}
)
FORBIDDEN_NODES = frozenset({
    ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Global,
    ast.Nonlocal, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Delete, ast.Await, ast.Yield,
    ast.YieldFrom, ast.AsyncFunctionDef, ast.NamedExpr, ast.Match,
})


def check(source: str, chain: list[Block], file: str) -> None:
    """Raise SpecError (code E900: a generator defect) unless ``source`` passes."""

    def fail(message: str) -> None:
        raise SpecError("E900", f"generated code failed the AST gate: {message}", file=file)

    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        fail(f"does not parse: {exc.msg} at line {exc.lineno}")
    expected = [b.name for b in chain]
    classes = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ("import", alias.name, alias.asname) not in ALLOWED_IMPORTS:
                    fail(f"import of {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if ("from", node.module, alias.name) not in ALLOWED_IMPORTS or node.level:
                    fail(f"import from {node.module}")
        elif isinstance(node, ast.ClassDef):
            classes.append(node)
        else:
            fail(f"top-level {type(node).__name__} at line {node.lineno}")
    if [c.name for c in classes] != expected:
        fail(f"classes {[c.name for c in classes]}, expected {expected}")
    for cls, block in zip(classes, chain):
        _check_class(cls, block, fail)


def _check_class(cls: ast.ClassDef, block: Block, fail) -> None:
    base = cls.bases[0] if len(cls.bases) == 1 else None
    is_module = type(base) is ast.Attribute and base.attr == "Module" and type(base.value) is ast.Name and base.value.id == "nn"
    if not is_module or cls.keywords or cls.decorator_list:
        fail(f"class {cls.name} must derive from nn.Module only")
    methods = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in cls.body if not isinstance(n, ast.FunctionDef)]
    if methods != ["__init__", "forward"]:
        fail(f"class {cls.name} defines {methods}")
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
    members = {t.name for t in block.parameters} | set(block.layers)
    buffers = {t.name for t in block.buffers}
    assigned: set[str] = set()
    registered: set[str] = set()
    for node in _nodes(cls):
        kind = type(node)
        if kind in FORBIDDEN_NODES:
            fail(f"{kind.__name__} in {cls.name}")
        elif kind is ast.Call:
            func = node.func
            if type(func) is ast.Name and func.id in FORBIDDEN_CALLS:
                fail(f"call of {func.id} in {cls.name}")
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
            for target in node.targets:
                if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == "self":
                    assigned.add(target.attr)
        elif kind is ast.AnnAssign:
            if type(node.target) is ast.Attribute:
                fail(f"annotated attribute in {cls.name}")
        elif kind is ast.Starred:
            if ast.unparse(node) != "*layers":
                fail(f"starred expression {ast.unparse(node)} in {cls.name}")
        elif kind is ast.FunctionDef:
            if node.decorator_list:
                fail(f"decorator in {cls.name}")
    if assigned != members:
        fail(f"{cls.name} assigns attributes {sorted(assigned)}, the spec declares {sorted(members)}")
    if registered != buffers:
        fail(f"{cls.name} registers buffers {sorted(registered)}, the spec declares {sorted(buffers)}")


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
