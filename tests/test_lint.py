"""Generated files pass the linters and the type checker a user's repository runs on them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codegen import gate
from codegen.errors import SpecError

from .conftest import GENERATED, ROOT, analysed


def test_ruff_finds_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "E,F,W,B,UP", "--line-length", "88", str(GENERATED)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(GENERATED)],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_line_fits_88_columns():
    """ruff spares a comment of one long word; nothing else of ours is long."""
    for path in GENERATED.glob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert len(line) <= 88 or line.startswith("# codegen-"), f"{path.name}:{number}"


@pytest.mark.parametrize(
    "insert, ok",
    [
        ("    rand_weight: torch.Tensor\n", True),
        ("    rand_weight: torch.Tensor = torch.zeros(1)\n", False),  # a value: code at class level
        ("    linear: torch.Tensor\n", False),  # not a buffer
        ("    rand_weight: 'os.system'\n", False),
        ("    rand_weight: torch.Tensor\n    rand_weight: torch.Tensor\n", False),
        ("    _modules: dict[str, nn.Module]\n", False),  # not variadic
        ("    import os\n", False),
    ],
)
def test_gate_allows_only_the_attribute_types_it_wrote(insert, ok):
    block = analysed()["fixed_hidden_mlp"]
    source = (GENERATED / "fixed_hidden_mlp.py").read_text(encoding="utf-8")
    source = source.replace("    rand_weight: torch.Tensor\n", insert, 1)
    if ok:
        gate.check(source, [block], "fixed_hidden_mlp.json")
    else:
        with pytest.raises(SpecError, match="E900"):
            gate.check(source, [block], "fixed_hidden_mlp.json")
