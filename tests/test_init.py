"""Initialisation, shapes from arguments and integer inputs (issue 11, items 3, 4 and 6).

* The book's initialisers (d2l "Parameter Initialization": init_normal,
  init_constant, init_xavier with init_42, my_init; init_cnn on LeNet) against
  the generated blocks: built from the same seed, the weights must be equal
  bit for bit (the same draws in the same order), then outputs and gradients.
* Every init form against torch's own ``nn.init`` call, drawn from the same
  seed, and its statistics on a large tensor against the formula torch
  documents.
* A parameter shape given as one conditional expression, and Embedding
  inputs declared ``long`` with a vocabulary bound.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from .conftest import SPECS, import_generated
from .test_blocks import make_input
from .reference import d2l, d2l_builders as book

pytestmark = pytest.mark.filterwarnings("ignore:Lazy modules are a new feature")


def generate(tmp_path: Path, *specs: dict) -> Path:
    """Generate ``specs`` with the real CLI entry point; return the output folder."""
    from codegen.__main__ import main

    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    for spec in specs:
        stem = spec.pop("stem")
        (folder / f"{stem}.json").write_text(json.dumps(spec), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(folder), "-o", str(tmp_path / "out"), "-j", "1"])
    assert code == 0, err.getvalue()
    return tmp_path / "out"


# ---------------------------------------------------------------------------- the book's initialisers


def book_mlp(*inits) -> nn.Module:
    """d2l's ``net`` (lazy layers, materialised by a first call as the book does), then ``net.apply`` of each init."""
    net = book.mlp()
    net(torch.ones(2, 4))  # no draw from the generator: only the layers' own
    for target, init in inits:
        (net if target is None else net[target]).apply(init)
    return net


BOOK = {
    "init_normal_mlp": ("InitNormalMLP", lambda: book_mlp((None, book.init_normal))),
    "init_constant_mlp": ("InitConstantMLP", lambda: book_mlp((None, book.init_constant))),
    "xavier_42_mlp": ("Xavier42MLP", lambda: book_mlp((0, book.init_xavier), (2, book.init_42))),
    "my_init_mlp": ("MyInitMLP", lambda: book_mlp((None, book.my_init))),
    "xavier_lenet": ("XavierLeNet", lambda: d2l.lenet().apply(book.init_cnn)),
}


@pytest.mark.parametrize("stem", sorted(BOOK))
def test_book_initialisers_draw_the_same_weights(stem, capsys):
    cls, make_ref = BOOK[stem]
    torch.manual_seed(7)
    ref = make_ref()
    torch.manual_seed(7)
    gen = getattr(import_generated(stem), cls)()
    ref_state, gen_state = ref.state_dict(), gen.state_dict()
    # The book's net is the Sequential itself; the generated block holds it as .net.
    assert list(gen_state) == [f"net.{key}" for key in ref_state]
    for key, value in ref_state.items():
        torch.testing.assert_close(gen_state[f"net.{key}"], value, rtol=0, atol=0, msg=key)
    shape = (2, 1, 28, 28) if stem == "xavier_lenet" else (2, 4)
    X = torch.randn(*shape)
    ref_X, gen_X = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
    ref_out, gen_out = ref(ref_X), gen(gen_X)
    torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
    ref_out.sum().backward()
    gen_out.sum().backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(gen_X.grad, ref_X.grad, rtol=0, atol=0)


def test_book_initialisers_do_what_the_book_says():
    """Independent of the references: the values the book's section describes."""
    torch.manual_seed(0)
    normal = import_generated("init_normal_mlp").InitNormalMLP()
    for layer in (normal.net[0], normal.net[2]):
        assert torch.all(layer.bias == 0) and 0 < layer.weight.std() < 0.03
    constant = import_generated("init_constant_mlp").InitConstantMLP()
    assert torch.all(constant.net[0].weight == 1) and torch.all(constant.net[2].bias == 0)
    xavier = import_generated("xavier_42_mlp").Xavier42MLP()
    assert torch.all(xavier.net[2].weight == 42)
    assert xavier.net[0].weight.abs().max() <= math.sqrt(6 / (4 + 8))
    mine = import_generated("my_init_mlp").MyInitMLP()
    for layer in (mine.net[0], mine.net[2]):
        w = layer.weight
        assert torch.all((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10)))
        assert w.requires_grad and w.grad is None  # still a trainable parameter after the in-place update
    assert (mine.net[0].weight == 0).any()


