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

from . import catalogue, expressions, initialisers
from .model import Append, Assign, Block, For, If, LayerDef, RepeatDef, Return, Statement, While
from .output import TEMPLATES as TEMPLATE_DIR
from .values import REQUIRED, Tensor

TEMPLATES = Path(TEMPLATE_DIR)  # beside the package in a checkout, inside it in a wheel


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


# A class docstring's lines start 4 columns in; its first line also after the opening quotes.
DOC_WIDTH = 88 - 4
_NO_BREAK = "\xa0"  # stands for a space that wrapping must keep (inside a shape, in a table)


def wrap_prose(text: str, width: int = DOC_WIDTH, first: int = 3, indent: str = "") -> str:
    """``text`` with each line longer than ``width`` broken at spaces, as a person would.

    The author's own line breaks, indentation and characters are kept (only a space where a
    line breaks becomes the break); a continuation line takes its line's indentation plus
    ``indent``. ``first``: columns the first line loses to the opening quotes. A word longer
    than a line is never broken.
    """
    out = []
    for number, line in enumerate(text.split("\n")):
        room = width - (first if number == 0 else 0)
        if len(line) <= room:
            out.append(line)
            continue
        margin = line[: len(line) - len(line.lstrip(" "))]
        words = line[len(margin) :].split(" ")
        current = margin + words[0]
        for word in words[1:]:
            if len(current) + 1 + len(word) <= room or not current.strip():
                current += " " + word
            else:
                out.append(current)
                current, room = margin + indent + word, width
        out.append(current)
    return "\n".join(out)


def _unbroken_groups(text: str) -> str:
    """The spaces inside brackets made unbreakable: a shape ``(1, 3, 12, 12)`` stays on one line."""
    depth, out = 0, []
    for c in text:
        depth += c in "([{"
        depth -= c in ")]}"
        out.append(_NO_BREAK if c == " " and depth > 0 else c)
    return "".join(out)


def class_docstring(block: Block) -> str:
    parts = [wrap_prose(block.doc.strip())]
    documented = [a for a in block.args if a.doc]
    if documented:
        lines = ["Args:"]
        for arg in documented:
            entry = wrap_prose(f"{arg.name}: {' '.join(arg.doc.split())}", DOC_WIDTH - 4, 0, "    ")
            lines += ["    " + line for line in entry.split("\n")]
        parts.append("\n".join(lines))
    parts.append(shape_table(block))
    return docstring_literal("\n\n".join(p for p in parts if p))


