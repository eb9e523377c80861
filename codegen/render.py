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
from .gate import is_carried_value
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
    if isinstance(value, list) and value and isinstance(value[0], list):  # a pair: "state ((9, 4, 16), (2, 4, 16))"
        return f"{name} ({', '.join(str(Tensor(tuple(v))) for v in value)})"
    if isinstance(value, dict) and "list" in value:  # a list: "Hs [(2, 32), (2, 32)]"
        return f"{name} [{', '.join(str(Tensor(tuple(v))) for v in value['list'])}]"
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
        # Broken at spaces like a block's heading, so the docstring fits in 88 columns.
        line = wrap_prose(_unbroken_groups(f"Shapes for input {inputs}{config}: output {block.output_text}"), first=0, indent="    ")
        return line.replace(_NO_BREAK, " ")
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


def _first_step_value(node: ast.AST, var: str) -> tuple[str, ast.expr] | None:
    """``(a, b)`` where ``node`` is ``a if <var> == 0 else b``, ``a`` a name and ``b`` a name or a number."""
    if not (isinstance(node, ast.IfExp) and isinstance(node.body, ast.Name) and isinstance(node.orelse, (ast.Name, ast.Constant))):
        return None
    test = node.test
    if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == var
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and type(test.comparators[0].value) is int and test.comparators[0].value == 0):
        return None
    a, b = node.body.id, node.orelse
    if a == var or (isinstance(b, ast.Name) and b.id in (a, var)):
        return None
    return a, b


def _carried(block: Block, repeat: RepeatDef) -> dict[str, ast.expr]:
    """The book's ``in_channels = out_channels`` at the end of a builder's loop, for ``in_channels if i == 0 else out_channels``.

    d2l's vgg_block passes ``in_channels`` to each convolution and then reassigns it.
    That form is emitted, instead of the conditional, for each argument ``a`` of a
    builder whose only uses are ``a if i == 0 else b`` in one loop over ``range(n)``:
    the first step then sees ``a`` and every later step ``b``, as the conditional
    says, and nothing after the loop reads ``a``. ``b`` is another argument or an int or
    float, so assigning it early evaluates nothing that could fail.
    """
    from .analyse import _init_trees

    iterable = repeat.iterable
    if block.kind != "builder" or not (
        isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range" and len(iterable.args) == 1
    ):
        return {}
    found: dict[str, list[ast.expr]] = {}
    for layer in _walk(repeat.layers):
        for tree in layer.args.values():
            for node in ast.walk(tree):
                pair = _first_step_value(node, repeat.var)
                if pair is not None:
                    found.setdefault(pair[0], []).append(pair[1])
    args = {a.name for a in block.args}
    carried: dict[str, ast.expr] = {}
    for a, values in found.items():
        if a not in args or len({ast.dump(v) for v in values}) != 1 or any(isinstance(v, ast.Name) and v.id in found for v in values):
            continue
        if not is_carried_value(values[0], args):  # what the gate admits there, nothing else
            continue
        # Every read of a anywhere in the builder must be one of these conditionals (the repeat's own 'in' included).
        trees = list(_init_trees(block)) + [c.iterable for c in block.layers["net"].children if isinstance(c, RepeatDef)]
        reads = sum(1 for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == a)
        if reads == len(values):
            carried[a] = values[0]
    return carried


def _walk(layers: list[LayerDef]) -> list[LayerDef]:
    found = []
    for layer in layers:
        found.append(layer)
        found.extend(_walk([c for c in layer.children if isinstance(c, LayerDef)]))
    return found


class _FirstStep(ast.NodeTransformer):
    """``a if i == 0 else b`` -> ``a``, for the carried names (see ``_carried``)."""

    def __init__(self, var: str, carried: dict[str, ast.expr]) -> None:
        self.var, self.carried = var, carried

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        pair = _first_step_value(node, self.var)
        if pair is not None and pair[0] in self.carried:
            return ast.Name(pair[0], ast.Load())
        return self.generic_visit(node)


def _carrying(layer: LayerDef, var: str, carried: dict[str, ast.expr]) -> LayerDef:
    """A copy of ``layer`` whose arguments read the carried names plainly."""
    import copy

    layer = copy.deepcopy(layer)
    for item in _walk([layer]):
        item.args = {k: _FirstStep(var, carried).visit(v) for k, v in item.args.items()}
    return layer


