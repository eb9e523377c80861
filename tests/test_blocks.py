"""Every spec's generated block, built from its example: shapes, gradients, docstring table.

Parametrised over specs/, so a new spec is tested with no new test code.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from codegen import output, render

from .conftest import STEMS, analysed, import_generated


def build(stem: str) -> tuple[nn.Module, list[torch.Tensor]]:
    blocks = analysed()
    block = blocks[stem]
    module = import_generated(stem)
    by_name = {b.name: b for b in blocks.values()}
    source = render.example_constructor(block, by_name)
    namespace = {"nn": nn, "torch": torch, **vars(module)}
    net = eval(source, namespace)  # source built by the generator from the checked spec
    inputs = [torch.randn(*shape) for shape in block.example["inputs"].values()]
    return net, inputs


@pytest.mark.parametrize("stem", STEMS)
def test_forward_shape_and_gradients(stem):
    block = analysed()[stem]
    net, inputs = build(stem)
    for X in inputs:
        X.requires_grad_(True)
    output = net(*inputs)
    declared = block.example.get("output")
    expected = tuple(declared) if declared is not None else block.output_shape
    assert tuple(output.shape) == expected
    output.sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    for name, buffer in net.named_buffers():
        assert buffer.grad is None and not buffer.requires_grad, f"buffer {name} is trained"
    for X in inputs:
        assert X.grad is not None and torch.isfinite(X.grad).all()


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
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(shape_text(v) for v in value) + ")"
    return repr(value)


@pytest.mark.parametrize("stem", STEMS)
def test_docstring_table_matches_torch(stem):
    """Every figure in the class docstring's table, checked against the real module."""
    net, inputs = build(stem)
    rows, (total_output, total) = parse_table(type(net).__doc__)
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
    assert imported <= {"torch"}, imported
    assert b"codegen" not in output.split_header(source.encode())[3]
    assert re.search(r"def forward\(self(, \w+: torch\.Tensor)+\) -> ", source)


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
