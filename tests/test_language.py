"""The forward language of attention blocks, end to end: specs built here are
generated, imported and run with torch, and what the analyser refuses is
refused with a clear code before anything is written.

Covered: subscripts and slices (``X[:, 0]``, ``X[..., :k]``, ``X[:, None, :]``,
index tensors), subscript assignment (``X[~mask] = -1e6``), ``~ & |`` and
comparisons giving bool tensors, ``torch.float32/long/bool``, ``math.*``,
``len/int/float``, ``.T``, ``.device``, the functions and methods added for
attention, lazy layers, and ``int``/``round``/``math.*`` in constructor
arithmetic. The shape rules themselves are checked against torch in
tests/test_catalogue.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from .conftest import SPECS, import_generated


def spec(name: str, body: list[dict], inputs: dict[str, list[int]], layers: dict | None = None, args: dict | None = None,
         example_args: dict | None = None) -> dict:
    doc: dict[str, Any] = {"name": name, "doc": f"{name}: a probe of the forward language."}
    if args:
        doc["args"] = args
    if layers:
        doc["layers"] = layers
    doc["forward"] = {"inputs": list(inputs), "body": body}
    doc["example"] = {"inputs": inputs}
    if example_args:
        doc["example"]["args"] = example_args
    return doc


def generate(tmp_path: Path, docs: dict[str, dict]) -> tuple[int, str]:
    from codegen.__main__ import main

    (tmp_path / "specs").mkdir(exist_ok=True)
    for stem, doc in docs.items():
        (tmp_path / "specs" / f"{stem}.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1"])
    return code, err.getvalue()


def built(tmp_path: Path, stem: str, doc: dict) -> tuple[Any, str]:
    code, err = generate(tmp_path, {stem: doc})
    assert code == 0, err
    return import_generated(stem, tmp_path / "out"), (tmp_path / "out" / f"{stem}.py").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- accepted, and equal to torch


def book_masked_softmax(X: torch.Tensor, valid_lens: torch.Tensor) -> torch.Tensor:
    """d2l's masked_softmax (3-d X, 1-d valid_lens), as the book writes it."""
    shape = X.shape
    valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    X = X.reshape(-1, shape[-1])
    maxlen = X.size(1)
    mask = torch.arange((maxlen), dtype=torch.float32, device=X.device)[None, :] < valid_lens[:, None]
    X[~mask] = -1e6
    return nn.functional.softmax(X.reshape(shape), dim=-1)


MASKED_SOFTMAX = spec(
    "MaskedSoftmax",
    [
        {"assign": "shape", "value": "X.shape"},
        {"assign": "valid_lens", "value": "torch.arange(1, shape[0] + 1)"},
        {"assign": "valid_lens", "value": "torch.repeat_interleave(valid_lens, shape[1])"},
        {"assign": "X", "value": "X.reshape(-1, shape[-1])"},
        {"assign": "maxlen", "value": "X.size(1)"},
        {"assign": "mask", "value": "torch.arange(maxlen, dtype=torch.float32, device=X.device)[None, :] < valid_lens[:, None]"},
        {"assign": "X[~mask]", "value": "-1e6"},
        {"return": "F.softmax(X.reshape(shape), dim=-1)"},
    ],
    {"X": [2, 3, 4]},
)


def test_masked_softmax_as_the_book_writes_it(tmp_path):
    module, source = built(tmp_path, "masked_softmax", MASKED_SOFTMAX)
    assert "        X[~mask] = -1000000.0\n" in source
    assert "torch.arange(maxlen, dtype=torch.float32, device=X.device)[None, :]" in source
    assert "< valid_lens[:, None]" in source
    X = torch.randn(2, 3, 4)
    ours = module.MaskedSoftmax()(X.clone())
    assert torch.equal(ours, book_masked_softmax(X.clone(), torch.arange(1, 3)))
    assert ours.shape == (2, 3, 4)