def _loops(layer: LayerDef, blocks: dict[str, Block], indent: int, owner: Block | None = None) -> list[dict[str, Any]]:
    """A container with repeats or optional children, as ``layers.append(...)`` lines at ``indent`` spaces
    (in a loop for a repeat, under an ``if`` for an optional child)."""
    loops: list[dict[str, Any]] = []
    for child in layer.children:
        if isinstance(child, RepeatDef):
            carried = _carried(owner, child) if owner is not None else {}
            built = [_carrying(l, child.var, carried) if carried else l for l in child.layers]
            loops.append({
                "var": _loop_var(child.var, _layer_trees(built)),
                "iterable": expressions.unparse(child.iterable),
                "appends": [Call("layers.append", [layer_source(l, blocks)]).layout(indent + 4) for l in built]
                + [f"{a} = {expressions.unparse(b)}" for a, b in carried.items()],
            })
        elif child.condition is not None and child.orelse is None:
            loops.append({
                "var": None,
                "test": expressions.unparse(child.condition),
                "comment": comment(child.doc),
                "appends": [Call("layers.append", [layer_source(child, blocks)]).layout(indent + 4)],
            })
        else:
            loops.append({"var": None, "comment": comment(child.doc), "appends": [Call("layers.append", [chosen_source(child, blocks)]).layout(indent)]})
    return loops


def _layer_item(name: str, layer: LayerDef, blocks: dict[str, Block]) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "comment": comment(layer.doc), "loops": [], "adds": []}
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
        item["loops"] = _loops(layer, blocks, 8)
        return item
    named_at = [i for i, c in enumerate(layer.children) if isinstance(c, LayerDef) and c.name]
    if layer.kind == "container" and named_at:
        # The book's form (d2l's AnyNet): the leading unnamed children in nn.Sequential(...), then
        # add_module for each child from the first named one on (an unnamed one by its position).
        # Analysis allows names only where no child is repeated or optional.
        children = [c for c in layer.children if isinstance(c, LayerDef)]
        first = named_at[0]
        lead: list[str | Call] = [layer_source(c, blocks) for c in children[:first]]
        item["value"] = Call("nn.Sequential", lead).layout(8, head=len(f"self.{name} = "))
        item["adds"] = [
            Call(f"self.{name}.add_module", [string_literal(c.name or str(i)), layer_source(c, blocks)]).layout(8)
            for i, c in enumerate(children) if i >= first
        ]
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

    def statements(self, body: list[Statement], nested: bool = False) -> list[dict[str, Any]]:
        self.indent += 4 if nested else 0
        try:
            return [self.statement(s) for s in body]
        finally:
            self.indent -= 4 if nested else 0

    def nested(self, body: list[Statement]) -> list[dict[str, Any]]:
        return self.statements(body, nested=True)

    def statement(self, stmt: Statement) -> dict[str, Any]:
        # Simple statements are laid out by black's own rules (fit), so black finds them in its layout.
        if isinstance(stmt, Assign):
            target = expressions.unparse(stmt.item) if stmt.item is not None else ", ".join(stmt.targets)
            value = expressions.unparse(stmt.value)
            return {"kind": "assign", "target": target, "op": stmt.op, "value": value, "line": fit(f"{target} {stmt.op} {value}", self.indent)}
        if isinstance(stmt, Append):
            value = expressions.unparse(stmt.value)
            return {"kind": "append", "target": stmt.target, "value": value, "line": fit(f"{stmt.target}.append({value})", self.indent)}
        if isinstance(stmt, Return):
            value = expressions.unparse(stmt.value)
            if isinstance(stmt.value, ast.Tuple) and len(stmt.value.elts) > 1:  # `return outputs, (H, C)`, as people write it
                value = ", ".join(expressions.unparse(item) for item in stmt.value.elts)
            return {"kind": "return", "value": value, "line": fit(f"return {value}", self.indent)}
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
        if isinstance(stmt.iterable, ast.Name) and stmt.over == "modules":
            # The variadic module argument: its modules are the numbered children.
            iterable = "self._modules.values()"
        else:
            iterable = expressions.unparse(stmt.iterable)
        # Whether a loop variable is read: anywhere in the block, not only the body (a name read after
        # the loop keeps its name).
        trees = _trees(self.block)
        var = _loop_var(stmt.var, trees)
        if stmt.index is not None:
            return {"kind": "for", "var": f"{_loop_var(stmt.index, trees)}, {var}", "iterable": f"enumerate({iterable})", "body": self.nested(stmt.body)}
        return {"kind": "for", "var": var, "iterable": iterable, "body": self.nested(stmt.body)}


def _uses_functional(block: Block) -> bool:
    return _uses_name(block, "F")


def method_signature(method: Any) -> str:
    """``self, input: torch.Tensor`` of a method (a pair or a list where the spec says so)."""
    return signature(["self"] + [f"{i}: {method.types.get(i, 'torch.Tensor')}" for i in method.inputs], 4, f"def {method.name}(", f") -> {method.returns}:")


