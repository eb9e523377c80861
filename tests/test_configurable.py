"""Configurable-block constructs end to end on small specs of their own (issue 14).

The library blocks in specs/ use most constructs; these specs cover the rest (a str
argument with choices, an assert check, a spec class as a layer-class value) and
check the generated code against the configuration each example chose.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent

POOL = {
    "name": "SelectPool",
    "doc": "Global pooling chosen by name, as timm's SelectAdaptivePool2d chooses it.",
    "args": {
        "pool_type": {"type": "str", "default": "avg", "choices": ["avg", "max"]},
        "flatten": {"type": "bool", "default": False},
    },
    "layers": {
        "pool": {"type": "AdaptiveAvgPool2d", "args": {"output_size": 1}, "if": "pool_type == 'avg'",
                 "else": {"type": "AdaptiveMaxPool2d", "args": {"output_size": 1}}},
        "flat": {"type": "Flatten", "args": {"start_dim": 1}, "if": "flatten", "else": {"type": "Identity"}},
    },
    "forward": {"inputs": ["x"], "body": [{"return": "self.flat(self.pool(x))"}]},
    "examples": [
        {"inputs": {"x": [2, 3, 4, 4]}, "output": [2, 3, 1, 1]},
        {"args": {"pool_type": "max", "flatten": True}, "inputs": {"x": [2, 3, 4, 4]}, "output": [2, 3]},
    ],
}

HEADS = {
    "name": "Heads",
    "doc": "nanoGPT's check: the embedding must split evenly into heads; the norm class is chosen by the caller.",
    "args": {
        "n_embd": {"type": "int"},
        "n_head": {"type": "int"},
        "norm": {"type": "type[nn.Module]", "default": "SelectPool"},
    },
    "checks": [{"assert": "n_embd % n_head == 0", "message": "n_embd must be divisible by n_head"}],
    "derived": {"head_dim": "n_embd // n_head"},
    "layers": {
        "proj": {"type": "Conv2d", "args": {"in_channels": "n_embd", "out_channels": "n_head * head_dim", "kernel_size": 1}},
        "norm": {"type": "norm"},
    },
    "forward": {"inputs": ["x"], "body": [{"return": "self.norm(self.proj(x))"}]},
    "examples": [
        {"args": {"n_embd": 8, "n_head": 2}, "inputs": {"x": [2, 8, 3, 3]}, "output": [2, 8, 1, 1]},
    ],
}


def generate(tmp_path: Path, *specs: dict) -> subprocess.CompletedProcess:
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    for spec in specs:
        stem = "".join("_" + c.lower() if c.isupper() else c for c in spec["name"]).lstrip("_")
        (folder / f"{stem}.json").write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "codegen", "specs", "-o", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_str_argument_chooses_the_layer(tmp_path):
    result = generate(tmp_path, POOL)
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "out" / "select_pool.py").read_text(encoding="utf-8")
    assert 'pool_type: str = "avg"' in source
    assert "nn.AdaptiveAvgPool2d(1) if pool_type == 'avg' else nn.AdaptiveMaxPool2d(1)" in source.replace('"avg"', "'avg'")
    SelectPool = load(tmp_path / "out" / "select_pool.py").SelectPool
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(SelectPool()(x), x.mean((2, 3), keepdim=True))
    assert torch.equal(SelectPool("max", flatten=True)(x), x.amax((2, 3)))


def test_str_argument_outside_its_choices_is_refused(tmp_path):
    bad = json.loads(json.dumps(POOL))
    bad["examples"][1]["args"]["pool_type"] = "avgmax"
    result = generate(tmp_path, bad)
    assert result.returncode == 2
    assert "examples[1].args.pool_type: E323 pool_type must be str in ['avg', 'max']" in result.stderr


def test_assert_check_derived_value_and_spec_class_default(tmp_path):
    result = generate(tmp_path, POOL, HEADS)
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "out" / "heads.py").read_text(encoding="utf-8")
    assert 'assert n_embd % n_head == 0, "n_embd must be divisible by n_head"' in source
    assert "norm: type[nn.Module] = SelectPool" in source
    assert "head_dim = n_embd // n_head" in source
    Heads = load(tmp_path / "out" / "heads.py").Heads
    assert Heads(8, 2)(torch.randn(2, 8, 3, 3)).shape == (2, 8, 1, 1)
    assert isinstance(Heads(8, 4, norm=nn.Identity)(torch.randn(2, 8, 3, 3)), torch.Tensor)
    with pytest.raises(AssertionError, match="n_embd must be divisible by n_head"):
        Heads(8, 3)


def test_an_example_the_assert_refuses(tmp_path):
    bad = json.loads(json.dumps(HEADS))
    bad["examples"][0]["args"]["n_head"] = 3
    result = generate(tmp_path, POOL, bad)
    assert result.returncode == 2
    assert "checks[0]: E412 the constructor refuses this configuration: 'n_embd must be divisible by n_head'" in result.stderr


NANO_LAYER_NORM = json.loads((ROOT / "specs" / "layer_norm.json").read_text(encoding="utf-8"))

PRE_NORM = {
    "name": "PreNorm",
    "doc": "nanoGPT's ln_1 before a projection: the LayerNorm is the spec's, chosen by its bare name.",
    "args": {"n_embd": {"type": "int"}, "bias": {"type": "bool", "default": True}},
    "derived": {"norm": "LayerNorm"},
    "layers": {
        "ln_1": {"type": "norm", "positional": ["n_embd"], "args": {"bias": "bias"}},
        "proj": {"type": "Linear", "args": {"in_features": "n_embd", "out_features": "n_embd", "bias": "bias"}},
    },
    "forward": {"inputs": ["x"], "body": [{"return": "self.proj(self.ln_1(x))"}]},
    "examples": [{"args": {"n_embd": 8}, "inputs": {"x": [2, 3, 8]}, "output": [2, 3, 8]}],
}


def test_spec_named_like_a_torch_layer_is_used_by_its_bare_name(tmp_path):
    result = generate(tmp_path, NANO_LAYER_NORM, PRE_NORM)
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "out" / "pre_norm.py").read_text(encoding="utf-8")
    assert "class LayerNorm(nn.Module):" in source and "nn.LayerNorm" not in source
    assert "self.ln_1 = norm(n_embd, bias=bias)" in source
    PreNorm = load(tmp_path / "out" / "pre_norm.py").PreNorm
    net = PreNorm(8, bias=False)
    assert net.ln_1.bias is None and list(net.state_dict()) == ["ln_1.weight", "proj.weight"]


def test_a_file_may_not_hold_a_spec_and_its_torch_namesake(tmp_path):
    both = json.loads(json.dumps(PRE_NORM))
    both["layers"]["ln_2"] = {"type": "LayerNorm", "args": {"normalized_shape": "n_embd"}}  # torch's
    result = generate(tmp_path, NANO_LAYER_NORM, both)
    assert result.returncode == 2
    assert "pre_norm.json: name: E312 class name 'LayerNorm' is a torch.nn layer that this file also uses" in result.stderr
    # Without the spec's class in the file, a LayerNorm layer is torch's, whatever specs lie beside it.
    alone = json.loads(json.dumps(both))
    del alone["derived"], alone["layers"]["ln_1"]
    alone["forward"]["body"] = [{"return": "self.proj(self.ln_2(x))"}]
    (tmp_path / "specs" / "pre_norm.json").unlink()
    result = generate(tmp_path, NANO_LAYER_NORM, alone)
    assert result.returncode == 0, result.stderr
    assert "self.ln_2 = nn.LayerNorm(n_embd)" in (tmp_path / "out" / "pre_norm.py").read_text(encoding="utf-8")
