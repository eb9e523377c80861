"""Which of torch.export, torch.jit.script and torch.compile(fullgraph=True) take a block.

The generator never imports torch, so this is a static prediction from the
analysed forward of the block and of every block it uses; it is not a
measurement. ``tests/test_overview.py`` runs all three on every block of
``specs/`` (as its example builds it) and fails where torch disagrees with
what ``generated/README.md`` states, so each rule here is checked against
torch wherever a spec exercises it.

The rules:

* A test (``if``, ``while``, an if-expression) that reads tensor values is
  data-dependent control flow: torch.export cannot guard on it and
  torch.compile(fullgraph=True) must break the graph. Tests on the
  configuration (``self.conv3 is not None``) and on shapes (``X.shape[0]``)
  are decided while tracing and cost nothing.
* A loop over the variadic modules reads ``self._modules``, which
  TorchScript does not know.
* A statement kind without a rule here makes the verdict "unknown" for all
  three, so that a new construct cannot be reported as working untested.
"""

from __future__ import annotations

import ast
from typing import Any

from .model import Append, Assign, Block, For, If, LayerDef, Return, While

TOOLS = ("torch.export", "torch.jit.script", "torch.compile(fullgraph=True)")
# Calls whose result tracing fixes (the grad mode, a rank, a size), as it fixes X.shape.
STATIC_CALLS = frozenset({"is_grad_enabled", "dim", "size"})
UNKNOWN = "unknown"


def _reads_tensor_values(test: ast.AST, tensors: set[str], settings: frozenset[str] = frozenset()) -> bool:
    """Does deciding ``test`` need a tensor's values (not only its shape, or the configuration)?"""
    if isinstance(test, ast.Attribute):
        if test.attr == "shape":
            return False  # shapes are static under export and compile as traced here
        if isinstance(test.value, ast.Name) and test.value.id == "self":
            return test.attr in tensors  # a parameter or buffer; a layer is only tested against None
        return _reads_tensor_values(test.value, tensors, settings)
    if isinstance(test, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in test.ops):
        return False  # "mask is not None": whether an optional input or layer is there, fixed when tracing
    if isinstance(test, ast.Name):
        # A function's argument (dropout_layer's ``dropout == 1``) is configuration, fixed while tracing;
        # forward's variables and inputs are tensors (or modules, which are never tested).
        return test.id not in settings
    if isinstance(test, ast.Call):
        func = test.func
        if isinstance(func, ast.Attribute) and func.attr in STATIC_CALLS:
            return False  # torch.is_grad_enabled(), X.dim(), X.size(0): fixed while tracing, like a shape
        return True  # a tensor function or method: its result is a tensor
    if isinstance(test, ast.Subscript) and isinstance(test.value, ast.Attribute) and test.value.attr == "shape":
        return _reads_tensor_values(test.slice, tensors, settings)
    return any(_reads_tensor_values(child, tensors, settings) for child in ast.iter_child_nodes(test))


def _if_expressions(tree: ast.AST) -> list[ast.IfExp]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.IfExp)]


def _problems(block: Block) -> dict[str, str]:
    """Tool -> why it cannot take ``block``'s own forward (first reason found); UNKNOWN for a kind without a rule."""
    tensors = {t.name for t in block.parameters} | {t.name for t in block.buffers}
    # A function's non-tensor arguments are plain Python values (a block reads its own as self.<name>).
    settings = frozenset(
        a.name for a in block.args if block.kind == "function" and "Tensor" not in a.annotation and a.name not in block.inputs
    )
    found: dict[str, str] = {}

    def data_dependent(kind: str, test: ast.AST) -> None:
        if _reads_tensor_values(test, tensors, settings):
            why = f"`{block.name}` branches on tensor values (`{kind} {_code(test)}`): data-dependent control flow"
            found.setdefault("torch.export", why)
            found.setdefault("torch.compile(fullgraph=True)", why + ", so the graph breaks")

    def expressions(*trees: Any) -> None:
        for tree in trees:
            if isinstance(tree, ast.AST):
                for node in _if_expressions(tree):
                    data_dependent("if", node.test)

    def walk(body: list[Any]) -> None:
        for stmt in body:
            if isinstance(stmt, (Assign, Return)):
                expressions(stmt.value)
            elif isinstance(stmt, If):
                data_dependent("if", stmt.test)
                expressions(stmt.test)
                walk(stmt.then)
                walk(stmt.orelse)
            elif isinstance(stmt, While):
                data_dependent("while", stmt.test)
                expressions(stmt.test)
                walk(stmt.body)
            elif isinstance(stmt, Append):
                expressions(stmt.value)  # a list built in forward: all three take it
            elif isinstance(stmt, For):
                variadic = block.variadic
                if variadic is not None and isinstance(stmt.iterable, ast.Name) and stmt.iterable.id == variadic.name:
                    found.setdefault(
                        "torch.jit.script",
                        f"`{block.name}` loops over the modules given as `*{stmt.iterable.id}` "
                        "(`self._modules.values()`), and TorchScript has no `self._modules`",
                    )
                walk(stmt.body)
            else:
                for tool in TOOLS:  # a known reason outranks it
                    found.setdefault(tool, f"{UNKNOWN}: no rule for the `{type(stmt).__name__}` statement")

    walk(block.body)
    recurrent = sorted(_layer_types(block.layers.values()) & RECURRENT)
    if recurrent:
        found.setdefault(
            "torch.compile(fullgraph=True)",
            f"`{block.name}` holds `nn.{recurrent[0]}`, which TorchDynamo does not trace (its `allow_rnn` is off by default)",
        )
    return found


RECURRENT = frozenset({"RNN", "GRU", "LSTM"})


def _layer_types(layers: Any) -> set[str]:
    """The catalogue layer types among ``layers`` and their children, repeats included."""
    found: set[str] = set()
    for layer in layers:
        if isinstance(layer, LayerDef):
            if layer.kind == "layer":
                found.add(layer.type)
            found |= _layer_types(layer.children)
        else:  # a repeat
            found |= _layer_types(getattr(layer, "layers", []))
    return found


def _code(tree: ast.AST) -> str:
    """Inline code: names, numbers and operators only (see ``diagram.expression_text``), so never a backtick."""
    from .diagram import expression_text

    return expression_text(tree).replace("`", "?")


def predict(block: Block, blocks: dict[str, Block]) -> dict[str, str | None]:
    """Tool -> None where it works, else the reason (or ``unknown: ...``), for ``block`` with the blocks it uses."""
    verdict: dict[str, str | None] = dict.fromkeys(TOOLS)
    seen: set[str] = set()
    order = [block.name]
    while order:  # the block first, then what it uses: its own reasons are the ones named
        name = order.pop(0)
        if name in seen or name not in blocks:
            continue
        seen.add(name)
        for tool, why in _problems(blocks[name]).items():
            now = verdict[tool]
            if now is None or now.startswith(UNKNOWN) and not why.startswith(UNKNOWN):
                verdict[tool] = why  # a known reason outranks an unknown
        order += sorted(blocks[name].uses)
    return verdict
