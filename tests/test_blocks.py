"""Every spec's generated block, built from its example: shapes, gradients, docstring table.

Parametrised over specs/, so a new spec is tested with no new test code.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from codegen import render

from .conftest import STEMS, analysed, import_generated


def make_input(value) -> torch.Tensor | None:
    """An example input: a shape (float32), None (an optional input left out), or {shape, dtype, high}."""
    if value is None:
        return None
    if isinstance(value, list) and value and isinstance(value[0], list):  # a pair input, e.g. an LSTM's (H, C)
        return tuple(make_input(v) for v in value)
    if isinstance(value, dict):
        if value["dtype"] == "long":
            return torch.randint(0, value.get("high", 2), tuple(value["shape"]))
        if value["dtype"] == "bool":
            return torch.rand(*value["shape"]) < 0.5
        return torch.randn(*value["shape"])
    return torch.randn(*value)


def build(stem: str, index: int = 0) -> tuple[nn.Module, list[torch.Tensor | None]]:
    """The block of example ``index`` and its inputs; for a function spec, the function with the example's arguments bound."""
    import functools

    blocks = analysed()
    block = blocks[stem]
    module = import_generated(stem)
    example = block.examples[index]
    inputs = [make_input(value) for value in example["inputs"].values()]
    if block.kind == "function":
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in example.get("args", {}).items()}
        return functools.partial(getattr(module, block.name), **args), inputs
    by_name = {b.name: b for b in blocks.values()}
    source = render.example_constructor(block, by_name, index)
    namespace = {"nn": nn, "torch": torch, "partial": functools.partial, **vars(module)}
    net = eval(source, namespace)  # source built by the generator from the checked spec
    return net, inputs


def shapes_of(value):
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    return tuple(shapes_of(v) for v in value)


def leaves(value) -> list[torch.Tensor]:
    return [value] if isinstance(value, torch.Tensor) else [t for v in value for t in leaves(v)]


EXAMPLES = [(stem, i) for stem in STEMS for i in range(len(analysed()[stem].examples))]


@pytest.mark.parametrize("stem, index", EXAMPLES, ids=[f"{s}-{i}" for s, i in EXAMPLES])
def test_forward_shape_and_gradients(stem, index):
    from codegen.shapes import ShapeChecker, build_example, example_inputs

    block = analysed()[stem]
    example = block.examples[index]
    net, inputs = build(stem, index)
    if isinstance(net, nn.Module):
        net.train(example.get("training", True))
    floats = [X for X in leaves([X for X in inputs if X is not None]) if X.is_floating_point()]
    for X in floats:
        X.requires_grad_(True)
    # Not the leaves themselves: a block may write into its input, as the book's masked_softmax does.
    output = net(*[X * 1 if X is not None and X.requires_grad else X for X in inputs])
    # The shapes the generator inferred for this example, run again on shapes alone.
    checker = ShapeChecker({b.name: b for b in analysed().values()})
    inst = build_example(checker, block, index)
    expected = checker.run(inst, example_inputs(example), inst.hyper if block.kind == "function" else None)
    assert shapes_of(output) == shapes_of_abstract(expected)
    if example.get("output") is not None:
        assert tuple(output.shape) == tuple(example["output"])
    if not any(t.requires_grad for t in leaves(output)):
        # A constant result (dropout_layer with dropout 1 returns zeros): only a function may give one.
        assert not isinstance(net, nn.Module), "a block's output does not depend on its parameters or inputs"
        return
    sum(t.sum() for t in leaves(output)).backward()
    if isinstance(net, nn.Module):
        for name, param in net.named_parameters():
            assert param.grad is not None, f"{name} got no gradient"
            assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        for name, buffer in net.named_buffers():
            assert buffer.grad is None and not buffer.requires_grad, f"buffer {name} is trained"
    # Some inputs may feed only detached outputs (batch_norm's moving statistics); the others get finite gradients.
    assert not floats or any(X.grad is not None for X in floats)
    for X in floats:
        assert X.grad is None or torch.isfinite(X.grad).all()