# ---------------------------------------------------------------------------- every form against nn.init


# (spec init, what torch does to a tensor of that shape, expected mean, expected std; fan_in 512, fan_out 256)
FAN_IN, FAN_OUT = 512, 256
FORMS = {
    "normal": ("normal(mean=0.5, std=0.02)", lambda t: nn.init.normal_(t, mean=0.5, std=0.02), 0.5, 0.02),
    "uniform": ("uniform(-0.3, 0.7)", lambda t: nn.init.uniform_(t, -0.3, 0.7), 0.2, 1 / math.sqrt(12)),
    "constant": ("constant(0.25)", lambda t: nn.init.constant_(t, 0.25), 0.25, 0.0),
    "zeros": ("zeros", nn.init.zeros_, 0.0, 0.0),
    "ones": ("ones", nn.init.ones_, 1.0, 0.0),
    "xavier_uniform": ("xavier_uniform(gain=2)", lambda t: nn.init.xavier_uniform_(t, gain=2), 0.0, 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal": ("xavier_normal", nn.init.xavier_normal_, 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "kaiming_uniform": (
        "kaiming_uniform(a=0, mode='fan_out', nonlinearity='relu')",
        lambda t: nn.init.kaiming_uniform_(t, a=0, mode="fan_out", nonlinearity="relu"), 0.0, math.sqrt(2 / FAN_OUT),
    ),
    "kaiming_normal": ("kaiming_normal(nonlinearity='relu')", lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), 0.0, math.sqrt(2 / FAN_IN)),
}
# Parameters only: forms that create the tensor.
CREATED = {
    "randn": ("randn", lambda shape: torch.randn(shape), 0.0, 1.0),
    "rand": ("rand", lambda shape: torch.rand(shape), 0.5, 1 / math.sqrt(12)),
    "randn_scaled": ("randn * sigma", lambda shape: torch.randn(shape) * 0.01, 0.0, 0.01),
    "rand_scaled": ("rand * (sigma + 1)", lambda shape: torch.rand(shape) * 1.01, 0.505, 1.01 / math.sqrt(12)),
}


@pytest.fixture(scope="module")
def forms_module() -> object:
    """specs/init_forms.json: each form once on a (256, 512) parameter and once on a Linear(512, 256)'s weight, in FORMS order."""
    spec = json.loads((SPECS / "init_forms.json").read_text(encoding="utf-8"))
    assert [t["init"] for t in spec["parameters"].values()] == [f[0] for f in {**FORMS, **CREATED}.values()]
    assert [layer["init"]["weight"] for layer in spec["layers"]["net"]["layers"]] == [f[0] for f in FORMS.values()]
    return import_generated("init_forms")


def test_each_form_draws_what_torch_draws(forms_module):
    """Same seed, same order: parameters first (in spec order), then each layer is built and initialised after all are built."""
    torch.manual_seed(3)
    gen = forms_module.InitForms()
    torch.manual_seed(3)
    shape = (FAN_OUT, FAN_IN)
    for name, (_, draw, _, _) in FORMS.items():
        expected = draw(torch.empty(shape))
        torch.testing.assert_close(getattr(gen, f"w_{name}").data, expected, rtol=0, atol=0, msg=name)
    for name, (_, draw, _, _) in CREATED.items():
        torch.testing.assert_close(getattr(gen, f"w_{name}").data, draw(shape), rtol=0, atol=0, msg=name)
    linears = [nn.Linear(FAN_IN, FAN_OUT) for _ in FORMS]
    for linear, (_, draw, _, _) in zip(linears, FORMS.values()):
        draw(linear.weight.data)
        nn.init.zeros_(linear.bias.data)
    for index, linear in enumerate(linears):
        torch.testing.assert_close(gen.net[index].weight.data, linear.weight.data, rtol=0, atol=0)
        assert torch.all(gen.net[index].bias == 0)


