"""A Mermaid flowchart of a block's forward data flow, for ``generated/README.md``.

The picture is derived from the analysed forward statements (``model.Block``),
never from spec text: a node is a layer call, a function or method call, an
operator, an input or the output; an edge is a value flowing into it. Control
flow stays visible: an ``if`` and its ``else`` are boxes (subgraphs), a loop
is a box whose loop-carried values meet in a round node fed back by a dotted
"next" edge, and a variable an ``if`` may rebind meets its two values in a
round node after it.

Every label is built from checked identifiers, catalogued names, operator
symbols and numbers, then passed through ``label`` (an allowlist of
characters; ``<``, ``>`` and ``"`` as Mermaid entity codes), so a hostile spec
cannot inject Mermaid, Markdown or HTML. A statement or expression kind this
module does not know (the language grows) still gets a node, named by its
kind, fed by the values it reads: the picture degrades, it does not fail.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .model import Assign, Block, For, If, LayerDef, Return, Statement, While

# What a label may hold, besides letters and digits: what operators, calls and numbers need.
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_ .,:()\[\]+\-*/%=!<>@~']")
_ENTITIES = {"<": "#lt;", ">": "#gt;"}
MAX_LABEL = 48  # longer labels are cut (with "..."): a box per node stays narrow
MAX_EXPANDED = 64  # a Sequential with more children than this is one node (as in the docstring table)

_OPERATORS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.MatMult: "@", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=",
    ast.Gt: ">", ast.GtE: ">=", ast.Is: "is", ast.IsNot: "is not", ast.USub: "-", ast.UAdd: "+",
    ast.Not: "not", ast.And: "and", ast.Or: "or",
}


def label(text: str) -> str:
    """``text`` as a quoted Mermaid label: allowlisted characters only, cut to MAX_LABEL."""
    text = " ".join(text.split())
    if len(text) > MAX_LABEL:
        text = text[: MAX_LABEL - 3] + "..."
    text = _LABEL_CHARS.sub("?", text)
    return '"' + "".join(_ENTITIES.get(c, c) for c in text) + '"'


def expression_text(node: ast.AST) -> str:
    """A checked expression as short text for a label: names, numbers, operators, calls.

    Written here rather than with ``ast.unparse`` so that only what this
    module chooses to show (never a string constant) can reach a label.
    """
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str) and value.isidentifier() and value.isascii():
            return repr(value)  # a ModuleDict key
        return repr(value) if isinstance(value, (bool, int, float)) or value is None else "..."
    if isinstance(node, ast.Attribute):
        owner = expression_text(node.value)
        return node.attr if owner == "self" else f"{owner}.{node.attr}"
    if isinstance(node, ast.Call):
        args = [expression_text(a) for a in node.args] + [f"{k.arg}={expression_text(k.value)}" for k in node.keywords]
        return f"{expression_text(node.func)}({', '.join(args)})"
    if isinstance(node, ast.BinOp):
        return f"{expression_text(node.left)} {_OPERATORS.get(type(node.op), '?')} {expression_text(node.right)}"
    if isinstance(node, ast.UnaryOp):
        symbol = _OPERATORS.get(type(node.op), "?")
        return f"{symbol}{' ' if symbol == 'not' else ''}{expression_text(node.operand)}"
    if isinstance(node, ast.BoolOp):
        return f" {_OPERATORS.get(type(node.op), '?')} ".join(expression_text(v) for v in node.values)
    if isinstance(node, ast.Compare):
        parts = [expression_text(node.left)]
        for op, right in zip(node.ops, node.comparators):
            parts += [_OPERATORS.get(type(op), "?"), expression_text(right)]
        return " ".join(parts)
    if isinstance(node, (ast.Tuple, ast.List)):
        return "(" + ", ".join(expression_text(e) for e in node.elts) + ")"
    if isinstance(node, ast.Subscript):
        return f"{expression_text(node.value)}[{expression_text(node.slice)}]"
    if isinstance(node, ast.Slice):
        parts = [expression_text(p) if p is not None else "" for p in (node.lower, node.upper)]
        return ":".join(parts) + (f":{expression_text(node.step)}" if node.step is not None else "")
    if isinstance(node, ast.IfExp):
        return f"{expression_text(node.body)} if {expression_text(node.test)} else {expression_text(node.orelse)}"
    return type(node).__name__.lower()


class _Ref:
    """A value in the picture: the node that produces it, and the variable it was read from."""

    __slots__ = ("node", "name")

    def __init__(self, node: str, name: str | None = None) -> None:
        self.node = node
        self.name = name


class _Flow:
    def __init__(self, block: Block) -> None:
        self.block = block
        self.lines: list[str] = []  # node and subgraph lines, indented by nesting
        self.edges: list[str] = []  # after every node: an edge never places a node in a box
        self.depth = 1
        self.count = 0
        self.boxes = 0
        self.members: dict[str, str] = {}  # parameter or buffer name -> its node
        self.loop_vars: dict[str, str] = {}  # loop variable -> what it runs over, for labels
        self.tensors = {t.name: "parameter" for t in block.parameters} | {t.name: "buffer" for t in block.buffers}

    # -------------------------------------------------------------- building blocks

    def node(self, text: str, shape: str = "box") -> str:
        self.count += 1
        name = f"n{self.count}"
        left, right = {"box": ("[", "]"), "round": ("((", "))"), "stadium": ("([", "])"), "store": ("[(", ")]")}[shape]
        self.lines.append("    " * self.depth + f"{name}{left}{label(text)}{right}")
        return name

    def edge(self, source: _Ref, target: str, text: str | None = None, dotted: bool = False) -> None:
        text = text if text is not None else source.name
        arrow = "-.->" if dotted else "-->"
        self.edges.append(f"    {source.node} {arrow}{'|' + label(text) + '|' if text else ''} {target}")

    def op(self, text: str, inputs: list[_Ref], shape: str = "box") -> _Ref:
        name = self.node(text, shape)
        for ref in inputs:
            self.edge(ref, name)
        return _Ref(name)

    def open_box(self, text: str) -> str:
        self.boxes += 1
        name = f"s{self.boxes}"
        self.lines.append("    " * self.depth + f"subgraph {name} [{label(text)}]")
        self.depth += 1
        return name

    def close_box(self) -> None:
        self.depth -= 1
        self.lines.append("    " * self.depth + "end")

    # -------------------------------------------------------------- expressions

    def values(self, node: ast.AST, env: dict[str, _Ref | None]) -> list[_Ref]:
        """The values ``node`` yields into a call: a tuple's elements each, else the one value (if a tensor)."""
        if isinstance(node, (ast.Tuple, ast.List)):
            return [ref for elt in node.elts for ref in self.values(elt, env)]
        ref = self.expr(node, env)
        return [ref] if ref is not None else []

    def expr(self, node: ast.AST, env: dict[str, _Ref | None]) -> _Ref | None:
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Constant):
            return None
        if isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id == "self":
                if node.attr not in self.tensors:
                    return None  # a layer (as in ``self.conv3 is not None``)
                if node.attr not in self.members:
                    self.members[node.attr] = self.node(f"{node.attr} ({self.tensors[node.attr]})", "store")
                return _Ref(self.members[node.attr])
            inner = self.expr(owner, env)
            return self.op(f".{node.attr}", [inner]) if inner is not None else None
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.BinOp):
            return self.operator(_OPERATORS.get(type(node.op), "?"), node.left, node.right, env)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            return None  # "mask is not None": whether an input was given, decided before any value flows
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.operator(_OPERATORS.get(type(node.ops[0]), "?"), node.left, node.comparators[0], env)
        if isinstance(node, ast.UnaryOp):
            inner = self.expr(node.operand, env)
            return self.op(_OPERATORS.get(type(node.op), "?"), [inner]) if inner is not None else None
        if isinstance(node, ast.Subscript):
            inner = self.expr(node.value, env)
            index = self.values(node.slice, env)
            if inner is None and not index:
                return None
            text = "[ ]" if index else f"[{expression_text(node.slice)}]"
            return self.op(text, ([inner] if inner is not None else []) + index)
        # Anything else (an if-expression, a kind added later): one node named by its kind.
        inputs = [ref for child in ast.iter_child_nodes(node) for ref in self.values(child, env)]
        if not inputs:
            return None
        return self.op(type(node).__name__.lower(), inputs)

    def operator(self, symbol: str, left: ast.AST, right: ast.AST, env: dict[str, _Ref | None]) -> _Ref | None:
        a, b = self.expr(left, env), self.expr(right, env)
        if a is not None and b is not None:
            return self.op(symbol, [a, b], "round")  # two tensors meet: a residual add shows as (+)
        if a is not None:
            return self.op(f"{symbol} {expression_text(right)}", [a])
        if b is not None:
            return self.op(f"{expression_text(left)} {symbol}", [b])
        return None

    def call(self, node: ast.Call, env: dict[str, _Ref | None]) -> _Ref | None:
        func = node.func
        tensor_args: list[_Ref] = []
        settings: list[str] = []
        for arg in node.args:
            refs = self.values(arg, env)
            tensor_args += refs
            if not refs:
                settings.append(expression_text(arg))
        for keyword in node.keywords:
            refs = self.values(keyword.value, env)
            tensor_args += refs
            if not refs:
                settings.append(f"{keyword.arg}={expression_text(keyword.value)}")
        extra = f" {', '.join(settings)}" if settings else ""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            layer = self.block.layers.get(func.attr)
            if layer is not None and layer.type == "Sequential" and tensor_args:
                return self.sequential(func.attr, layer, tensor_args)
            kind = f": {layer.type}" if layer is not None else ""
            return self.op(f"{func.attr}{kind}{extra}", tensor_args)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("F", "torch"):
            return self.op(f"{func.value.id}.{func.attr}{extra}", tensor_args)
        if isinstance(func, ast.Attribute):  # a tensor method
            owner = self.expr(func.value, env)
            return self.op(f".{func.attr}(){extra}", ([owner] if owner is not None else []) + tensor_args)
        if isinstance(func, ast.Name) and func.id in self.loop_vars:  # a loop variable bound to a module
            return self.op(f"{func.id}: each of {self.loop_vars[func.id]}", tensor_args)
        if isinstance(func, ast.Name):  # a function spec
            return self.op(f"{func.id}{extra}", tensor_args)
        return self.op(f"{expression_text(func)}{extra}", tensor_args)  # self.blks[0](X), self.heads['a'](X)

    def sequential(self, name: str, layer: LayerDef, inputs: list[_Ref]) -> _Ref:
        """A Sequential drawn as the chain of its children, so that the stages of a network show.

        Children built by a repeat are a box, fed back by a dotted edge: their
        number depends on the constructor's arguments, so they have no index.
        """
        children = layer.children
        if not children or len(children) > MAX_EXPANDED:
            return self.op(f"{name}: Sequential", inputs)
        refs = inputs
        indexed = True  # until a repeat: after it, the indexes depend on the arguments
        for i, child in enumerate(children):
            if isinstance(child, LayerDef):
                refs = [self.op(f"{name}{f'.{child.name or i}' if indexed else ''}: {child.type}", refs)]
            elif child.layers:
                indexed = False
                self.open_box(f"repeated for {child.var} in {expression_text(child.iterable)}")
                first = last = self.op(f"{name}: {child.layers[0].type}", refs)
                for inner in child.layers[1:]:
                    last = self.op(f"{name}: {inner.type}", [last])
                self.close_box()
                self.edge(last, first.node, "next", dotted=True)
                refs = [last]
        return refs[0] if len(refs) == 1 else self.op(name, refs)

    # -------------------------------------------------------------- statements

    def statements(self, body: list[Any], env: dict[str, _Ref | None]) -> None:
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, stmt: Statement, env: dict[str, _Ref | None]) -> None:
        if isinstance(stmt, Assign):
            value = self.expr(stmt.value, env)
            if stmt.op != "=" and len(stmt.targets) == 1:
                target = stmt.targets[0]
                symbol = stmt.op[:-1]
                old = env.get(target)
                if old is not None and value is not None:
                    value = self.op(symbol, [old, value], "round")
                elif old is not None:
                    value = self.op(f"{symbol} {expression_text(stmt.value)}", [old])
            for target in stmt.targets:
                env[target] = _Ref(value.node, target) if value is not None else None
        elif type(stmt).__name__ == "Append" and hasattr(stmt, "target"):  # outputs.append(H): the list grows
            value = self.expr(stmt.value, env)
            old_list = env.get(stmt.target)
            grown = self.op(f"{stmt.target}.append", [r for r in (old_list, value) if r is not None])
            env[stmt.target] = _Ref(grown.node, stmt.target)
        elif isinstance(stmt, Return):
            refs = self.values(stmt.value, env)
            self.op("output", refs, "stadium")
        elif isinstance(stmt, If):
            self.branches(stmt, env)
        elif isinstance(stmt, (While, For)):
            self.loop(stmt, env)
        else:
            self.unknown(stmt, env)

    def branches(self, stmt: If, env: dict[str, _Ref | None]) -> None:
        tests = self.values(stmt.test, env)  # a test on tensor values is drawn; one on the config is only named
        arms = []
        for title, body in ((f"if {expression_text(stmt.test)}", stmt.then), ("else", stmt.orelse)):
            arm = dict(env)
            if body:
                box = self.open_box(title)
                self.statements(body, arm)
                self.close_box()
                for ref in tests:
                    self.edge(ref, box, dotted=True)
            arms.append(arm)
        then, orelse = arms
        for name in sorted(set(then) | set(orelse)):
            a, b = then.get(name), orelse.get(name)
            if a is None or b is None or a.node == b.node:
                env[name] = a if b is None else b if a is None else a
                continue
            merged = self.node(name, "round")  # either value, as the test decides
            self.edge(a, merged, "if")
            self.edge(b, merged, "else")
            env[name] = _Ref(merged)

    def loop(self, stmt: While | For, env: dict[str, _Ref | None]) -> None:
        if isinstance(stmt, While):
            title = f"while {expression_text(stmt.test)} (at most {stmt.max_iterations} times)"
        else:
            variadic = self.block.variadic
            given = variadic is not None and isinstance(stmt.iterable, ast.Name) and stmt.iterable.id == variadic.name
            over = "the modules given" if given else expression_text(stmt.iterable)
            if getattr(stmt, "over", "modules") == "modules":
                self.loop_vars[stmt.var] = over
            else:  # a tensor's rows, or a list: each round's value flows from it
                source = self.expr(stmt.iterable, env)
                env[stmt.var] = self.op(f"each of {over}", [source]) if source is not None else None
            index = getattr(stmt, "index", None)
            title = f"for {index}, {stmt.var} in enumerate({over})" if index else f"for {stmt.var} in {over}"
        box = self.open_box(title)
        carried: dict[str, _Ref] = {}
        for name in sorted(_assigned(stmt.body)):
            before = env.get(name)
            if before is not None:
                start = self.node(name, "round")  # the value each round starts from
                self.edge(before, start)
                env[name] = carried[name] = _Ref(start)
        if isinstance(stmt, While):
            for ref in self.values(stmt.test, env):
                self.edge(ref, box, dotted=True)
        self.statements(stmt.body, env)
        self.close_box()
        for name, start_ref in carried.items():
            after = env.get(name)
            if after is not None and after.node != start_ref.node:
                self.edge(after, start_ref.node, "next", dotted=True)
            env[name] = start_ref  # after the loop: the value the last round left (or the first, if none ran)

    def unknown(self, stmt: Any, env: dict[str, _Ref | None]) -> None:
        """A statement kind added after this module: a node named by it, fed by what it reads."""
        inputs = []
        for value in vars(stmt).values() if hasattr(stmt, "__dict__") else ():
            if isinstance(value, ast.AST):
                inputs += self.values(value, env)
        self.op(type(stmt).__name__.lower(), inputs)
        body = getattr(stmt, "body", None)
        if isinstance(body, list):
            self.statements(body, env)


def _assigned(body: list[Any]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        names.update(getattr(stmt, "targets", None) or ())
        for attr in ("then", "orelse", "body"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list):
                names |= _assigned(inner)
    return {n for n in names if isinstance(n, str)}


def flowchart(block: Block) -> str:
    """The Mermaid source of ``block``'s forward, top to bottom."""
    flow = _Flow(block)
    env: dict[str, _Ref | None] = {name: _Ref(flow.node(name, "stadium")) for name in block.inputs}
    flow.statements(block.body, env)
    return "\n".join(["flowchart TD", *flow.lines, *flow.edges])