INDEXING = spec(
    "Indexing",
    [
        {"assign": "first", "value": "X[:, 0]"},
        {"assign": "head", "value": "X[..., :2]"},
        {"assign": "wide", "value": "first[:, None, :]"},
        {"assign": "rows", "value": "X[torch.arange(X.shape[0] - 1), 1:]"},
        {"assign": "scores", "value": "torch.bmm(X, X.transpose(1, 2)) / math.sqrt(X.shape[-1])"},
        {"assign": "keep", "value": "(scores > 0) & ~(scores > 2.5) | (scores < -1)"},
        {"assign": "scores", "value": "scores.masked_fill(~keep, -1e6)"},
        {"assign": "weights", "value": "F.softmax(scores, dim=-1)"},
        {"assign": "picked", "value": "torch.where(keep, weights, torch.zeros_like(weights))"},
        {"assign": "angle", "value": "torch.sin(math.pi * head) + torch.cos(head) * torch.exp(-head) + torch.pow(head, 2)"},
        {"assign": "gated", "value": "torch.sigmoid(angle) * torch.tanh(angle) + F.gelu(angle)"},
        {"assign": "count", "value": "keep.sum().float() / len(X) + float(X.dim()) + int(X.size(-1))"},
        {"assign": "stacked", "value": "torch.stack((gated, head), dim=0).permute(1, 0, 2, 3).flatten(1, 2)"},
        {"assign": "tokens", "value": "self.proj(X.contiguous().view(X.shape[0], -1)).unsqueeze(1).expand(-1, 3, -1).squeeze(0)"},
        {"assign": "fill", "value": "torch.full((1, 1), 0.5) + torch.ones(1, 1) - torch.zeros(1, 1) + torch.ones_like(count)"},
        {"assign": "labels", "value": "(X[:, :, 0] > 0).to(torch.long).type(torch.float32).T"},
        {"return": "(picked.sum() + count + fill.sum() + labels.sum() + wide.sum() + rows.sum() + tokens.sum()) * stacked"},
    ],
    {"X": [2, 3, 4]},
    layers={"proj": {"type": "Linear", "args": {"in_features": "12", "out_features": "k"}}},
    args={"k": {"type": "int", "default": 2}},
)


def reference_indexing(X: torch.Tensor, proj: nn.Module, k: int = 2) -> torch.Tensor:
    first = X[:, 0]
    head = X[..., :k]
    wide = first[:, None, :]
    rows = X[torch.arange(X.shape[0] - 1), 1:]
    scores = torch.bmm(X, X.transpose(1, 2)) / math.sqrt(X.shape[-1])
    keep = (scores > 0) & ~(scores > 2.5) | (scores < -1)
    scores = scores.masked_fill(~keep, -1e6)
    weights = F.softmax(scores, dim=-1)
    picked = torch.where(keep, weights, torch.zeros_like(weights))
    angle = torch.sin(math.pi * head) + torch.cos(head) * torch.exp(-head) + torch.pow(head, 2)
    gated = torch.sigmoid(angle) * torch.tanh(angle) + F.gelu(angle)
    count = keep.sum().float() / len(X) + float(X.dim()) + int(X.size(-1))
    stacked = torch.stack((gated, head), dim=0).permute(1, 0, 2, 3).flatten(1, 2)
    tokens = proj(X.contiguous().view(X.shape[0], -1)).unsqueeze(1).expand(-1, 3, -1).squeeze(0)
    fill = torch.full((1, 1), 0.5) + torch.ones(1, 1) - torch.zeros(1, 1) + torch.ones_like(count)
    labels = (X[:, :, 0] > 0).to(torch.long).type(torch.float32).T
    return (picked.sum() + count + fill.sum() + labels.sum() + wide.sum() + rows.sum() + tokens.sum()) * stacked


def test_indexing_operators_and_functions_run_as_written(tmp_path):
    module, source = built(tmp_path, "indexing", INDEXING)
    assert source.startswith("# Generated") and "\nimport math\n\nimport torch\n" in source
    net = module.Indexing()
    X = torch.randn(2, 3, 4)
    ours = net(X)
    assert torch.equal(ours, reference_indexing(X, net.proj))
    from codegen.generate import analyse_folder

    assert analyse_folder(tmp_path / "specs")["indexing"].output_shape == tuple(ours.shape)