@pytest.mark.parametrize("name", sorted({**FORMS, **CREATED}))
def test_each_form_has_the_documented_statistics(forms_module, name):
    torch.manual_seed(11)
    gen = forms_module.InitForms()
    _, _, mean, std = {**FORMS, **CREATED}[name]
    w = getattr(gen, f"w_{name}").detach()
    assert abs(w.mean().item() - mean) <= 5 * std / math.sqrt(w.numel()) + 1e-7  # five standard errors
    assert w.std().item() == pytest.approx(std, rel=0.02, abs=1e-7)
    if name in FORMS:
        layer_w = gen.net[list(FORMS).index(name)].weight.detach()
        assert layer_w.std().item() == pytest.approx(std, rel=0.02, abs=1e-7)


def test_forms_are_emitted_as_a_person_writes_them(forms_module):
    source = Path(forms_module.__file__).read_text(encoding="utf-8")
    assert "        self.w_normal = nn.Parameter(torch.empty(256, 512))\n        nn.init.normal_(self.w_normal, mean=0.5, std=0.02)" in source
    assert "self.w_randn_scaled = nn.Parameter(torch.randn(256, 512) * sigma)" in source
    assert "self.w_rand_scaled = nn.Parameter(torch.rand(256, 512) * (sigma + 1))" in source
    assert "self.w_zeros = nn.Parameter(torch.zeros(256, 512))" in source
    code = ast.unparse(ast.parse(source))  # black splits this call over lines
    assert "nn.init.kaiming_uniform_(self.net.get_parameter('7.weight'), a=0, mode='fan_out', nonlinearity='relu')" in code
    assert "nn.init.zeros_(self.net.get_parameter('8.bias'))" in code


# ---------------------------------------------------------------------------- shapes from arguments


def test_shape_from_a_conditional_expression(tmp_path):
    shape = "(1, num_features) if num_dims == 2 else (1, num_features, 1, 1)"
    spec = {
        "stem": "scale_shift", "name": "ScaleShift", "doc": "gamma * X + beta, per feature or per channel.",
        "args": {"num_features": {"type": "int"}, "num_dims": {"type": "int"}},
        "parameters": {"gamma": {"shape": shape, "init": "ones"}, "beta": {"shape": shape, "init": "zeros"}},
        "buffers": {"moving_mean": {"shape": shape, "init": "zeros"}},
        "forward": {"inputs": ["X"], "body": [{"return": "self.gamma * (X - self.moving_mean) + self.beta"}]},
        "example": {"args": {"num_features": 6, "num_dims": 4}, "inputs": {"X": [2, 6, 5, 5]}, "output": [2, 6, 5, 5]},
    }
    module = import_generated("scale_shift", generate(tmp_path, spec))
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert f"        shape = {shape}\n        self.gamma = nn.Parameter(torch.ones(shape))" in source
    for num_dims, expected in ((2, (1, 6)), (4, (1, 6, 1, 1))):
        block = module.ScaleShift(6, num_dims)
        assert block.gamma.shape == block.beta.shape == block.moving_mean.shape == expected
        assert torch.all(block.gamma == 1) and torch.all(block.beta == 0)
    ref = book.BatchNorm(6, 4)  # the book's own shapes for the same arguments
    assert module.ScaleShift(6, 4).gamma.shape == ref.gamma.shape
    assert module.ScaleShift(6, 2).gamma.shape == book.BatchNorm(6, 2).gamma.shape


# ---------------------------------------------------------------------------- integer inputs


def embedding_spec(inputs: dict) -> dict:
    return {
        "stem": "embed", "name": "Embed", "doc": "Token embeddings, summed over the sequence.",
        "args": {"vocab_size": {"type": "int"}, "num_hiddens": {"type": "int"}},
        "layers": {"embedding": {"type": "Embedding", "args": {"num_embeddings": "vocab_size", "embedding_dim": "num_hiddens"}}},
        "forward": {"inputs": ["X"], "body": [{"return": "self.embedding(X).sum(1)"}]},
        "example": {"args": {"vocab_size": 28, "num_hiddens": 8}, "inputs": inputs, "output": [2, 8]},
    }


def test_long_inputs_are_shape_checked_and_tested_with_token_ids(tmp_path):
    module = import_generated("embed", generate(tmp_path, embedding_spec({"X": {"shape": [2, 5], "dtype": "long", "high": 28}})))
    value = {"shape": [2, 5], "dtype": "long", "high": 28}
    X = make_input(value)
    assert X.dtype == torch.long and X.shape == (2, 5) and 0 <= X.min() and X.max() < 28
    assert module.Embed(28, 8)(X).shape == (2, 8)
    assert "Shapes for input X (2, 5) long < 28 with vocab_size=28, num_hiddens=8:" in module.Embed.__doc__