def shapes_of_abstract(value):
    from codegen.values import Tensor, TensorList

    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, TensorList):
        value = value.items
    return tuple(shapes_of_abstract(v) for v in value)


def parse_table(doc: str) -> tuple[list[tuple[str, str, int]], tuple[str, int]]:
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == ["layer", "output", "parameters"])
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split()
        if parts[0] == "total":
            return rows, (" ".join(parts[1:-1]), int(parts[-1].replace(",", "")))
        count = int(parts[-1].replace(",", ""))
        rows.append((parts[0], " ".join(parts[1:-1]), count))
    raise AssertionError("no total row")


def shape_text(value) -> str:
    if isinstance(value, torch.Tensor):
        dims = tuple(value.shape)
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
    if isinstance(value, list):  # a list forward built: as codegen.values.TensorList shows it
        texts = [shape_text(v) for v in value]
        return f"[{len(texts)} x {texts[0]}]" if texts and len(set(texts)) == 1 else "[" + ", ".join(texts) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(shape_text(v) for v in value) + ")"
    return repr(value)


@pytest.mark.parametrize("stem", STEMS)
def test_docstring_table_matches_torch(stem):
    """Every figure in the class docstring's table, checked against the real module."""
    if analysed()[stem].kind == "function":
        net, inputs = build(stem)
        doc = getattr(import_generated(stem), analysed()[stem].name).__doc__
        assert doc.rstrip().endswith(f"output {shape_text(net(*inputs))}")
        return
    net, inputs = build(stem)
    block = analysed()[stem]
    # A builder's docstring is the function's; its rows name the returned Sequential's children (0, 1, ...).
    doc = getattr(import_generated(stem), block.name).__doc__ if block.kind == "builder" else type(net).__doc__
    rows, (total_output, total) = parse_table(doc)
    modules = dict(net.named_modules())
    seen: dict[str, list[str]] = {}
    hooks = []
    for name, _, _ in rows:
        if name in modules:
            def record(mod, args, out, name=name):
                text = shape_text(out)
                if text not in seen.setdefault(name, []):
                    seen[name].append(text)
            hooks.append(modules[name].register_forward_hook(record))
    net.eval()
    with torch.no_grad():
        output = net(*inputs)
    assert total_output == shape_text(output)
    for hook in hooks:
        hook.remove()
    for name, output, count in rows:
        if name in modules:
            assert output == (" / ".join(seen[name]) if name in seen else "-"), name
            assert count == sum(p.numel() for p in modules[name].parameters()), name
        else:  # the block's own parameter
            param = dict(net.named_parameters())[name]
            assert output == "-" and count == param.numel()
    assert total == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("stem", STEMS)
def test_generated_file_is_standalone(stem):
    import ast

    from .conftest import GENERATED

    source = (GENERATED / f"{stem}.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"torch", "typing", "functools", "math"}, imported  # the standard library and torch only
    assert "codegen" not in source.split("\n", 3)[3]
    block = analysed()[stem]
    if block.kind == "function":
        assert re.search(rf"^def {block.name}\(", source, re.MULTILINE)
    elif block.kind == "builder":
        assert re.search(rf"^def {block.name}\([^)]*\) -> nn.Sequential:", source, re.MULTILINE)
    else:
        kind = r"(torch\.Tensor|tuple\[torch\.Tensor, torch\.Tensor\])"
        assert re.search(rf"def forward\(\s*self(,\s*\w+: ({kind}|Optional\[{kind}\] = None))+,?\s*\) -> ", source)


@pytest.mark.parametrize("stem", STEMS)
def test_renderer_emits_blacks_layout(stem):
    """black only confirms the renderer's layout: that is what keeps a cold run near black's own cost.

    (Correctness never depends on this: black's output is what is written.)
    """
    from codegen import analyse

    blocks = {b.name: b for b in analysed().values()}
    block = analysed()[stem]
    source = render.render(analyse.dependencies(block, blocks), blocks)
    assert render.format_source(source) == source