def test_F_used_only_in_an_assignment_target_is_imported(tmp_path):
    module, source = built(tmp_path, "relu_mask", spec("ReluMask", [{"assign": "X[F.relu(X) > 0]", "value": "0.0"}, {"return": "X"}], {"X": [2, 3]}))
    assert "from torch.nn import functional as F\n" in source
    X = torch.randn(2, 3)
    assert torch.equal(module.ReluMask()(X.clone()), X.clamp(max=0))


def test_math_is_imported_only_when_used(tmp_path):
    _, source = built(tmp_path, "plain", spec("Plain", [{"return": "X[:, 0]"}], {"X": [2, 3]}))
    assert "import math" not in source


def test_math_used_only_in_a_derived_value_is_imported(tmp_path):
    """The file's imports come from every expression the spec writes: math in a derived value was
    missed once (forward and layer arguments were all that was looked at), a NameError at build."""
    doc = spec(
        "Scaled", [{"return": "self.fc(X)"}], {"X": [2, 4]},
        layers={"fc": {"type": "Linear", "args": {"in_features": 4, "out_features": "width"}}},
        args={"n": {"type": "int"}}, example_args={"n": 16},
    )
    doc["derived"] = {"width": "int(math.sqrt(n))"}
    module, source = built(tmp_path, "scaled", doc)
    assert "import math\n" in source
    assert module.Scaled(16)(torch.zeros(2, 4)).shape == (2, 4)


def test_an_else_layer_counts_for_imports_and_uses(tmp_path):
    """An "else" layer's arguments and type count like the "if" layer's: math only there was not
    imported (a NameError when the else branch was built), and a spec block only there was not
    included in the file."""
    doc = {
        "name": "OrElse", "doc": "A layer chosen by a flag.",
        "args": {"n": {"type": "int", "default": 8}, "wide": {"type": "bool", "default": True}},
        "layers": {
            "fc": {"if": "wide", "type": "Linear", "args": {"in_features": 4, "out_features": 4},
                   "else": {"type": "Linear", "args": {"in_features": 4, "out_features": "math.ceil(n / 2)"}}},
            "act": {"if": "wide", "type": "ReLU", "else": {"type": "CenteredLayer"}},
        },
        "forward": {"inputs": ["X"], "body": [{"return": "self.act(self.fc(X))"}]},
        "examples": [{"inputs": {"X": [3, 4]}}, {"args": {"wide": False}, "inputs": {"X": [3, 4]}}],
    }
    centered = json.loads((SPECS / "centered_layer.json").read_text(encoding="utf-8"))
    code, err = generate(tmp_path, {"or_else": doc, "centered_layer": centered})
    assert code == 0, err
    source = (tmp_path / "out" / "or_else.py").read_text(encoding="utf-8")
    assert "import math\n" in source and "class CenteredLayer(nn.Module):" in source
    module = import_generated("or_else", tmp_path / "out")
    assert module.OrElse(8, wide=False)(torch.zeros(3, 4)).shape == (3, 4)
    assert module.OrElse(8)(torch.zeros(3, 4)).shape == (3, 4)


def test_a_child_may_be_named_l(tmp_path):
    """A Sequential child's name is only ever a string (add_module("l", ...)), never a variable, so
    the ambiguous-name rule (E319) leaves it alone; ruff finds nothing to flag."""
    doc = spec(
        "Named", [{"return": "self.net(X)"}], {"X": [2, 4]},
        layers={"net": {"type": "Sequential", "layers": [
            {"type": "Linear", "args": {"in_features": 4, "out_features": 8}},
            {"name": "l", "type": "Linear", "args": {"in_features": 8, "out_features": 2}},
        ]}},
    )
    module, source = built(tmp_path, "named", doc)
    assert 'add_module("l", nn.Linear(8, 2))' in source
    assert [k for k, _ in module.Named().named_parameters()] == ["net.0.weight", "net.0.bias", "net.l.weight", "net.l.bias"]