def _input_text(name: str, value: Any) -> str:
    if value is None:
        return f"{name} None"
    if isinstance(value, dict):
        bound = f" < {value['high']}" if "high" in value else ""  # token ids: "X (2, 5) long < 28"
        return f"{name} {Tensor(tuple(value['shape']))} {value['dtype']}{bound}"
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
    # A builder's layers are the Sequential it returns: 0, 1, ... (its state_dict keys), not net.0.
    strip = len("net.") if block.kind == "builder" else 0
    rows += [(row.name[strip:], row.output, f"{row.parameters:,}") for row in block.table]
    rows.append(("total", block.output_text, f"{block.total_parameters:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    count_width = max(len(r[2]) for r in rows)
    heading = wrap_prose(_unbroken_groups(f"Shapes for input {inputs}{config}:"), first=0, indent="    ")
    lines = [heading.replace(_NO_BREAK, " "), ""]
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


def layer_source(layer: LayerDef, blocks: dict[str, Block]) -> Call:
    """``nn.Conv2d(1, 6, kernel_size=5, padding=2)``: the book's calling style."""
    if layer.kind == "container":
        children: list[str | Call] = [layer_source(c, blocks) for c in layer.children if isinstance(c, LayerDef)]
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
    if layer.kind == "layer":
        spec = catalogue.LAYERS[layer.type]
        order = [p.name for p in spec.params]
        positional = [p.name for p in spec.params[: spec.positional]]
        # The book passes variables on by position where torch allows it, and says what literals
        # are (nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding) but kernel_size=3):
        # a name that is not a flag continues the positional run.
        for param in spec.params[spec.positional:]:
            tree = layer.args.get(param.name)
            if not isinstance(tree, ast.Name) or param.kind == "bool":
                break
            positional.append(param.name)
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


def _loops(layer: LayerDef, blocks: dict[str, Block], indent: int) -> list[dict[str, Any]]:
    """A container with repeats, as ``layers.append(...)`` lines (in loops) at ``indent`` spaces."""
    loops: list[dict[str, Any]] = []
    for child in layer.children:
        if isinstance(child, RepeatDef):
            loops.append({
                "var": child.var,
                "iterable": expressions.unparse(child.iterable),
                "appends": [Call("layers.append", [layer_source(l, blocks)]).layout(indent + 4) for l in child.layers],
            })
        else:
            loops.append({"var": None, "appends": [Call("layers.append", [layer_source(child, blocks)]).layout(indent)]})
    return loops


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
    if layer.kind == "container" and any(isinstance(c, RepeatDef) for c in layer.children):
        item["container"] = layer.type
        item["loops"] = _loops(layer, blocks, 8)
        return item
    call = layer_source(layer, blocks)
    head = len(f"self.{name} = ")
    if layer.condition is not None:
        value = f"{call} if {expressions.unparse(layer.condition)} else None"
        if 8 + head + len(value) > LINE:  # black's form: the three parts in parentheses
            inner = " " * 12
            value = f"(\n{inner}{call.layout(12)}\n{inner}if {expressions.unparse(layer.condition)}\n{inner}else None\n{' ' * 8})"
        item["value"] = value
    else:
        item["value"] = call.layout(8, head=head)
    return item


# ------------------------------------------------------------------ forward


class _ForwardRenderer:
    def __init__(self, block: Block) -> None:
        self.block = block
        self.counters = 0
        self.indent = 4 if block.kind == "function" else 8  # of the statement being rendered

    def statements(self, body: list[Statement], nested: bool = False) -> list[dict[str, Any]]:
        self.indent += 4 if nested else 0
        try:
            return [self.statement(s) for s in body]
        finally:
            self.indent -= 4 if nested else 0

    def value(self, tree: ast.expr, head: str, tail: str = "") -> str:
        """An expression after ``head`` on its line, split as black splits a call that is too long."""
        flat = expressions.unparse(tree)
        if self.indent + len(head) + len(flat) + len(tail) <= LINE or not isinstance(tree, ast.Call):
            return flat
        args = [expressions.unparse(a) for a in tree.args]
        args += [f"{k.arg}={expressions.unparse(k.value)}" for k in tree.keywords]
        text = Call(expressions.unparse(tree.func), list(args)).layout(self.indent, head=len(head), tail=len(tail))
        # The template indents every line by the statement's depth: continuation lines are relative to it.
        return "\n".join(line[self.indent:] if i else line for i, line in enumerate(text.split("\n")))

    def statement(self, stmt: Statement) -> dict[str, Any]:
        if isinstance(stmt, Assign):
            target = ", ".join(stmt.targets)
            return {"kind": "assign", "target": target, "op": stmt.op, "value": self.value(stmt.value, f"{target} {stmt.op} ")}
        if isinstance(stmt, Append):
            return {"kind": "append", "target": stmt.target, "value": self.value(stmt.value, f"{stmt.target}.append(", ")")}
        if isinstance(stmt, Return):
            return {"kind": "return", "value": self.value(stmt.value, "return ")}
        if isinstance(stmt, If):
            return {"kind": "if", "test": expressions.unparse(stmt.test), "then": self.statements(stmt.then, True), "orelse": self.statements(stmt.orelse, True)}
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
                "body": self.statements(stmt.body, True),
            }
        assert isinstance(stmt, For)
        if isinstance(stmt.iterable, ast.Name) and stmt.over == "modules":
            # The variadic module argument: its modules are the numbered children.
            iterable = "self._modules.values()"
        else:
            iterable = expressions.unparse(stmt.iterable)
        if stmt.index is not None:
            return {"kind": "for", "var": f"{stmt.index}, {stmt.var}", "iterable": f"enumerate({iterable})", "body": self.statements(stmt.body, True)}
        return {"kind": "for", "var": stmt.var, "iterable": iterable, "body": self.statements(stmt.body, True)}


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

    return walk(block.body)


def _shared_shape(block: Block) -> str | None:
    """``shape = <expr>``, when tensors share one whole-shape expression, as the book's BatchNorm computes ``shape`` once."""
    whole = {expressions.unparse(t.shape) for t in block.parameters + block.buffers if not isinstance(t.shape, list)}
    if len(whole) != 1 or any(a.name == "shape" for a in block.args):
        return None
    return f"shape = {whole.pop()}"


def _init_line(line: str, indent: int) -> str:
    """One init statement, split as black splits a call that is too long."""
    if indent + len(line) <= LINE or not line.startswith("nn.init."):
        return line
    tree = ast.parse(line, mode="eval").body
    assert isinstance(tree, ast.Call)
    args = [initialisers.source(a) for a in tree.args] + [f"{k.arg}={initialisers.source(k.value)}" for k in tree.keywords]
    return Call(ast.unparse(tree.func), list(args)).layout(indent)


def _init_rules(block: Block) -> list[dict[str, Any]]:
    """The block's rules, as the tests of one ``for module in self.modules()`` loop."""
    rules = []
    for rule in block.init_rules:
        types = [f"nn.{t}" for t in rule.types]
        test = f"type(module) is {types[0]}" if len(types) == 1 else f"type(module) in ({', '.join(types)})"
        lines = []
        for tensor in ("weight", "bias"):
            if tensor in rule.tensors:
                lines += initialisers.statements(rule.tensors[tensor], f"module.{tensor}")[1]
        rules.append({"test": test, "lines": [_init_line(line, 16) for line in lines]})
    return rules


def _layer_inits(block: Block) -> list[str]:
    """Each layer's own init, in registration order, once every layer is built (as the book's net[0].apply(...))."""
    lines: list[str] = []

    def visit(layer: LayerDef, target: str) -> None:
        for tensor in ("weight", "bias"):
            if tensor in layer.init:
                lines.extend(initialisers.statements(layer.init[tensor], f"{target}.{tensor}")[1])
        if layer.kind == "container" and not any(isinstance(c, RepeatDef) for c in layer.children):
            for index, child in enumerate(layer.children):
                assert isinstance(child, LayerDef)
                visit(child, f"{target}[{index}]")

    for name, layer in block.layers.items():
        visit(layer, f"self.{name}")
    return lines


def signature_text(params: list[str]) -> str:
    return signature(params, 4, "def __init__(", ") -> None:")


def forward_signature(block: Block) -> str:
    """``self, X: torch.Tensor, valid_lens: Optional[torch.Tensor] = None``; a function's arguments follow its inputs."""
    params = [] if block.kind == "function" else ["self"]
    for name in block.inputs:
        kind = "tuple[torch.Tensor, torch.Tensor]" if name in block.pairs else "torch.Tensor"
        params.append(f"{name}: Optional[{kind}] = None" if name in block.optional else f"{name}: {kind}")
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
        "body": _ForwardRenderer(block).statements(block.body),
    }


