"""Render: checked blocks -> Python source, through the Jinja templates.

The templates lay out the file and the Python syntax of statements; this
module prepares what fills them. Nothing from a spec reaches a template as
raw text: expressions come from ``ast.unparse`` of checked trees, literals
from ``repr``, names from checked identifiers, and prose (docs) through
``docstring_literal`` and ``comment`` which escape everything that could end
a string or a line.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import catalogue, expressions
from .model import Assign, Block, For, If, LayerDef, RepeatDef, Return, Statement, While
from .values import REQUIRED, Tensor

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2  # lazy: the up-to-date path never renders

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Python, escaped by construction (see module doc)
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates do not change during a run: no stat per render
    )
    env.filters["trim_end"] = str.rstrip
    return env


# ------------------------------------------------------------------ prose


def _escape_char(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable() or char == "\n":
        return char
    code = ord(char)
    if char == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_PLAIN = re.compile(r"[ -\[\]-~\n]*")  # printable ASCII and newlines, without a backslash


def docstring_literal(text: str) -> str:
    """A triple-quoted literal whose value is ``text``, whatever it contains.

    Backslashes and control characters (\\r, \\x0b, \\x0c, \\u2028, NUL, ...)
    become escapes, and no run of three quotes can form, so the literal can
    neither end early nor break a line.
    """
    lines = [line.rstrip() for line in text.strip().split("\n")]
    body = "\n".join(lines)
    if not _PLAIN.fullmatch(body):  # most docs need no escaping at all
        body = "".join(_escape_char(c) for c in body)
    # Escape a quote only where it could help form '"""' or touch the closing quotes.
    if '""' in body or body.endswith('"'):
        body = "".join(
            '\\"' if c == '"' and (i + 1 == len(body) or body[i + 1] == '"') else c
            for i, c in enumerate(body)
        )
    multi = "\n" in body
    return f'"""{body}\n"""' if multi else f'"""{body}"""'


def string_literal(text: str) -> str:
    """``repr``, with the double quotes black would choose, so black has less to change."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        return '"' + literal[1:-1] + '"'
    return literal


def comment(text: str) -> str:
    """A ``# ...`` comment, on one line whatever ``text`` contains."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return "# " + "".join(_escape_char(c) for c in flat)


# ------------------------------------------------------------------ docstring


def class_docstring(block: Block) -> str:
    parts = [block.doc.strip()]
    documented = [a for a in block.args if a.doc]
    if documented:
        lines = ["Args:"]
        for arg in documented:
            lines.append(f"    {arg.name}: {' '.join(arg.doc.split())}")
        parts.append("\n".join(lines))
    parts.append(shape_table(block))
    return docstring_literal("\n\n".join(p for p in parts if p))


def _input_text(name: str, value: Any) -> str:
    if value is None:
        return f"{name} None"
    if isinstance(value, dict):
        return f"{name} {Tensor(tuple(value['shape']))} {value['dtype']}"
    return f"{name} {Tensor(tuple(value))}"