def test_a_named_child_is_initialised_by_its_name(tmp_path):
    """A named child's init goes to its own name (get_parameter("out.weight")), not its position
    ("1.weight", which add_module never made: an AttributeError when the block was built)."""
    doc = spec(
        "NamedInit", [{"return": "self.net(X)"}], {"X": [2, 4]},
        layers={"net": {"type": "Sequential", "layers": [
            {"type": "Linear", "args": {"in_features": 4, "out_features": 8}},
            {"name": "out", "type": "Linear", "args": {"in_features": 8, "out_features": 2}, "init": {"weight": "zeros", "bias": "ones"}},
        ]}},
    )
    module, source = built(tmp_path, "named_init", doc)
    assert 'get_parameter("out.weight")' in source
    net = module.NamedInit()
    assert torch.equal(net.net.out.weight, torch.zeros(2, 8)) and torch.equal(net.net.out.bias, torch.ones(2))


def test_a_list_is_passed_on_as_a_list(tmp_path):
    """A list input, or a list built in forward, reaches a method's or a block's list input as a
    list (it was flattened to a tuple of tensors for every call, so E406 refused it)."""
    first = {
        "name": "First", "doc": "The first of a list, through a helper.",
        "methods": {"_first": {"inputs": [{"name": "Zs", "type": "list[torch.Tensor]"}], "body": [{"return": "Zs[0]"}]}},
        "forward": {"inputs": ["X", {"name": "Hs", "type": "list[torch.Tensor]"}], "body": [{"return": "X + self._first(Hs)"}]},
        "example": {"inputs": {"X": [2], "Hs": {"list": [[2]]}}},
    }
    outer = {
        "name": "Outer", "doc": "Passes a list it builds to a block.",
        "layers": {"first": {"type": "First"}},
        "forward": {"inputs": ["X"], "body": [
            {"assign": "Hs", "value": "[]"},
            {"append": "Hs", "value": "X * 3"},
            {"return": "self.first(X, Hs)"},
        ]},
        "example": {"inputs": {"X": [2]}},
    }
    code, err = generate(tmp_path, {"first": first, "outer": outer})
    assert code == 0, err
    module = import_generated("outer", tmp_path / "out")
    assert torch.equal(module.Outer()(torch.ones(2)), torch.full((2,), 4.0))


def test_variadic_sizes_by_keyword(tmp_path):
    """x.repeat(repeats=(2, 1)) and x.permute(dims=(1, 0)), as torch takes them: the sizes by keyword
    ("got 'repeats' twice" before)."""
    doc = spec("Tiled", [{"return": "X.repeat(repeats=(2, 1)).permute(dims=(1, 0))"}], {"X": [2, 3]})
    doc["example"]["output"] = [3, 4]
    module, source = built(tmp_path, "tiled", doc)
    X = torch.randn(2, 3)
    assert torch.equal(module.Tiled()(X), X.repeat(2, 1).permute(1, 0))


def test_strings_in_forward_compare_and_pass_by_keyword(tmp_path):
    """A str argument (with choices) is compared in forward as libraries do (self.mode == "avg"), and a
    string goes to a catalogued keyword (F.gelu(X, approximate="tanh")); both examples take an arm each."""
    doc = {
        "name": "Pool", "doc": "Pooling chosen by a string.",
        "args": {"mode": {"type": "str", "default": "avg", "choices": ["avg", "sum"]}},
        "forward": {"inputs": ["X"], "body": [
            {"if": "self.mode == 'avg'", "then": [{"return": "F.gelu(X.mean(dim=1), approximate='tanh')"}],
             "else": [{"return": "X.sum(dim=1)"}]},
        ]},
        "examples": [{"inputs": {"X": [2, 3]}}, {"args": {"mode": "sum"}, "inputs": {"X": [2, 3]}}],
    }
    module, source = built(tmp_path, "pool", doc)
    assert 'if self.mode == "avg":' in source and 'F.gelu(X.mean(dim=1), approximate="tanh")' in source
    X = torch.randn(2, 3)
    assert torch.equal(module.Pool()(X), F.gelu(X.mean(dim=1), approximate="tanh"))
    assert torch.equal(module.Pool("sum")(X), X.sum(dim=1))
    scripted = torch.jit.script(module.Pool("sum"))
    assert torch.equal(scripted(X), X.sum(dim=1))
    doc["examples"] = doc["examples"][:1]  # the "sum" arm is never taken: refused, as every untested arm is
    (tmp_path / "one").mkdir()
    code, err = generate(tmp_path / "one", {"pool": doc})
    assert code == 2 and "E409" in err, err