def builder_context(block: Block, blocks: dict[str, Block]) -> dict[str, Any]:
    """A builder: ``def vgg_block(...) -> nn.Sequential:`` building and returning the Sequential, as the book does."""
    from .analyse import BUILDER_MEMBER

    net = block.layers[BUILDER_MEMBER]
    params = [
        f"{a.name}: {a.annotation}" + ("" if a.default is REQUIRED else f" = {_literal(a.default)}")
        for a in block.args
    ]
    context: dict[str, Any] = {
        "kind": "builder",
        "name": block.name,
        "docstring": class_docstring(block),
        "signature": signature(params, 0, f"def {block.name}(", ") -> nn.Sequential:"),
        "loops": [],
    }
    if any(isinstance(c, RepeatDef) for c in net.children):
        context["loops"] = _loops(net, blocks, 4)
    else:
        context["value"] = layer_source(net, blocks).layout(4, head=len("return "))
    return context


def block_context(block: Block, blocks: dict[str, Block]) -> dict[str, Any]:
    signature: list[str] = ["self"]
    for arg in block.args:
        if arg.variadic:
            signature.append(f"*{arg.name}: nn.Module")
        elif arg.default is REQUIRED:
            signature.append(f"{arg.name}: {arg.annotation}")
        else:
            signature.append(f"{arg.name}: {arg.annotation} = {_literal(arg.default)}")
    tensors = []
    shape_line = _shared_shape(block)
    for buffer, defs in ((False, block.parameters), (True, block.buffers)):
        for t in defs:
            if isinstance(t.shape, list):
                shape = ", ".join(expressions.unparse(d) for d in t.shape)
            else:
                shape = "shape" if shape_line else expressions.unparse(t.shape)
            value, lines = initialisers.statements(t.init, f"self.{t.name}", shape)
            tensors.append({
                "buffer": buffer,
                "name": t.name,
                "name_literal": string_literal(t.name),
                "value": value,
                "init": [_init_line(line, 8) for line in lines],
                "persistent": t.persistent,
                "comment": comment(t.doc),
            })
    if block.kind == "function":
        return function_context(block)
    if block.kind == "builder":
        return builder_context(block, blocks)
    # Attribute types for type checkers, as torch's own modules declare them: a buffer is a Tensor
    # (nn.Module.__getattr__ says Tensor | Module), and the variadic children are never None.
    annotations = [f"{t.name}: torch.Tensor" for t in block.buffers]
    if block.variadic:
        annotations += ["# Only __init__ adds children, and never None.", "_modules: dict[str, nn.Module]  # type: ignore[assignment]"]
    return {
        "kind": "block",
        "constructor": [f"{expressions.unparse(s.target)} = {expressions.unparse(s.value)}" for s in block.constructor],
        "name": block.name,
        "kept": block.kept,
        "forward_signature": forward_signature(block),
        "docstring": class_docstring(block),
        "annotations": annotations,
        "signature": signature_text(signature),
        "shape": shape_line,
        "tensors": tensors,
        "init_rules": _init_rules(block),
        "layer_inits": [_init_line(line, 8) for line in _layer_inits(block)],
        "variadic": block.variadic.name if block.variadic else None,
        "layers": [_layer_item(name, layer, blocks) for name, layer in block.layers.items()],
        "inputs": block.inputs,
        "returns": block.returns,
        "body": _ForwardRenderer(block).statements(block.body),
    }


def render(chain: list[Block], blocks: dict[str, Block]) -> str:
    """The unformatted source of one file: ``chain`` is the block and what it uses."""
    template = environment().get_template("module.py.jinja")
    return template.render(
        blocks=[block_context(b, blocks) for b in chain],
        uses_functional=any(_uses_functional(b) for b in chain),
        uses_optional=any(b.optional for b in chain),
        uses_nn=any(b.kind != "function" for b in chain),  # blocks and builders
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
        value = _literal(given[arg.name])
        args.append(value if arg.default is REQUIRED else f"{arg.name}={value}")
    return f"{block.name}({', '.join(args)})"