def test_analysis_of_integer_inputs(tmp_path):
    from codegen.generate import analyse_folder
    from codegen.errors import ErrorList

    def errors(inputs: dict) -> list[str]:
        spec = embedding_spec(inputs)
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "embed.json").write_text(json.dumps({k: v for k, v in spec.items() if k != "stem"}), encoding="utf-8")
        try:
            analyse_folder(folder)
        except ErrorList as exc:
            return [f"{e.code} {e.message}" for e in exc.errors]
        return []

    assert errors({"X": {"shape": [2, 5], "dtype": "long", "high": 28}}) == []
    [no_bound] = errors({"X": {"shape": [2, 5], "dtype": "long"}})
    assert no_bound.startswith("E405") and "a long input needs 'high'" in no_bound
    [float_input] = errors({"X": [2, 5]})
    assert float_input.startswith("E401") and "expected integer indices, found a float tensor" in float_input
    [too_high] = errors({"X": {"shape": [2, 5], "dtype": "long", "high": 29}})
    assert too_high.startswith("E401") and "below num_embeddings=28, found values up to 28" in too_high


# ---------------------------------------------------------------------------- the catalogue of forms against torch


def test_forms_match_nn_init_signatures():
    import inspect

    from codegen import initialisers
    from codegen.values import REQUIRED

    for form, params in initialisers.FORMS.items():
        signature = inspect.signature(getattr(nn.init, f"{form}_"))
        names = [n for n in signature.parameters if n not in ("tensor", "generator")]
        assert [p.name for p in params] == names, form
        for param in params:
            default = signature.parameters[param.name].default
            assert param.default == (REQUIRED if default is inspect.Parameter.empty else default), (form, param.name)