class _ScaleAfterLinear(nn.Module):
    """Hand-written: the layer first, then a randomly drawn parameter (its draw comes second)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.randn(3))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.fc(X) * self.scale


@pytest.mark.parametrize("after", [True, False])
def test_after_puts_a_parameter_s_draw_after_its_layer(tmp_path, after):
    """"after" changes when a parameter is made, so when it draws: with it, a seeded block equals code
    that makes the parameter after its layer; without it the parameter draws first and differs.
    state_dict() lists a module's own tensors first either way."""
    scale: dict[str, Any] = {"shape": [3], "init": "randn"}
    if after:
        scale["after"] = "fc"
    doc = spec(
        "ScaleAfterLinear", [{"return": "self.fc(X) * self.scale"}], {"X": [2, 4]},
        layers={"fc": {"type": "Linear", "args": {"in_features": 4, "out_features": 3}}},
    )
    doc["parameters"] = {"scale": scale}
    module, _ = built(tmp_path, "scale_after_linear", doc)
    torch.manual_seed(0)
    ours = module.ScaleAfterLinear()
    torch.manual_seed(0)
    reference = _ScaleAfterLinear()
    assert list(ours.state_dict()) == list(reference.state_dict()) == ["scale", "fc.weight", "fc.bias"]
    same = all(torch.equal(ours.state_dict()[k], v) for k, v in reference.state_dict().items())
    assert same == after


def test_lazy_layers_count_what_torch_materialises(tmp_path):
    doc = spec(
        "LazyStem",
        [{"return": "self.out(self.bn(self.conv(X)).flatten(1))"}],
        {"X": [2, 3, 8, 8]},
        layers={
            "conv": {"type": "LazyConv2d", "args": {"out_channels": "channels", "kernel_size": 3, "padding": 1}},
            "bn": {"type": "LazyBatchNorm2d"},
            "out": {"type": "LazyLinear", "args": {"out_features": 10}},
        },
        args={"channels": {"type": "int"}},
        example_args={"channels": 4},
    )
    module, source = built(tmp_path, "lazy_stem", doc)
    assert "nn.LazyConv2d(channels, kernel_size=3, padding=1)" in source and "nn.LazyLinear(10)" in source
    net = module.LazyStem(4)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    counts = {name: sum(p.numel() for p in layer.parameters()) for name, layer in net.named_children()}
    total = sum(counts.values())
    rows = {line.split()[0]: line.split()[-1] for line in source.splitlines() if line.split()[:1] in (["conv"], ["bn"], ["out"], ["total"])}
    assert {name: rows[name] for name in counts} == {name: f"{count:,}" for name, count in counts.items()}
    assert rows["total"] == f"{total:,}" == "2,690"


def test_int_round_and_math_in_constructor_arithmetic(tmp_path):
    doc = spec(
        "Widths",
        [{"return": "self.out(F.relu(self.hidden(X)))"}],
        {"X": [2, 16]},
        layers={
            "hidden": {"type": "Linear", "args": {"in_features": "d", "out_features": "int(math.sqrt(d)) * round(ratio * 2)"}},
            "out": {"type": "Linear", "args": {"in_features": "int(math.sqrt(d)) * round(ratio * 2)", "out_features": "math.floor(math.log(d, 2))"}},
        },
        args={"d": {"type": "int"}, "ratio": {"type": "float", "default": 1.5}},
        example_args={"d": 16},
    )
    module, source = built(tmp_path, "widths", doc)
    assert "nn.Linear(d, int(math.sqrt(d)) * round(ratio * 2))" in source
    net = module.Widths(16)
    assert net.hidden.out_features == 4 * 3 and net.out.out_features == 4
    assert net(torch.randn(2, 16)).shape == (2, 4)


# ---------------------------------------------------------------------------- refused, with a clear code


def refused(tmp_path: Path, body: list[dict], inputs: dict | None = None, **extra: Any) -> str:
    doc = spec("Probe", body, inputs or {"X": [2, 3]}, **extra)
    code, err = generate(tmp_path, {"probe": doc})
    assert code == 2, err
    assert not (tmp_path / "out" / "probe.py").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "probe.json" in lines[0], err
    return lines[0]