def _trees(block: Block) -> list[ast.expr]:
    """Every expression tree of a block: constructor arithmetic and forward."""
    trees: list[ast.expr] = []
    for tensor in block.parameters + block.buffers:  # a shape is a list of sizes, or one expression of the whole
        trees.extend(tensor.shape if isinstance(tensor.shape, list) else [tensor.shape])

    trees.extend(_layer_trees(list(block.layers.values())))
    trees.extend(_statement_trees(block.body))
    for method in block.methods:  # helper methods (issue 14)
        trees.extend(_statement_trees(method.body))
    return trees


def _statement_trees(body: list[Statement]) -> list[ast.expr]:
    """Every expression tree of forward-style statements, nested ones included."""
    trees: list[ast.expr] = []
    for stmt in body:
        trees.extend(getattr(stmt, attr) for attr in ("value", "test", "iterable", "item") if getattr(stmt, attr, None) is not None)
        for attr in ("then", "orelse", "body"):
            trees.extend(_statement_trees(getattr(stmt, attr, [])))
    return trees


def _layer_trees(items: list[LayerDef] | list[LayerDef | RepeatDef]) -> list[ast.expr]:
    """Every expression tree that builds ``items`` (arguments, conditions, nested children)."""
    trees: list[ast.expr] = []
    for item in items:
        if isinstance(item, RepeatDef):
            trees.append(item.iterable)
            trees.extend(_layer_trees(item.layers))
            continue
        trees.extend([*item.args.values(), *item.positional])
        if item.condition is not None:
            trees.append(item.condition)
        trees.extend(_layer_trees([item.orelse] if item.orelse is not None else []))
        trees.extend(_layer_trees(item.children))
    return trees


def _loop_var(name: str, trees: list[ast.expr]) -> str:
    """``name``, or ``_`` when the loop never reads it: a person writes ``for _ in range(n)`` (ruff's B007)."""
    return name if any(isinstance(n, ast.Name) and n.id == name for tree in trees for n in ast.walk(tree)) else "_"


def _uses_name(block: Block, name: str) -> bool:
    """Whether any expression of ``block`` reads ``name`` (``F``, ``math``): the file imports it then."""
    return any(isinstance(node, ast.Name) and node.id == name for tree in _every_tree(block) for node in ast.walk(tree))


def _every_tree(block: Block) -> list[ast.expr]:
    """Every expression of ``block`` wherever the spec writes it (forward, methods, constructor arithmetic,
    derived values, checks, constructor statements, init steps): what decides the file's imports."""
    from .analyse import _init_trees, _walk_layers

    trees = [*_trees(block), *_init_trees(block)]
    for stmt in block.constructor:
        trees += [stmt.target, stmt.value]
    inits = [t.init for t in block.parameters + block.buffers]
    inits += [init for layer in _walk_layers(block.layers.values()) for init in layer.init.values()]
    inits += [init for rule in block.init_rules for init in rule.tensors.values()]
    for init in inits:
        for step in init.steps:
            trees += [*step.args, *step.keywords.values(), *(t for t in (step.scale, step.value) if t is not None)]
    return trees


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
    # Each argument as it was written: unparsing would requote get_parameter("0.weight") as black would not.
    written = [str(ast.get_source_segment(line, a)) for a in [*tree.args, *(k.value for k in tree.keywords)]]
    args = written[: len(tree.args)] + [f"{k.arg}={text}" for k, text in zip(tree.keywords, written[len(tree.args) :])]
    return Call(ast.unparse(tree.func), args).layout(indent)


def _init_rules(block: Block) -> list[dict[str, Any]]:
    """The block's rules, as the tests of one ``for module in self.modules()`` loop."""
    rules = []
    for rule in block.init_rules:
        # One test per type, as the book's init_cnn writes it (with ==): a type checker narrows
        # `module` by `type(module) is nn.Linear or ...`, not by `type(module) in (...)`.
        test = " or ".join(f"type(module) is nn.{t}" for t in rule.types)
        lines = []
        for tensor in initialisers.TENSORS:
            if tensor in rule.tensors:
                optional = any((t, tensor) in initialisers.OPTIONAL_TYPED for t in rule.types)
                target = f"module.get_parameter({string_literal(tensor)})" if optional else f"module.{tensor}"
                lines += initialisers.statements(rule.tensors[tensor], target)[1]
        rules.append({"test": test, "lines": [_init_line(line, 16) for line in lines]})
    return rules


