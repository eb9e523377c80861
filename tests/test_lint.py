"""Generated files pass the linters and the type checker a user's repository runs on them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from codegen import gate, output
from codegen.errors import SpecError

from .conftest import GENERATED, SPECS, analysed


def ruff(paths: list[str], folder: Path = GENERATED) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "E,F,W,B,UP", "--line-length", "88", *paths],
        cwd=folder, capture_output=True, text=True,
    )


def generated_files() -> list[str]:
    files = sorted(p.name for p in GENERATED.glob("*.py"))
    assert len(files) >= 60  # the whole corpus, not an empty glob
    return files


def test_ruff_finds_nothing():
    result = ruff(generated_files())
    assert result.returncode == 0, result.stdout + result.stderr


def mypy(paths: list[str], cache: str, folder: Path = GENERATED) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", cache, "--no-error-summary", *paths],
        cwd=folder, capture_output=True, text=True,
    )


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory) -> str:
    """One cache for the module's mypy runs: torch's stubs are read once (about a minute)."""
    return str(tmp_path_factory.mktemp("mypy") / "cache")


def test_mypy_finds_nothing(mypy_cache):
    result = mypy(generated_files(), mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_line_fits_88_columns():
    """Every line, the header's too: ruff's E501 spares no comment of ours (see the ruff test)."""
    for name in generated_files():
        for number, line in enumerate((GENERATED / name).read_text(encoding="utf-8").splitlines(), 1):
            assert len(line) <= 88, f"{name}:{number}"


def test_a_long_uses_list_is_wrapped_and_read_back():
    """The header's ``codegen-uses=`` list continues on further lines within 88 columns; the
    up-to-date check reads them back joined, and reads a one-line list of older files too."""
    uses = [f"a_rather_long_spec_name_{i}" for i in range(9)]
    text = output.header((SPECS.name, "python -m codegen specs/"), "stem", "0" * 32, "body\n", uses)
    lines = text.splitlines()
    assert all(len(line) <= 88 for line in lines) and sum(line.startswith("# codegen-uses=") for line in lines) == 5  # two names a line
    assert output.split_header((text + "body\n").encode())[2] == ",".join(uses)
    one_line = re.sub(r"\n# codegen-uses=", ",", text).replace(",", "\n# codegen-uses=", 1)
    assert one_line.count("codegen-uses=") == 1 and len(one_line.splitlines()[-1]) > 88
    assert output.split_header((one_line + "body\n").encode())[2] == ",".join(uses)


def fits_or_marked(line: str) -> bool:
    """Within 88 columns, or one word too long for any line with the mark ruff and flake8 honour."""
    if len(line) <= 88:
        return True
    text = line.removesuffix(output.NOQA)
    return text != line and text.startswith("# ") and len(text[2:].split()) == 1 and len(text) > 88


@pytest.mark.parametrize("origin", [(SPECS.name, "python -m codegen specs/"), ("blocks", "python -m codegen blocks/ -o src/nets/")])
def test_headers_of_stems_of_every_length_are_read_back(origin):
    """Whatever the stem's length (up to the 128 characters allowed), the header is recognised as
    ours, names its spec and its uses, and each line fits 88 columns or is one word marked too long."""
    for length in range(1, output.MAX_STEM + 1):
        stem = "s" * length
        used = "u" * length
        text = output.header(origin, stem, "0" * 32, "body\n", sorted([used, "mlp"]))
        data = (text + "body\n").encode()
        assert output.split_header(data) == ("0" * 32, output.short_digest(b"body\n"), ",".join(sorted([used, "mlp"])), b"body\n"), length
        assert output.header_source(data) == output.spec_path_text(origin, stem), length
        assert all(fits_or_marked(line) for line in text.splitlines()), text
        assert (output.NOQA in text) == (length > 88 - len("# codegen-uses=")), length  # only where no wrapping can help


def test_layer_inits_type_check_at_any_depth(tmp_path, mypy_cache):
    """A convolution's bias (typed ``Tensor | None``), layers inside nested containers and update
    steps: the generated init lines pass mypy and ruff, and draw what a hand-written block draws."""
    from .test_init import generate

    spec = {
        "stem": "typed_inits", "name": "TypedInits", "doc": "Layer inits a type checker cannot type by attribute.",
        "init": [{"types": ["Conv2d", "Linear"], "bias": "normal(std=0.1)"}],
        "layers": {
            "conv": {"type": "Conv2d", "args": {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1},
                     "init": {"weight": "kaiming_normal", "bias": "constant(0.5)"}},
            "net": {"type": "Sequential", "layers": [
                {"type": "Sequential", "layers": [
                    {"type": "Conv2d", "args": {"in_channels": 2, "out_channels": 2, "kernel_size": 1}, "init": {"bias": ["ones", "bias *= 2"]}},
                    {"type": "ReLU"},
                ]},
                {"type": "Flatten"},
                {"type": "Sequential", "layers": [
                    {"type": "Linear", "args": {"in_features": 32, "out_features": 8},
                     "init": {"weight": ["uniform(-10, 10)", "weight *= weight.abs() >= 5"], "bias": "zeros"}},
                    {"type": "ReLU"},
                ]},
                {"type": "Linear", "args": {"in_features": 8, "out_features": 2}, "init": {"bias": "ones"}},
            ]},
        },
        "forward": {"inputs": ["X"], "body": [{"return": "self.net(self.conv(X))"}]},
        "example": {"inputs": {"X": [2, 1, 4, 4]}, "output": [2, 2]},
    }
    out = generate(tmp_path, spec)
    source = (out / "typed_inits.py").read_text(encoding="utf-8")
    assert 'nn.init.normal_(module.get_parameter("bias"), std=0.1)' in source
    assert 'nn.init.constant_(self.conv.get_parameter("bias"), 0.5)' in source
    assert 'self.net.get_parameter("0.0.bias").data *= 2' in source
    result = mypy(["typed_inits.py"], mypy_cache, out)
    assert result.returncode == 0, result.stdout + result.stderr
    result = ruff(["typed_inits.py"], out)
    assert result.returncode == 0, result.stdout + result.stderr

    import torch
    from torch import nn

    from .conftest import import_generated

    torch.manual_seed(3)
    block = import_generated("typed_inits", out).TypedInits()
    torch.manual_seed(3)
    conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 2, kernel_size=1), nn.ReLU()), nn.Flatten(), nn.Sequential(nn.Linear(32, 8), nn.ReLU()), nn.Linear(8, 2)
    )
    for layer in (conv, net[0][0], net[2][0], net[3]):  # self.modules() order
        nn.init.normal_(layer.bias, std=0.1)
    nn.init.kaiming_normal_(conv.weight)
    nn.init.constant_(conv.bias, 0.5)
    nn.init.ones_(net[0][0].bias)
    net[0][0].bias.data *= 2
    nn.init.uniform_(net[2][0].weight, -10, 10)
    net[2][0].weight.data *= net[2][0].weight.data.abs() >= 5
    nn.init.zeros_(net[2][0].bias)
    nn.init.ones_(net[3].bias)
    expected = {**{f"conv.{k}": v for k, v in conv.state_dict().items()}, **{f"net.{k}": v for k, v in net.state_dict().items()}}
    assert list(block.state_dict()) == list(expected)
    for key, value in block.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


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