REFUSED = [
    # dtypes, checked statically
    ("invert_float", [{"return": "~X"}], "forward.body[0].return: E401 unary ~: expected a bool tensor for ~"),
    ("and_float", [{"return": "(X > 0) & X"}], "E401 &: expected bool or integer operands for &"),
    ("mask_float", [{"return": "X.masked_fill(X, 0.0)"}], "E401 masked_fill: expected a bool mask, found a tensor of shape (2, 3)"),
    ("where_float", [{"return": "torch.where(X, X, 0.0)"}], "E401 torch.where: expected a bool condition"),
    ("linear_bool", [{"return": "self.fc(X > 0)"}], "E401 nn.Linear: expected a floating-point input"),
    ("softmax_long", [{"return": "F.softmax(torch.arange(3), dim=0)"}], "E401 F.softmax: expected a floating-point tensor"),
    ("subtract_mask", [{"return": "X - (X > 0)"}], "E401 -: expected no bools in a subtraction"),
    ("inplace_dtype", [{"assign": "Y", "value": "torch.arange(3)"}, {"assign": "Y", "op": "+=", "value": "0.5"}, {"return": "X"}],
     "E401 in-place += would change Y's dtype from long to float"),
    # indexing
    ("index_range", [{"return": "X[:, 3]"}], "E401 indexing: expected an index in [-3, 2] for dim 1 of (2, 3), found 3"),
    ("index_too_many", [{"return": "X[0, 0, 0]"}], "E401 indexing: expected at most 2 indexed dims"),
    ("index_float", [{"return": "X[X]"}], "E401 indexing: expected index tensors of dtype long or bool"),
    ("index_mask_read", [{"return": "X[X > 0]"}], "E401 indexing: expected no bool mask when reading"),
    ("index_step", [{"return": "X[::-1]"}], "E401 indexing: expected a positive slice step, found -1"),
    ("index_layer", [{"return": "self.fc[0]"}], "E401 cannot index the layer at layers.fc"),
    ("ellipsis_twice", [{"return": "X[..., 0, ...]"}], "E401 indexing: expected at most one ... in an index"),
    ("assign_value_shape", [{"assign": "X[0]", "value": "torch.ones(2)"}, {"return": "X"}],
     "forward.body[0]: E401 assignment: expected a value that broadcasts to the indexed shape (3)"),
    ("assign_mask_shape", [{"assign": "X[X[:, :2] > 0]", "value": "0.0"}, {"return": "X"}], "E401 assignment: expected a mask of shape (2, 3)"),
    ("assign_not_tensor", [{"assign": "n", "value": "X.shape"}, {"assign": "n[0]", "value": "1"}, {"return": "X"}],
     "E401 n[...] = needs n to be a tensor"),
    ("assign_twice_indexed", [{"assign": "X[0][1]", "value": "0.0"}, {"return": "X"}], "forward.body[0].assign: E315 an assignment target with [ is a local variable indexed once"),
    ("assign_augmented", [{"assign": "X[0]", "op": "+=", "value": "1.0"}, {"return": "X"}], "forward.body[0].op: E315 an assignment to X[...] takes '=' only"),
    ("assign_member", [{"assign": "self.fc[0]", "value": "0.0"}, {"return": "X"}], "forward.body[0].assign: E204"),
    ("assign_unknown", [{"assign": "Y[0]", "value": "0.0"}, {"return": "X"}], "forward.body[0].assign: E303 unknown name 'Y'"),
    # names, builtins, math
    ("torch_float64", [{"return": "X.to(torch.float64)"}], "E303 unknown name torch.float64"),
    ("math_tensor", [{"return": "math.sqrt(X)"}], "E401 math.sqrt takes numbers; for a tensor use torch.sqrt"),
    ("math_unknown", [{"return": "X * math.tau"}], "E303 unknown name math.tau"),
    ("math_system", [{"return": "math.system(X)"}], "E304 unknown function math.system"),
    ("int_tensor", [{"return": "X * int(X.sum())"}], "E401 int() takes a number"),
    ("len_scalar", [{"return": "X * len(X.sum())"}], "E401 len() of a 0-d tensor"),
    ("to_keyword", [{"return": "X.to(dtype=torch.long)"}], "E406 Tensor.to takes 'dtype' by position only"),
    ("T_3d", [{"return": "X[None].T"}], "E401 .T: expected at most 2 dimensions"),
    ("chained", [{"return": "(0 < X < 1).float()"}], "E401 a chained comparison of tensors needs &"),
    ("if_many", [{"if": "X > 0", "then": [{"return": "X"}]}, {"return": "-X"}], "forward.body[0].if: E401 a condition on a bool tensor of shape (2, 3) is ambiguous"),
    ("math_log_base_one", [{"return": "X * math.log(2, 1)"}], "E306 cannot evaluate 'math.log(2, 1)' on (2, 1): float division by zero"),
    ("int_huge", [{"return": "X * int(1e300)"}], "is out of range (at most 2147483648 in magnitude)"),
    ("compare_layer", [{"return": "(self.fc < X).float()"}], "E401 cannot compare a tensor with the layer at layers.fc"),
    # functions
    ("arange_tiny_step", [{"return": "X * torch.arange(0, 1, 1e-320).sum()"}], "E401 torch.arange: expected at most 2**31 elements, found inf"),
    ("bmm_2d", [{"return": "torch.bmm(X, X.T)"}], "E401 torch.bmm: expected two 3-d tensors"),
    ("arange_sign", [{"return": "X + torch.arange(5, 0)"}], "E401 torch.arange: expected end (0) on the side of start (5)"),
    ("expand_bad", [{"return": "X.expand(4, 3)"}], "E401 expand: expected size 2 (or -1) for dim 0"),
    ("where_missing", [{"return": "torch.where(X > 0)"}], "E322 torch.where needs argument 'input'"),
]