@pytest.mark.parametrize("nonlinearity", ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                          "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_kaiming_nonlinearities_are_the_ones_torch_knows(nonlinearity):
    from codegen import catalogue, initialisers

    kind = dict((p.name, p.kind) for p in initialisers.FORMS["kaiming_normal"])["nonlinearity"]
    assert catalogue.check_kind(kind, nonlinearity)
    nn.init.calculate_gain(nonlinearity)  # torch knows it
    with pytest.raises(ValueError):
        nn.init.calculate_gain("softplus")
    assert not catalogue.check_kind(kind, "softplus")


LAYER_CONFIGS = [
    ("Linear", {"in_features": 3, "out_features": 5}),
    ("Linear", {"in_features": 3, "out_features": 5, "bias": False}),
    ("Bilinear", {"in1_features": 2, "in2_features": 3, "out_features": 4}),
    ("Conv1d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}),
    ("Conv2d", {"in_channels": 3, "out_channels": 8, "kernel_size": (3, 5), "bias": False}),
    ("Conv3d", {"in_channels": 2, "out_channels": 4, "kernel_size": 2}),
    ("ConvTranspose1d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}),
    ("ConvTranspose2d", {"in_channels": 3, "out_channels": 2, "kernel_size": 4}),
    ("BatchNorm1d", {"num_features": 7}),
    ("BatchNorm2d", {"num_features": 7, "affine": False}),
    ("BatchNorm2d", {"num_features": 7, "bias": False}),
    ("LayerNorm", {"normalized_shape": (3, 4)}),
    ("LayerNorm", {"normalized_shape": 5, "bias": False}),
    ("LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}),
    ("GroupNorm", {"num_groups": 2, "num_channels": 6}),
    ("GroupNorm", {"num_groups": 2, "num_channels": 6, "affine": False}),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 3}),
]


@pytest.mark.parametrize("name,kwargs", LAYER_CONFIGS)
def test_layer_tensors_match_torch(name, kwargs):
    from codegen import catalogue, initialisers

    full = {p.name: kwargs.get(p.name, p.default) for p in catalogue.LAYERS[name].params}
    layer = getattr(nn, name)(**kwargs)
    expected = {key: tuple(getattr(layer, key).shape) if getattr(layer, key, None) is not None else None for key in ("weight", "bias")}
    assert initialisers.layer_tensors(name, full) == expected


def test_every_layer_with_tensors_is_covered():
    from codegen import initialisers

    assert {name for name, _ in LAYER_CONFIGS} == set(initialisers.LAYER_TENSORS)


def test_optional_typed_tensors_match_torchs_annotations():
    """The tensors generated code names through get_parameter for type checkers are those torch
    annotates ``Tensor | None`` (a convolution's bias); the others are plain attributes to mypy."""
    import types
    import typing

    from codegen import initialisers

    optional = set()
    for name in initialisers.LAYER_TENSORS:
        hints = typing.get_type_hints(getattr(nn, name))
        for tensor in ("weight", "bias"):
            hint = hints.get(tensor)
            if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
                optional.add((name, tensor))
    assert optional == initialisers.OPTIONAL_TYPED


# ---------------------------------------------------------------------------- the AST gate


def gate_check(stem: str, source: str) -> None:
    from codegen import analyse, gate
    from .conftest import analysed

    blocks = analysed()
    by_name = {b.name: b for b in blocks.values()}
    gate.check(source, analyse.dependencies(blocks[stem], by_name), f"{stem}.py")


TAMPERED = [
    ("my_init_mlp", "return self.net(X)", "return self.net(X.data)", ".data outside an init update step"),
    ("my_init_mlp", "nn.init.uniform_(module.weight, -10, 10)", "nn.init.orthogonal_(module.weight)", "nn.init.orthogonal_"),
    ("my_init_mlp", "nn.init.uniform_(module.weight, -10, 10)", "nn.init.uniform_(module.weight.data.fill_(1))", ".data outside an init update step"),
    ("my_init_mlp", "module.weight.data *= ", "module.weight *= ", "augmented assignment"),
    ("my_init_mlp", "module.weight.data *= ", "module.weight.data //= ", "augmented assignment"),
    ("my_init_mlp", "module.weight.data *= ", "X.data *= ", "augmented assignment"),
    ("my_init_mlp", "for module in self.modules():", "for m in self.modules():", "loop over self.modules()"),
    ("my_init_mlp", "if type(module) is nn.Linear:", "if type(module, 1) is nn.Linear:", "call of type"),
    ("my_init_mlp", "return self.net(X)", "return self.net(X) if type(X) else X", "call of type"),
    ("my_init_mlp", "return self.net(X)", "nn.init.zeros_(X)\n        return self.net(X)", "nn.init.zeros_ in MyInitMLP.forward"),
    ("my_init_mlp", "return self.net(X)", "for module in self.modules():\n            X = X\n        return self.net(X)", "in MyInitMLP.forward"),
    ("my_init_mlp", "module.weight.data *= ", "module.get_parameter(name).data *= ", "augmented assignment"),
    ("my_init_mlp", "module.weight.data *= ", "module.get_parameter(\"weight\", 1).data *= ", "augmented assignment"),
    ("my_init_mlp", "module.weight.data *= ", "X.get_parameter(\"weight\").data *= ", "augmented assignment"),
    ("xavier_42_mlp", 'nn.init.constant_(self.net.get_parameter("2.weight"), 42)', 'init = nn.init\n        init.constant_(self.net.get_parameter("2.weight"), 42)', "assignment to init"),
    ("xavier_42_mlp", 'nn.init.constant_(self.net.get_parameter("2.weight"), 42)', "nn.init.__dict__", "dunder attribute"),
    ("xavier_42_mlp", 'nn.init.constant_(self.net.get_parameter("2.weight"), 42)', "print(nn.init)", "nn.init other than nn.init.<form>_"),
]


def test_gate_accepts_the_generated_init_code():
    for stem in ("my_init_mlp", "xavier_42_mlp", "init_normal_mlp", "init_forms", "xavier_lenet"):
        gate_check(stem, (Path(__file__).parent.parent / "generated" / f"{stem}.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize("stem,old,new,message", TAMPERED)
def test_gate_refuses_tampered_init_code(stem, old, new, message):
    from codegen.errors import SpecError

    source = (Path(__file__).parent.parent / "generated" / f"{stem}.py").read_text(encoding="utf-8")
    assert old in source
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        gate_check(stem, source.replace(old, new))
    assert caught.value.code == "E900"


@pytest.mark.parametrize("stem", sorted(BOOK) + ["init_forms"])
def test_init_blocks_script_with_torchscript(stem):
    """Initialisation runs in __init__ only; every forward here is one the book's code would script too."""
    cls = BOOK[stem][0] if stem in BOOK else "InitForms"
    net = getattr(import_generated(stem), cls)()
    scripted = torch.jit.script(net)
    X = torch.randn(2, 1, 28, 28) if stem == "xavier_lenet" else torch.randn(2, 256 if stem == "init_forms" else 4)
    torch.testing.assert_close(scripted(X), net(X), rtol=0, atol=0)


def test_embedding_rule_refuses_what_torch_refuses():
    """The analyser's two new Embedding checks, against torch: float indices, and an id equal to num_embeddings."""
    from codegen import catalogue
    from codegen.values import ShapeError, Tensor

    layer = catalogue.LAYERS["Embedding"]
    args = {p.name: p.default for p in layer.params} | {"num_embeddings": 28, "embedding_dim": 8}
    embedding = nn.Embedding(28, 8)
    assert layer.shape(args, {"input": Tensor((2, 5), "long", 28)}) == Tensor((2, 5, 8))
    embedding(torch.randint(0, 28, (2, 5)))
    with pytest.raises(ShapeError, match="integer indices"):
        layer.shape(args, {"input": Tensor((2, 5), "float")})
    with pytest.raises(RuntimeError):
        embedding(torch.randn(2, 5))
    with pytest.raises(ShapeError, match="below num_embeddings=28"):
        layer.shape(args, {"input": Tensor((2, 5), "long", 29)})
    with pytest.raises(IndexError):
        embedding(torch.full((2, 5), 28))
    assert layer.shape(args, {"input": Tensor((2, 5), "long")}) == Tensor((2, 5, 8))  # no bound known: not refused


def test_different_shape_expressions_are_written_inline(tmp_path):
    spec = {
        "stem": "two_shapes", "name": "TwoShapes", "doc": "Two whole-shape expressions: no shared local.",
        "args": {"n": {"type": "int"}, "flat": {"type": "bool", "default": True}},
        "parameters": {
            "a": {"shape": "(n,) if flat else (1, n)", "init": "normal(std=0.5)"},
            "b": {"shape": "(n, n) if flat else (1, n, n)", "init": "randn * 0.5"},
        },
        "forward": {"inputs": ["X"], "body": [{"return": "X @ self.b + self.a"}]},
        "example": {"args": {"n": 3}, "inputs": {"X": [2, 3]}, "output": [2, 3]},
    }
    module = import_generated("two_shapes", generate(tmp_path, spec))
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "shape = " not in source
    assert "self.a = nn.Parameter(torch.empty((n,) if flat else (1, n)))" in source
    assert "self.b = nn.Parameter(torch.randn((n, n) if flat else (1, n, n)) * 0.5)" in source
    assert module.TwoShapes(3).a.shape == (3,) and module.TwoShapes(3, flat=False).b.shape == (1, 3, 3)
    torch.manual_seed(5)
    block = module.TwoShapes(4)
    torch.manual_seed(5)
    torch.testing.assert_close(block.a.data, nn.init.normal_(torch.empty(4), std=0.5), rtol=0, atol=0)
    torch.testing.assert_close(block.b.data, torch.randn(4, 4) * 0.5, rtol=0, atol=0)


def test_gate_refuses_init_code_in_a_function_spec(tmp_path):
    from codegen import gate
    from codegen.errors import SpecError
    from codegen.generate import analyse_folder

    spec = {"stem": "twice", "kind": "function", "name": "twice", "doc": "Twice X.",
            "forward": {"inputs": ["X"], "body": [{"return": "X * 2"}]}, "example": {"inputs": {"X": [2, 3]}}}
    out = generate(tmp_path, spec)
    source = (out / "twice.py").read_text(encoding="utf-8")
    chain = [analyse_folder(tmp_path / "specs")["twice"]]
    gate.check(source, chain, "twice.py")
    for tampered in ("X.data * 2", "nn.init.zeros_(X)", "type(X)"):
        with pytest.raises(SpecError, match="function.twice") as caught:
            gate.check(source.replace("return X * 2", f"return {tampered}"), chain, "twice.py")
        assert caught.value.code == "E900"