def _layer_inits(block: Block) -> list[str]:
    """Each layer's own init, in registration order, once every layer is built (as the book's net[0].apply(...)).

    ``self.fc.weight`` where a type checker knows the tensor; otherwise the block's attribute names
    it by its state_dict name, ``self.net.get_parameter("0.weight")``: indexing a container gives
    a plain ``nn.Module`` (whose ``.weight`` is ``Tensor | Module``, and ``[0][1]`` is an error), and
    a convolution's bias is typed ``Tensor | None``. The same Parameter either way: the random
    draws and their order are the book's.
    """
    lines: list[str] = []

    def visit(layer: LayerDef, attribute: str, names: list[str]) -> None:
        for tensor in initialisers.TENSORS:
            if tensor in layer.init:
                if names or (layer.type, tensor) in initialisers.OPTIONAL_TYPED:
                    target = f"{attribute}.get_parameter({string_literal('.'.join([*names, tensor]))})"
                else:
                    target = f"{attribute}.{tensor}"
                lines.extend(initialisers.statements(layer.init[tensor], target)[1])
        if layer.kind == "container" and not any(isinstance(c, RepeatDef) for c in layer.children):
            for index, child in enumerate(layer.children):
                assert isinstance(child, LayerDef)
                visit(child, attribute, [*names, child.key if layer.type == "ModuleDict" else child.name or str(index)])

    for name, layer in block.layers.items():
        visit(layer, f"self.{name}", [])
    return lines


def signature_text(params: list[str]) -> str:
    return signature(params, 4, "def __init__(", ") -> None:")


def forward_signature(block: Block) -> str:
    """``self, X: torch.Tensor, valid_lens: torch.Tensor | None = None``; a function's arguments follow its inputs."""
    params = [] if block.kind == "function" else ["self"]
    for name in block.inputs:
        kind = "tuple[torch.Tensor, torch.Tensor]" if name in block.pairs else "list[torch.Tensor]" if name in block.lists else "torch.Tensor"
        params.append(f"{name}: {kind} | None = None" if name in block.optional else f"{name}: {kind}")
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
        context["loops"] = _loops(net, blocks, 4, owner=block)
    else:
        context["value"] = layer_source(net, blocks).layout(4, head=len("return "))
    return context


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
            signature.append(f"{arg.name}: {arg.annotation}")
        else:
            signature.append(f"{arg.name}: {arg.annotation} = {default_text(arg)}")
    tensors = []
    shape_line = _shared_shape(block)
    for buffer, defs in ((False, block.parameters), (True, block.buffers)):
        for t in defs:
            if isinstance(t.shape, list):
                shape = ", ".join(expressions.unparse(d) for d in t.shape)
            else:
                shape = "shape" if shape_line else expressions.unparse(t.shape)
            value, lines = initialisers.statements(t.init, f"self.{t.name}", shape)
            # An optional tensor (issue 14): `nn.Parameter(...) if bias else None`; its init runs only when it exists.
            otherwise = f" if {expressions.unparse(t.condition)} else None" if t.condition is not None else ""
            init_lines = [_init_line(line, 8) for line in lines]
            if lines and t.condition is not None:
                init_lines = [f"if self.{t.name} is not None:"] + ["    " + _init_line(line, 12) for line in lines]
            tensors.append({
                "buffer": buffer,
                "name": t.name,
                "name_literal": string_literal(t.name),
                "value": value,
                "init": init_lines,
                "condition": expressions.unparse(t.condition) if t.condition is not None else None,
                "persistent": t.persistent,
                "after": t.after,
                "line": fit(
                    f"self.register_buffer({string_literal(t.name)}, {value}{otherwise}{'' if t.persistent else ', persistent=False'})"
                    if buffer else f"self.{t.name} = nn.Parameter({value}){otherwise}",
                    8,
                ),
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
    annotations = {a.annotation for b in chain for a in b.args}
    return template.render(
        blocks=[block_context(b, blocks) for b in chain],
        uses_functional=any(_uses_functional(b) for b in chain),
        uses_callable=any("Callable" in a for a in annotations),  # from collections.abc, as ruff's UP035 asks
        uses_partial=any(_uses_partial(b) for b in chain),
        uses_nn=any(b.kind != "function" for b in chain) or any("nn." in a for a in annotations),  # blocks and builders
        # Blocks and functions type their tensors; a builder (nn.Sequential of layers) may name no torch.
        uses_torch=any(b.kind != "builder" or _uses_torch(b) for b in chain) or any("torch." in a for a in annotations),
        uses_math=any(_uses_name(b, "math") for b in chain),
    )


def _uses_torch(block: Block) -> bool:
    return _uses_name(block, "torch")


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