@pytest.mark.parametrize("body, fragment", [pytest.param(b, f, id=i) for i, b, f in REFUSED])
def test_refused(tmp_path, body, fragment):
    line = refused(tmp_path, body, layers={"fc": {"type": "Linear", "args": {"in_features": 3, "out_features": 3}}})
    assert fragment in line, line


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("~n", "E302 ~ is only allowed in forward"),
        ("n & 1", "E302 & is only allowed in forward"),
        ("(n, n)[...]", "E302 ... is only allowed in forward"),
        ("int('3')", "E306 cannot evaluate \"int('3')\": int() takes numbers here"),
        ("round(n, 1, 2)", "E302 round() takes 1 to 2 positional arguments"),
        ("math.log(0)", "E306 cannot evaluate 'math.log(0)': math domain error"),
        ("math.exp(n * 1000)", "math range error"),
        ("int(1e30)", "E324 value 1000000000000000019884624838656 is out of range"),
        ("math.sqrt.__self__", "E302 private attribute '__self__' is not allowed"),
        ("torch.long", "E302 attribute .long is not allowed here"),
    ],
)
def test_constructor_arithmetic_refuses(tmp_path, text, fragment):
    line = refused(
        tmp_path, [{"return": "self.fc(X)"}], layers={"fc": {"type": "Linear", "args": {"in_features": 3, "out_features": text}}},
        args={"n": {"type": "int", "default": 4}},
    )
    assert "layers.fc.args.out_features: " in line and fragment in line, line


