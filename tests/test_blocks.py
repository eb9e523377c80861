"""What this repository asks of every generated file beyond what any user's repository gets.

Each spec's shape (against the example and against codegen's inferred shapes), gradient,
docstring and up-to-date checks are collected by codegen's pytest plugin
(codegen/pytest_plugin.py, turned on in pyproject.toml), as in any repository that uses
codegen; tests/test_pytest_plugin.py tests the plugin. Parametrised over specs/, so a new
spec is tested with no new test code.
"""

from __future__ import annotations

import re

import pytest

from codegen import output, render
from codegen.pytest_plugin import make_input, shape_text  # noqa: F401  (used by test_init.py and test_hostile.py)

from .conftest import GENERATED, STEMS, analysed


def build(stem: str, index: int = 0):
    """The block (or the function, its arguments bound) of example ``index`` of a spec here, and its inputs."""
    from codegen.pytest_plugin import build as build_example

    blocks = analysed()
    return build_example(blocks[stem], index, blocks, GENERATED)


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
    assert imported <= {"torch", "collections", "functools", "math"}, imported  # the standard library and torch only
    assert b"codegen" not in output.split_header(source.encode())[3]
    block = analysed()[stem]
    if block.kind == "function":
        assert re.search(rf"^def {block.name}\(", source, re.MULTILINE)
    elif block.kind == "builder":
        assert re.search(rf"^def {block.name}\([^)]*\) -> nn.Sequential:", source, re.MULTILINE)
    else:
        kind = r"(torch\.Tensor|tuple\[torch\.Tensor, torch\.Tensor\])"
        assert re.search(rf"def forward\(\s*self(,\s*\w+: {kind}( \| None = None)?)+,?\s*\) -> ", source)


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