def shape_table(block: Block) -> str:
    inputs = ", ".join(_input_text(name, value) for name, value in block.example["inputs"].items())
    args = block.example.get("args", {})
    config = ""
    if args and block.variadic is None:
        config = " with " + ", ".join(f"{k}={_literal(v)}" for k, v in args.items())
    if block.kind == "function":
        return f"Shapes for input {inputs}{config}: output {block.output_text}"
    rows = [("layer", "output", "parameters")]
    rows += [(row.name, row.output, f"{row.parameters:,}") for row in block.table]
    rows.append(("total", block.output_text, f"{block.total_parameters:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    count_width = max(len(r[2]) for r in rows)
    lines = [f"Shapes for input {inputs}{config}:", ""]
    for name, output, count in rows:
        lines.append(f"    {name.ljust(widths[0])}  {output.ljust(widths[1])}  {count.rjust(count_width)}".rstrip())
    return "\n".join(lines)


def _literal(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


# ------------------------------------------------------------------ __init__


LINE = 88  # black's line length, in black_mode()


class Call:
    """A call to lay out: ``func(args)``, where an argument may be a nested Call.

    ``str()`` gives the one-line form. ``layout`` splits it the way black
    would, so that black finds little left to do: black is most of a cold
    run's cost, and splitting long lines is most of black's.
    """

    def __init__(self, func: str, args: list["str | Call"], brackets: str = "()") -> None:
        self.func = func
        self.args = args
        self.brackets = brackets

    def __str__(self) -> str:
        return f"{self.func}{self.brackets[0]}{', '.join(map(str, self.args))}{self.brackets[1]}"

    def layout(self, indent: int, head: int = 0, tail: int = 0) -> str:
        """This call at ``indent`` spaces, after ``head`` characters and before ``tail`` ones."""
        flat = str(self)
        if indent + head + len(flat) + tail <= LINE or not self.args:
            return flat
        inner = " " * (indent + 4)
        hugged = ", ".join(map(str, self.args))
        open_, close = self.func + self.brackets[0], self.brackets[1]
        if len(inner) + len(hugged) <= LINE:
            return f"{open_}\n{inner}{hugged}\n{' ' * indent}{close}"
        # One argument: black splits inside it and adds no trailing comma.
        comma = "," if len(self.args) > 1 else ""
        lines = [
            inner + (a.layout(indent + 4, tail=len(comma)) if isinstance(a, Call) else a) + comma
            for a in self.args
        ]
        return open_ + "\n" + "\n".join(lines) + f"\n{' ' * indent}{close}"


def chosen_source(layer: LayerDef, blocks: dict[str, Block]) -> "str | Call":
    """A layer, or ``A(...) if <condition> else B(...)`` where an 'else' layer is given."""
    call = layer_source(layer, blocks)
    if layer.condition is None or layer.orelse is None:
        return call
    return f"{call} if {expressions.unparse(layer.condition)} else {layer_source(layer.orelse, blocks)}"


def layer_source(layer: LayerDef, blocks: dict[str, Block]) -> Call:
    """``nn.Conv2d(1, 6, kernel_size=5, padding=2)``: the book's calling style."""
    if layer.kind == "container":
        children: list[str | Call] = [chosen_source(c, blocks) for c in layer.children if isinstance(c, LayerDef)]
        if layer.type == "Sequential":
            return Call("nn.Sequential", children)
        if layer.type == "ModuleDict":
            for child, source in zip(layer.children, children):
                assert isinstance(child, LayerDef) and isinstance(source, Call)
                source.func = f"{string_literal(child.key)}: {source.func}"  # a dict item: "key": nn.Layer(...)
            return Call("nn.ModuleDict", [Call("", children, "{}")])
        return Call("nn.ModuleList", [Call("", children, "[]")])
    values = {name: expressions.unparse(tree) for name, tree in layer.args.items()}
    values.update({name: repr(v) for name, v in layer.inferred.items() if name not in values})
    if layer.kind == "class":  # norm_layer(planes, eps=1e-06): the class is the example's to choose
        return Call(layer.type, [expressions.unparse(v) for v in layer.positional] + [f"{k}={v}" for k, v in values.items()])
    if layer.kind == "layer":
        spec = catalogue.LAYERS[layer.type]
        order = [p.name for p in spec.params]
        positional = [p.name for p in spec.params[: spec.positional]]
        prefix = "nn."
    else:
        target = blocks[layer.type]
        order = [a.name for a in target.args]
        positional = [a.name for a in target.args if a.default is REQUIRED]
        prefix = ""
    args: list[str | Call] = []
    writing_positionally = True
    for name in order:
        if name not in values:
            writing_positionally = False
            continue
        if writing_positionally and name in positional:
            args.append(values[name])
        else:
            writing_positionally = False
            args.append(f"{name}={values[name]}")
    return Call(f"{prefix}{layer.type}", args)


def signature(params: list[str], indent: int, head: str, tail: str) -> str:
    """The text between ``(`` and ``)`` of a def, split as black splits it."""
    flat = ", ".join(params)
    if indent + len(head) + len(flat) + len(tail) <= LINE:
        return flat
    inner = " " * (indent + 4)
    if len(inner) + len(flat) <= LINE:
        return f"\n{inner}{flat}\n{' ' * indent}"
    return "\n" + "".join(f"{inner}{p},\n" for p in params) + " " * indent


def _layer_item(name: str, layer: LayerDef, blocks: dict[str, Block]) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "comment": comment(layer.doc), "loops": []}
    named = layer.children[0] if layer.kind == "container" and len(layer.children) == 1 else None
    if isinstance(named, RepeatDef) and named.prefix:
        # The book's form: an empty container, then add_module(prefix + str(i), ...) per step.
        call = Call(f"self.{name}.add_module", [f"{string_literal(named.prefix)} + str({named.var})", layer_source(named.layers[0], blocks)])
        item["named"] = {
            "container": layer.type,
            "var": named.var,
            "iterable": expressions.unparse(named.iterable),
            "add": call.layout(12),
        }
        return item
    optional = [c for c in layer.children if isinstance(c, LayerDef) and c.condition is not None and c.orelse is None]
    if layer.kind == "container" and (optional or any(isinstance(c, RepeatDef) for c in layer.children)):
        # Built as a list, as torchvision builds a Sequential with optional parts.
        item["container"] = layer.type
        for child in layer.children:
            if isinstance(child, RepeatDef):
                item["loops"].append({
                    "var": child.var,
                    "iterable": expressions.unparse(child.iterable),
                    "appends": [Call("layers.append", [layer_source(l, blocks)]).layout(12) for l in child.layers],
                })
            elif any(child is o for o in optional):
                item["loops"].append({
                    "var": None,
                    "test": expressions.unparse(child.condition),
                    "comment": comment(child.doc),
                    "appends": [Call("layers.append", [layer_source(child, blocks)]).layout(12)],
                })
            else:
                item["loops"].append({
                    "var": None,
                    "comment": comment(child.doc),
                    "appends": [Call("layers.append", [chosen_source(child, blocks)]).layout(8)],
                })
        return item
    call = layer_source(layer, blocks)
    head = len(f"self.{name} = ")
    if layer.condition is not None:
        other = "None" if layer.orelse is None else layer_source(layer.orelse, blocks)
        value = f"{call} if {expressions.unparse(layer.condition)} else {other}"
        if 8 + head + len(value) > LINE and 12 + len(value) <= LINE:  # black's form: in parentheses, on one line
            value = f"(\n{' ' * 12}{value}\n{' ' * 8})"
        elif 8 + head + len(value) > LINE:  # black's form: the three parts in parentheses
            inner = " " * 12
            other_text = other if isinstance(other, str) else other.layout(12, head=5)
            value = f"(\n{inner}{call.layout(12)}\n{inner}if {expressions.unparse(layer.condition)}\n{inner}else {other_text}\n{' ' * 8})"
        item["value"] = value
    else:
        item["value"] = call.layout(8, head=head)
    return item


# ------------------------------------------------------------------ forward


# A slice bound that is more than a name or a number: black spaces its colon (X[:, : X.shape[1]]).
_COMPLEX_SLICE = re.compile(r"[\[,]\s*[^\]\[,:]*[^\w\s\]\[,:][^\]\[,:]*:|:[^\]\[,:]*[^\w\s\]\[,:\-]")


def fit(line: str, indent: int) -> str:
    """A simple statement at ``indent`` spaces, split as black splits it when it is too long.

    Short statements (nearly all) are returned as they are; only a long one
    pays for black here, so that black finds the file already in its layout.
    """
    if indent + len(line) <= LINE and not _COMPLEX_SLICE.search(line):
        return line
    import black

    mode = black.Mode(target_versions={black.TargetVersion.PY311}, line_length=LINE - indent)
    return black.format_str(line + "\n", mode=mode).rstrip("\n")


class _ForwardRenderer:
    def __init__(self, block: Block, indent: int = 8) -> None:
        self.block = block
        self.counters = 0
        self.indent = indent  # of the statements being rendered

    def statements(self, body: list[Statement]) -> list[dict[str, Any]]:
        return [self.statement(s) for s in body]

    def nested(self, body: list[Statement]) -> list[dict[str, Any]]:
        self.indent += 4
        try:
            return self.statements(body)
        finally:
            self.indent -= 4

    def statement(self, stmt: Statement) -> dict[str, Any]:
        if isinstance(stmt, Assign):
            target = expressions.unparse(stmt.item) if stmt.item is not None else ", ".join(stmt.targets)
            return {"kind": "assign", "target": target, "op": stmt.op, "value": expressions.unparse(stmt.value), "line": fit(f"{target} {stmt.op} {expressions.unparse(stmt.value)}", self.indent)}
        if isinstance(stmt, Return):
            return {"kind": "return", "value": expressions.unparse(stmt.value), "line": fit(f"return {expressions.unparse(stmt.value)}", self.indent)}
        if isinstance(stmt, If):
            return {"kind": "if", "test": expressions.unparse(stmt.test), "then": self.nested(stmt.then), "orelse": self.nested(stmt.orelse)}
        if isinstance(stmt, While):
            self.counters += 1
            counter = "steps" if self.counters == 1 else f"steps{self.counters}"
            # Short enough for one line: the bound trips only on non-finite input.
            message = string_literal(f"{self.block.name}: loop exceeded {stmt.max_iterations} iterations")
            return {
                "kind": "while",
                "test": expressions.unparse(stmt.test),
                "counter": counter,
                "max_iterations": stmt.max_iterations,
                "message": message,
                "body": self.nested(stmt.body),
            }
        assert isinstance(stmt, For)
        if isinstance(stmt.iterable, ast.Name):
            # The variadic module argument: its modules are the numbered children.
            iterable = "self._modules.values()"
        else:
            iterable = expressions.unparse(stmt.iterable)
        if stmt.index is not None:
            return {"kind": "for", "var": f"{stmt.index}, {stmt.var}", "iterable": f"enumerate({iterable})", "body": self.nested(stmt.body)}
        return {"kind": "for", "var": stmt.var, "iterable": iterable, "body": self.nested(stmt.body)}


def _uses_functional(block: Block) -> bool:
    def walk(body: list[Statement]) -> bool:
        for stmt in body:
            trees = [getattr(stmt, attr) for attr in ("value", "test", "iterable") if hasattr(stmt, attr)]
            for tree in trees:
                for node in ast.walk(tree):
                    if isinstance(node, ast.Name) and node.id == "F":
                        return True
            for attr in ("then", "orelse", "body"):
                if walk(getattr(stmt, attr, [])):
                    return True
        return False

    return walk(block.body) or any(walk(m.body) for m in block.methods)


def method_signature(method: Any) -> str:
    """``self, input: torch.Tensor`` of a helper method."""
    return signature(["self"] + [f"{i}: torch.Tensor" for i in method.inputs], 4, f"def {method.name}(", f") -> {method.returns}:")


def _trees(block: Block) -> list[ast.expr]:
    """Every expression tree of a block: constructor arithmetic and forward."""
    trees = [d for t in block.parameters + block.buffers for d in t.shape]

    def layers(items: list[LayerDef | RepeatDef]) -> None:
        for layer in items:
            if isinstance(layer, RepeatDef):
                trees.append(layer.iterable)
                layers(list(layer.layers))
                continue
            trees.extend(layer.args.values())
            if layer.condition is not None:
                trees.append(layer.condition)
            layers(layer.children)

    def statements(body: list[Statement]) -> None:
        for stmt in body:
            trees.extend(getattr(stmt, attr) for attr in ("value", "test", "iterable", "item") if getattr(stmt, attr, None) is not None)
            for attr in ("then", "orelse", "body"):
                statements(getattr(stmt, attr, []))

    layers(list(block.layers.values()))
    statements(block.body)
    return trees


def _uses_math(block: Block) -> bool:
    return any(isinstance(node, ast.Name) and node.id == "math" for tree in _trees(block) for node in ast.walk(tree))


def signature_text(params: list[str]) -> str:
    return signature(params, 4, "def __init__(", ") -> None:")


def forward_signature(block: Block) -> str:
    """``self, X: torch.Tensor, valid_lens: Optional[torch.Tensor] = None``; a function's arguments follow its inputs."""
    params = [] if block.kind == "function" else ["self"]
    for name in block.inputs:
        params.append(f"{name}: Optional[torch.Tensor] = None" if name in block.optional else f"{name}: torch.Tensor")
    if block.kind == "function":
        for arg in block.args:
            params.append(f"{arg.name}: {arg.annotation}" + ("" if arg.default is REQUIRED else f" = {_literal(arg.default)}"))
        return signature(params, 0, f"def {block.name}(", f") -> {block.returns}:")
    return signature(params, 4, "def forward(", f") -> {block.returns}:")


def function_context(block: Block) -> dict[str, Any]:
    return {
        "kind": "function",
        "name": block.name,
        "docstring": class_docstring(block),
        "forward_signature": forward_signature(block),
        "returns": block.returns,
        "body": _ForwardRenderer(block, indent=4).statements(block.body),
    }


def annotation_text(annotation: str) -> str:
    """``int | None`` is written ``Optional[int]``, as the libraries (and TorchScript) write it."""
    if annotation.endswith(" | None"):
        return f"Optional[{annotation[: -len(' | None')]}]"
    return annotation


def default_text(arg: Any) -> str:
    if arg.source is not None:  # a layer class: nn.GELU, partial(nn.LayerNorm, eps=1e-06)
        return arg.source
    if isinstance(arg.default, str):
        return string_literal(arg.default)
    return _literal(arg.default)


def _prelude(block: Block) -> list[dict[str, Any]]:
    """__init__'s first statements: 'or' defaults, checks, derived values."""
    lines: list[dict[str, Any]] = []
    for arg in block.args:
        if arg.otherwise is not None:
            lines.append({"kind": "assign", "target": arg.name, "value": f"{arg.name} or {_operand(arg.otherwise)}"})
    for check in block.checks:
        message = string_literal(check.message)  # a literal: the message is data, never formatted
        if check.kind == "raise":
            lines.append({"kind": "raise", "test": expressions.unparse(check.test), "error": check.error, "message": message})
        else:
            lines.append({"kind": "assert", "test": expressions.unparse(check.test), "message": message})
    for item in block.derived:
        lines.append({"kind": "assign", "target": f"self.{item.name}" if item.kept else item.name, "value": expressions.unparse(item.value)})
    return lines


def _operand(tree: ast.expr) -> str:
    """``tree`` as the right operand of ``or``: parenthesised where it binds less tightly."""
    text = expressions.unparse(tree)
    return f"({text})" if isinstance(tree, (ast.BoolOp, ast.IfExp, ast.Lambda)) else text


def block_context(block: Block, blocks: dict[str, Block]) -> dict[str, Any]:
    signature: list[str] = ["self"]
    for arg in block.args:
        if arg.variadic:
            signature.append(f"*{arg.name}: nn.Module")
        elif arg.default is REQUIRED:
            signature.append(f"{arg.name}: {annotation_text(arg.annotation)}")
        else:
            signature.append(f"{arg.name}: {annotation_text(arg.annotation)} = {default_text(arg)}")
    tensors = []
    for buffer, defs in ((False, block.parameters), (True, block.buffers)):
        for t in defs:
            shape = ", ".join(expressions.unparse(d) for d in t.shape)
            value = f"torch.{t.init}({shape})"
            # An optional tensor (issue 14): `nn.Parameter(...) if bias else None`.
            otherwise = f" if {expressions.unparse(t.condition)} else None" if t.condition is not None else ""
            tensors.append({
                "buffer": buffer,
                "name": t.name,
                "name_literal": string_literal(t.name),
                "value": value,
                "condition": expressions.unparse(t.condition) if t.condition is not None else None,
                "persistent": t.persistent,
                "line": fit(
                    f"self.register_buffer({string_literal(t.name)}, torch.{t.init}({shape}){otherwise}{'' if t.persistent else ', persistent=False'})"
                    if buffer else f"self.{t.name} = nn.Parameter(torch.{t.init}({shape})){otherwise}",
                    8,
                ),
                "comment": comment(t.doc),
            })
    if block.kind == "function":
        return function_context(block)
    return {
        "kind": "block",
        "constructor": [fit(f"{expressions.unparse(s.target)} = {expressions.unparse(s.value)}", 8) for s in block.constructor],
        "name": block.name,
        "kept": block.kept,
        "prelude": _prelude(block),
        "methods": [
            {
                "name": m.name,
                "signature": method_signature(m),
                "returns": m.returns,
                "body": _ForwardRenderer(block).statements(m.body),
            }
            for m in block.methods
        ],
        "forward_signature": forward_signature(block),
        "docstring": class_docstring(block),
        "signature": signature_text(signature),
        "tensors": tensors,
        "variadic": block.variadic.name if block.variadic else None,
        "layers": [_layer_item(name, layer, blocks) for name, layer in block.layers.items()],
        "inputs": block.inputs,
        "returns": block.returns,
        "body": _ForwardRenderer(block).statements(block.body),
    }


def render(chain: list[Block], blocks: dict[str, Block]) -> str:
    """The unformatted source of one file: ``chain`` is the block and what it uses."""
    template = environment().get_template("module.py.jinja")
    annotations = {a.annotation for b in chain for a in b.args}
    typing_names = []
    if any("Callable" in a for a in annotations):
        typing_names.append("Callable")
    if any(b.optional for b in chain) or any(a.endswith("| None") for a in annotations):
        typing_names.append("Optional")
    return template.render(
        blocks=[block_context(b, blocks) for b in chain],
        uses_functional=any(_uses_functional(b) for b in chain),
        typing_names=", ".join(typing_names),
        uses_partial=any(_uses_partial(b) for b in chain),
        uses_nn=any(b.kind == "block" for b in chain) or any("nn." in a for a in annotations),
        uses_math=any(_uses_math(b) for b in chain),
    )


def _uses_partial(block: Block) -> bool:
    from .analyse import _init_trees

    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "partial"
        for tree in _init_trees(block) for n in ast.walk(tree)
    )


# ------------------------------------------------------------------ format


@lru_cache(maxsize=1)
def black_mode() -> Any:
    """One Mode object for the run: black caches by mode, and equal-but-new modes miss."""
    import black

    # Fixed, so that the user's black configuration never changes our bytes.
    return black.Mode(target_versions={black.TargetVersion.PY311}, line_length=88)


def format_source(source: str) -> str:
    import black

    return black.format_str(source, mode=black_mode())


def example_constructor(block: Block, blocks: dict[str, Block], index: int = 0) -> str:
    """Source that builds ``block`` as its example number ``index`` configures it, e.g. ``MyLinear(5, 3)``."""
    from . import analyse, expressions

    given = block.examples[index].get("args", {})
    if block.variadic is not None:
        scope = expressions.Scope("init", frozenset())
        layers = [
            analyse._layer(doc, f"{block.example_path(index)}.args.{block.variadic.name}[{i}]", scope, set(blocks))
            for i, doc in enumerate(given.get(block.variadic.name, []))
        ]
        return f"{block.name}({', '.join(str(layer_source(l, blocks)) for l in layers)})"
    args = []
    for arg in block.args:
        if arg.name not in given:
            continue
        if arg.annotation in analyse.CLASS_TYPES:
            value = analyse.class_value(given[arg.name], frozenset(n for n in blocks if n[:1].isupper()), "")[1]
        elif isinstance(given[arg.name], str):
            value = string_literal(given[arg.name])
        else:
            value = _literal(given[arg.name])
        args.append(value if arg.default is REQUIRED else f"{arg.name}={value}")
    return f"{block.name}({', '.join(args)})"