# ---------------------------------------------------------------------------- the AST gate


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("        X[~mask] = -1000000.0\n", "        X.view(-1, 4)[~mask] = -1000000.0\n", "assignment to X.view(-1, 4)[~mask]"),
        ("        X[~mask] = -1000000.0\n", "        self.training[~mask] = -1000000.0\n", "assignment to self.training[~mask]"),
        ("        X[~mask] = -1000000.0\n", "        X[~mask] += 1.0\n", "augmented assignment to X[~mask]"),
        ("import math\n", "import math as m\n", "import of math"),
        ("import torch\n", "import torch\nimport os\n", "import of os"),
    ],
)
def test_gate_allows_math_and_local_subscript_assignment_only(tmp_path, old, new, message):
    from codegen import gate
    from codegen.errors import SpecError
    from codegen.generate import analyse_folder

    doc = dict(MASKED_SOFTMAX, forward=dict(MASKED_SOFTMAX["forward"]))
    doc["forward"]["body"] = [{"assign": "d", "value": "math.sqrt(X.shape[-1])"}] + MASKED_SOFTMAX["forward"]["body"]
    _, source = built(tmp_path, "masked_softmax", doc)
    chain = [analyse_folder(tmp_path / "specs")["masked_softmax"]]
    gate.check(source, chain, "out/masked_softmax.py")  # as generated: passes
    assert old in source
    with pytest.raises(SpecError, match="E900") as info:
        gate.check(source.replace(old, new, 1), chain, "out/masked_softmax.py")
    assert message in str(info.value)


def test_reserved_names_cover_every_public_nn_module_attribute():
    """A public method (d2l's init_state) may not override nn.Module's: its name is checked against RESERVED."""
    from torch import nn

    from codegen.expressions import RESERVED

    assert {n for n in dir(nn.Module) if not n.startswith("_")} <= RESERVED


# ---------------------------------------------------------------------------- a builder's loop, in the book's form


def builder(sequential: list[dict]) -> dict:
    return {
        "kind": "builder", "name": "blocks", "doc": "Convolutions in a loop.",
        "args": {"n": {"type": "int"}, "in_channels": {"type": "int"}, "out_channels": {"type": "int"}},
        "sequential": sequential,
        "example": {"args": {"n": 3, "in_channels": 2, "out_channels": 4}, "inputs": {"X": [1, 2, 6, 6]}},
    }


def conv(in_channels: str) -> dict:
    return {"type": "Conv2d", "args": {"in_channels": in_channels, "out_channels": "out_channels", "kernel_size": 1}}


def reference_blocks(n: int, in_channels: int, out_channels: int, first: int = 0) -> nn.Sequential:
    return nn.Sequential(*[nn.Conv2d(in_channels if i == first else out_channels, out_channels, 1) for i in range(first, n)])


def test_builder_loop_carries_the_argument_as_the_book_does(tmp_path):
    """vgg_block's `in_channels if i == 0 else out_channels` is emitted as the book's `in_channels = out_channels`."""
    module, source = built(tmp_path, "blocks", builder([{"for": "i", "in": "range(n)", "layers": [conv("in_channels if i == 0 else out_channels")]}]))
    assert "    for _ in range(n):\n        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=1))\n        in_channels = out_channels\n" in source
    for n in (0, 1, 3):
        gen, ref = module.blocks(n, 2, 4), reference_blocks(n, 2, 4)
        assert [p.shape for p in gen.parameters()] == [p.shape for p in ref.parameters()]


@pytest.mark.parametrize("sequential, first", [
    ([{"for": "i", "in": "range(n)", "layers": [conv("in_channels if i == 0 else out_channels")]}, conv("out_channels + in_channels * 0")], 0),
    ([{"for": "i", "in": "range(n)", "layers": [conv("in_channels if i == 0 else out_channels * 1")]}], 0),
    ([{"for": "i", "in": "range(1, n)", "layers": [conv("in_channels if i == 1 else out_channels")]}], 1),
    ([{"for": "i", "in": "range(1, n)", "layers": [conv("in_channels if i == 0 else out_channels")]}], None),
], ids=["read_after_the_loop", "computed_value", "range_from_one", "never_the_first_step"])
def test_builder_loop_keeps_the_conditional_where_carrying_would_differ(tmp_path, sequential, first):
    doc = builder(sequential)
    if first is None:  # in_channels is never used: every step takes out_channels
        doc["example"]["args"]["in_channels"] = 4
        doc["example"]["inputs"]["X"] = [1, 4, 6, 6]
    module, source = built(tmp_path, "blocks", doc)
    assert " == " in source and " else out_channels" in source and "in_channels = out_channels" not in source
    if first is not None:
        gen = module.blocks(3, 2, 4)
        ref = reference_blocks(3, 2, 4, first)
        assert [p.shape for p in list(gen.parameters())[: len(list(ref.parameters()))]] == [p.shape for p in ref.parameters()]
