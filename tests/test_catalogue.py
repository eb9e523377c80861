"""The static catalogue agrees with the installed torch.

``codegen.catalogue`` never imports torch; these tests do. For every layer,
function and tensor method they check the signature (names, order,
defaults), that default values fit their kinds, and that the shape rule and
the parameter count give what torch gives, on each entry's example, on extra
configurations per family, on random sweeps of convolution and pooling
settings, and on inputs torch rejects (which must raise ShapeError here).
"""

from __future__ import annotations

import inspect
import math
import random
import subprocess
import sys
import typing
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from codegen.catalogue import (
    FUNCTIONS,
    LAYERS,
    METHODS,
    OMITTED,
    Function,
    Layer,
    broadcast,
    check_kind,
    describe_kind,
    matmul_shape,
)
from codegen.values import DEVICE, REQUIRED, DType, Param, ShapeError, Tensor

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = {"self", "device", "dtype"}


@pytest.fixture(autouse=True)
def _seeded():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


# ------------------------------------------------------------------ helpers


TORCH_KINDS = {"float": torch.float32, "long": torch.long, "bool": torch.bool}


def _torch_value(name: str, value: Any, layer: str = "", ctor: dict | None = None) -> Any:
    """A concrete torch value for a catalogue value (Tensor -> random tensor of its dtype kind)."""
    if isinstance(value, DType):
        return getattr(torch, value.name)
    if value is DEVICE:
        return torch.device("cpu")
    if isinstance(value, Tensor):
        if name.endswith("_mask"):  # attention masks, written as T(shape) in the layer tables
            return torch.zeros(value.shape, dtype=torch.bool)
        if layer == "Embedding":
            return torch.randint(0, ctor["num_embeddings"], value.shape)
        if value.dtype == "bool":
            return torch.rand(value.shape) < 0.5
        if value.dtype == "long":
            return torch.randint(1, 4, value.shape)  # no zeros: integer division by them fails on the data
        return torch.randn(value.shape)
    if isinstance(value, tuple) and value and all(isinstance(v, Tensor) for v in value):
        return tuple(_torch_value(name, v) for v in value)
    return value


def _kind(dtype: torch.dtype) -> str:
    return "bool" if dtype == torch.bool else "float" if dtype.is_floating_point else "long"


def _as_shapes(value: Any) -> Any:
    """torch output -> the catalogue's representation (Tensor with its dtype kind, tuples, None)."""
    if isinstance(value, torch.Tensor):
        return Tensor(tuple(value.shape), _kind(value.dtype))
    if isinstance(value, torch.Size):
        return tuple(value)
    if isinstance(value, (tuple, list)):
        return tuple(_as_shapes(v) for v in value)
    return value


def _full(params: tuple[Param, ...], given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - {p.name for p in params}
    assert not unknown, f"test uses unknown arguments {unknown}"
    return {p.name: given.get(p.name, p.default) for p in params}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _torch_layer(name: str, kwargs: dict, inputs: tuple, call: dict) -> tuple[Any, Exception | None, int | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = getattr(nn, name)(**kwargs)
            args = [_torch_value("input", Tensor(s), name, kwargs) for s in inputs]
            out = module(*args, **{k: _torch_value(k, v) for k, v in call.items()})
        except Exception as exc:  # torch raises ValueError, RuntimeError, AssertionError, ...
            return None, exc, None
    return _as_shapes(out), None, _count(module)


def _our_layer(name: str, kwargs: dict, inputs: tuple, call: dict) -> tuple[Any, ShapeError | None, int | None]:
    layer = LAYERS[name]
    ctor = _full(layer.params, kwargs)
    # Embedding's input holds indices: torch gets a long tensor (_torch_value), so the rule does too.
    dtype = "long" if name == "Embedding" else "float"
    tensors = dict(zip((p.name for p in layer.call), (Tensor(s, dtype) for s in inputs)))
    bound = _full(layer.call, {**tensors, **call})
    try:
        value = layer.shape(ctor, bound)
    except ShapeError as exc:
        return None, exc, None
    return value, None, layer.parameters(ctor)


def _agree(name: str, kwargs: dict, inputs: tuple, call: dict | None = None) -> tuple[Any, Exception | None]:
    """Run torch and the catalogue on one configuration; both fail or both give the same."""
    call = call or {}
    theirs, their_error, their_count = _torch_layer(name, kwargs, inputs, call)
    ours, our_error, our_count = _our_layer(name, kwargs, inputs, call)
    where = f"nn.{name}(**{kwargs}) on {inputs} {call}"
    if their_error is None and our_error is not None and "output size of at least 1" in str(our_error):
        # Deliberately stricter: torch returns an empty tensor where a transposed
        # convolution's output size is 0.
        assert 0 in theirs.shape, f"{where}: {our_error}, torch gives {theirs}"
        return None, our_error
    if their_error is not None:
        assert our_error is not None, f"{where}: torch raises {their_error!r}, the catalogue gives {ours}"
        return None, our_error
    assert our_error is None, f"{where}: the catalogue raises {our_error}, torch gives {theirs}"
    assert ours == theirs, f"{where}: shapes {ours} != torch's {theirs}"
    assert our_count == their_count, f"{where}: {our_count} parameters != torch's {their_count}"
    return ours, None


def _torch_signature(cls: type) -> list[inspect.Parameter]:
    if cls in (nn.RNN, nn.LSTM, nn.GRU):
        # __init__ is (*args, **kwargs); the documented overload is the real contract.
        init = typing.get_overloads(cls.__init__)[0]
    else:
        init = cls.__init__
    return [
        p
        for p in inspect.signature(init).parameters.values()
        if p.name not in HIDDEN and not p.name.startswith("_")  # Embedding's private _weight, _freeze
    ]


# ------------------------------------------------------------------ layers: signatures


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_constructor_signature(name: str) -> None:
    layer = LAYERS[name]
    assert layer.name == name
    cls = getattr(nn, name)
    theirs = _torch_signature(cls)
    if [p.kind for p in theirs] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        # Identity, Sigmoid, Tanh accept and ignore anything: we accept nothing.
        assert layer.params == ()
        return
    assert [p.name for p in layer.params] == [p.name for p in theirs]
    for ours, their in zip(layer.params, theirs):
        default = REQUIRED if their.default is inspect.Parameter.empty else their.default
        if callable(default):
            # TransformerEncoderLayer's activation: torch's default is F.relu, which "relu" selects.
            from torch.nn.modules.transformer import _get_activation_fn

            assert _get_activation_fn(ours.default) is default
        else:
            assert ours.default == default and type(ours.default) is type(default), (ours, their)
    # What the book writes positionally must be positional in torch.
    for their in theirs[: layer.positional]:
        assert their.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    # What torch takes by keyword only (after device and dtype) is never bound by position.
    keyword_only = {p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert layer.keyword_only == keyword_only - HIDDEN
    assert all(p.name not in keyword_only for p in theirs[: len(theirs) - len(layer.keyword_only)])


def test_recurrent_signatures_match_rnnbase() -> None:
    base = [p.name for p in _torch_signature(nn.RNNBase) if p.name != "mode"]
    assert [p.name for p in LAYERS["LSTM"].params] == base
    without_proj = [n for n in base if n != "proj_size"]
    assert [p.name for p in LAYERS["GRU"].params] == without_proj
    # RNN takes nonlinearity as its fourth positional argument (see RNN.__init__).
    assert [p.name for p in LAYERS["RNN"].params] == without_proj[:3] + ["nonlinearity"] + without_proj[3:]
    assert nn.RNN(3, 4, 1, "relu").nonlinearity == "relu"
    with pytest.raises(ValueError):
        nn.GRU(3, 4, proj_size=2)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_forward_signature(name: str) -> None:
    layer = LAYERS[name]
    theirs = [p for p in inspect.signature(getattr(nn, name).forward).parameters.values() if p.name != "self"]
    assert [p.name for p in layer.call] == [p.name for p in theirs]
    for ours, their in zip(layer.call, theirs):
        default = REQUIRED if their.default is inspect.Parameter.empty else their.default
        assert ours.default == default


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_defaults_fit_kinds(name: str) -> None:
    layer = LAYERS[name]
    for param in layer.params + layer.call:
        describe_kind(param.kind)  # every kind is known
        if param.default is not REQUIRED:
            assert check_kind(param.kind, param.default), param


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_inferred_parameter(name: str) -> None:
    layer = LAYERS[name]
    assert layer.example is not None
    if layer.inferred is None:
        return
    param = next(p for p in layer.params if p.name == layer.inferred)
    assert param.default is REQUIRED and param.kind == "int"
    kwargs, inputs = layer.example
    assert inputs[0][layer.inferred_dim] == kwargs[layer.inferred]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_example(name: str) -> None:
    kwargs, inputs = LAYERS[name].example
    value, error = _agree(name, kwargs, inputs)
    assert error is None


# ------------------------------------------------------------------ layers: more configurations

T = Tensor  # call arguments that are tensors

EXTRA = [
    # convolutions
    ("Conv2d", {"in_channels": 1, "out_channels": 6, "kernel_size": 5, "padding": 2}, [(1, 1, 28, 28)], {}),
    ("Conv2d", {"in_channels": 1, "out_channels": 96, "kernel_size": 11, "stride": 4, "padding": 1}, [(1, 1, 224, 224)], {}),
    ("Conv2d", {"in_channels": 3, "out_channels": 8, "kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 2), "dilation": (2, 1)}, [(2, 3, 11, 13)], {}),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3}, [(3, 10, 9)], {}),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2}, [(1, 3, 7, 8)], {}),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": (2, 3), "padding": "same", "padding_mode": "reflect"}, [(1, 3, 5, 5)], {}),
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "valid"}, [(1, 3, 7, 8)], {}),
    ("Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 1, "groups": 2, "bias": False}, [(2, 4, 3, 3)], {}),
    ("Conv2d", {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": 2, "padding_mode": "circular"}, [(1, 2, 2, 3)], {}),
    ("Conv2d", {"in_channels": 2, "out_channels": 2, "kernel_size": 1, "padding": 3, "padding_mode": "replicate"}, [(1, 2, 1, 1)], {}),
    ("Conv1d", {"in_channels": 2, "out_channels": 3, "kernel_size": 4, "padding": "same"}, [(2, 2, 9)], {}),
    ("Conv1d", {"in_channels": 2, "out_channels": 3, "kernel_size": (3,), "stride": (3,)}, [(2, 10)], {}),
    ("Conv3d", {"in_channels": 2, "out_channels": 3, "kernel_size": (1, 2, 3), "stride": 2, "padding": (0, 1, 1)}, [(1, 2, 4, 5, 6)], {}),
    ("Conv3d", {"in_channels": 2, "out_channels": 3, "kernel_size": 2}, [(2, 3, 3, 3)], {}),
    ("ConvTranspose2d", {"in_channels": 4, "out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1}, [(1, 4, 5, 5)], {}),
    ("ConvTranspose2d", {"in_channels": 4, "out_channels": 2, "kernel_size": 3, "dilation": 3, "output_padding": 2}, [(4, 5, 5)], {}),
    ("ConvTranspose2d", {"in_channels": 4, "out_channels": 6, "kernel_size": (2, 3), "groups": 2, "bias": False}, [(1, 4, 3, 3)], {}),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2}, [(1, 2, 3, 3)], {"output_size": (8, 7)}),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2}, [(1, 2, 3, 3)], {"output_size": (1, 4, 8, 8)}),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2}, [(2, 3, 3)], {"output_size": (4, 8, 7)}),
    ("ConvTranspose1d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 3}, [(2, 2, 4)], {"output_size": (2, 4, 12)}),
    # pooling
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, [(1, 96, 54, 54)], {}),
    ("MaxPool2d", {"kernel_size": 2, "ceil_mode": True}, [(1, 1, 5, 7)], {}),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, [(1, 1, 6, 7)], {}),
    ("MaxPool2d", {"kernel_size": (2, 3), "dilation": 2, "stride": (1, 2)}, [(2, 9, 9)], {}),
    ("MaxPool2d", {"kernel_size": 2, "return_indices": True}, [(1, 2, 4, 4)], {}),
    ("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, [(1, 2, 1, 1)], {}),
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, [(2, 10)], {}),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, [(1, 1, 6, 6)], {}),
    ("AvgPool2d", {"kernel_size": (2, 4), "divisor_override": 3}, [(2, 8, 8)], {}),
    ("AvgPool1d", {"kernel_size": 4, "stride": 1, "padding": 2}, [(1, 2, 5)], {}),
    ("AdaptiveAvgPool2d", {"output_size": (None, 2)}, [(1, 3, 5, 5)], {}),
    ("AdaptiveAvgPool2d", {"output_size": 7}, [(3, 5, 9)], {}),
    ("AdaptiveMaxPool2d", {"output_size": 2, "return_indices": True}, [(1, 3, 5, 5)], {}),
    ("AdaptiveAvgPool1d", {"output_size": (3,)}, [(3, 5)], {}),
    # normalisation
    ("BatchNorm1d", {"num_features": 4}, [(3, 4)], {}),
    ("BatchNorm1d", {"num_features": 4, "affine": False}, [(3, 4, 2)], {}),
    ("BatchNorm2d", {"num_features": 4, "bias": False, "momentum": None}, [(2, 4, 3, 3)], {}),
    ("LayerNorm", {"normalized_shape": 4}, [(4,)], {}),
    ("LayerNorm", {"normalized_shape": (3, 4), "elementwise_affine": False}, [(2, 5, 3, 4)], {}),
    ("LayerNorm", {"normalized_shape": 4, "bias": False}, [(2, 4)], {}),
    ("GroupNorm", {"num_groups": 3, "num_channels": 6}, [(2, 6)], {}),
    ("GroupNorm", {"num_groups": 1, "num_channels": 6, "affine": False}, [(2, 6, 5)], {}),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4, "bias": False}, [(2, 4, 3, 3, 3)], {}),
    # lazy layers: sized by their first input
    ("LazyLinear", {"out_features": 4, "bias": False}, [(2, 5, 3)], {}),
    ("LazyLinear", {"out_features": 4}, [(7,)], {}),
    ("LazyConv2d", {"out_channels": 6, "kernel_size": 3, "groups": 2}, [(1, 4, 5, 5)], {}),
    ("LazyConv2d", {"out_channels": 2, "kernel_size": 1}, [(3, 4, 4)], {}),
    ("LazyBatchNorm2d", {"affine": False}, [(2, 5, 3, 3)], {}),
    # elementwise, reshaping, embedding
    ("Dropout", {"p": 0.0}, [()], {}),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -1}, [(5,)], {}),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 3, "max_norm": 1.0}, [()], {}),
    ("Flatten", {"start_dim": 0, "end_dim": -2}, [(2, 3, 4)], {}),
    ("Flatten", {"start_dim": 0}, [()], {}),
    ("Flatten", {"start_dim": -3, "end_dim": 2}, [(2, 3, 4, 5)], {}),
    ("Unflatten", {"dim": -1, "unflattened_size": (2, 2, 3)}, [(5, 12)], {}),
    ("Unflatten", {"dim": 0, "unflattened_size": (-1, 2)}, [(6,)], {}),
    ("Softmax", {}, [(2, 3)], {}),
    ("Softmax", {"dim": 0}, [(2, 3, 4)], {}),
    ("LogSoftmax", {"dim": -3}, [(2, 3, 4)], {}),
    ("GELU", {}, [(2, 3)], {}),
    ("SiLU", {"inplace": True}, [(2, 3)], {}),
    ("Identity", {}, [(2,)], {}),
    # recurrent
    ("RNN", {"input_size": 3, "hidden_size": 4, "nonlinearity": "relu", "bidirectional": True}, [(5, 2, 3)], {}),
    ("RNN", {"input_size": 3, "hidden_size": 4, "batch_first": True}, [(2, 5, 3)], {"hx": T((1, 2, 4))}),
    ("RNN", {"input_size": 3, "hidden_size": 4, "num_layers": 2}, [(5, 3)], {"hx": T((2, 4))}),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 3, "bidirectional": True, "batch_first": True}, [(2, 5, 3)], {}),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, "batch_first": True},
     [(2, 5, 3)], {"hx": (T((4, 2, 4)), T((4, 2, 4)))}),
    ("LSTM", {"input_size": 3, "hidden_size": 6, "num_layers": 2, "proj_size": 2, "bidirectional": True}, [(5, 2, 3)], {}),
    ("LSTM", {"input_size": 3, "hidden_size": 6, "proj_size": 2}, [(5, 3)], {"hx": (T((1, 2)), T((1, 6)))}),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "bias": False, "dropout": 0.5, "num_layers": 2}, [(5, 1, 3)], {}),
    ("GRU", {"input_size": 3, "hidden_size": 4, "bias": False, "bidirectional": True}, [(5, 3)], {"hx": T((2, 4))}),
    ("GRU", {"input_size": 3, "hidden_size": 4, "num_layers": 2, "batch_first": True}, [(2, 5, 3)], {}),
    # attention
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "batch_first": True}, [(2, 5, 8), (2, 6, 8), (2, 6, 8)], {}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 4, "kdim": 3, "vdim": 5}, [(5, 2, 8), (6, 2, 3), (6, 2, 5)], {"average_attn_weights": False}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "add_bias_kv": True, "add_zero_attn": True}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "add_bias_kv": True, "bias": False}, [(5, 8), (6, 8), (6, 8)], {"average_attn_weights": False}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {"need_weights": False}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)],
     {"key_padding_mask": T((2, 6)), "attn_mask": T((4, 5, 6))}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 8), (6, 8), (6, 8)], {"key_padding_mask": T((6,)), "attn_mask": T((2, 5, 6))}),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "batch_first": True}, [(2, 5, 8), (2, 5, 8), (2, 5, 8)],
     {"attn_mask": T((5, 5)), "is_causal": True}),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "batch_first": True, "norm_first": True}, [(2, 5, 8)], {}),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 4, "dim_feedforward": 16, "activation": "gelu", "bias": False}, [(5, 8)], {}),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16}, [(5, 2, 8)],
     {"src_mask": T((5, 5)), "src_key_padding_mask": T((2, 5))}),
]


@pytest.mark.parametrize("name, kwargs, inputs, call", EXTRA, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXTRA)])
def test_layer_configuration(name: str, kwargs: dict, inputs: list, call: dict) -> None:
    value, error = _agree(name, kwargs, tuple(inputs), call)
    assert error is None


REJECTED = [
    ("LazyLinear", {"out_features": 4}, [()], {}, "expected at least 1 dimension (*, in_features)"),
    ("LazyConv2d", {"out_channels": 6, "kernel_size": 3, "groups": 4}, [(1, 6, 5, 5)], {}, "expected in_channels divisible by groups (4)"),
    ("LazyBatchNorm2d", {}, [(2, 5)], {}, "expected 4 dimensions (N, C, H, W)"),
    ("Linear", {"in_features": 16, "out_features": 4}, [(2, 20)], {}, "expected 16 input features (last dim), found 20"),
    ("Linear", {"in_features": 16, "out_features": 4}, [()], {}, "expected at least 1 dimension"),
    ("Bilinear", {"in1_features": 3, "in2_features": 4, "out_features": 5}, [(2, 3), (1, 4)], {}, "expected input1 and input2"),
    ("Conv2d", {"in_channels": 1, "out_channels": 6, "kernel_size": 5}, [(2, 20)], {}, "expected 4 dimensions (N, C, H, W) or 3 (C, H, W), found (2, 20)"),
    ("Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 5}, [(2, 1, 28, 28)], {}, "expected 3 input channels (dim 1), found 1"),
    ("Conv2d", {"in_channels": 1, "out_channels": 6, "kernel_size": 5}, [(2, 1, 4, 9)], {}, "expected a padded input size of at least 5 in dim 2"),
    ("Conv2d", {"in_channels": 1, "out_channels": 6, "kernel_size": 3, "dilation": 3, "padding": 1}, [(1, 4, 4)], {}, "at least 7"),
    ("Conv2d", {"in_channels": 1, "out_channels": 6, "kernel_size": 3, "padding": "same", "stride": 2}, [(1, 1, 5, 5)], {}, "padding='same'"),
    ("Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3, "groups": 2}, [(1, 3, 5, 5)], {}, "divisible by groups"),
    ("Conv2d", {"in_channels": 2, "out_channels": 5, "kernel_size": 3, "groups": 2}, [(1, 2, 5, 5)], {}, "divisible by groups"),
    ("Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 1, "padding": 2, "padding_mode": "reflect"}, [(1, 1, 2, 5)], {}, "reflect"),
    ("Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 1, "padding": 3, "padding_mode": "circular"}, [(1, 1, 2, 5)], {}, "circular"),
    ("Conv1d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 0}, [(1, 1, 5)], {}, "stride"),
    ("Conv3d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3}, [(1, 5, 5)], {}, "expected 5 dimensions"),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": 2}, [(1, 2, 3, 3)], {}, "output_padding"),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 2}, [(1, 2, 1, 1)], {}, "output size of at least 1"),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2}, [(1, 2, 3, 3)], {"output_size": (9, 9)}, "output_size between"),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2}, [(1, 2, 3, 3)], {"output_size": (4, 8, 8)}, "output_size of 2 or 4"),
    ("ConvTranspose1d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3}, [(1, 3, 3)], {}, "expected 2 input channels"),
    ("MaxPool2d", {"kernel_size": 3, "padding": 2}, [(1, 1, 8, 8)], {}, "half the kernel size"),
    ("MaxPool2d", {"kernel_size": 3, "padding": 2, "dilation": 2}, [(1, 1, 8, 8)], {}, "half the kernel size"),
    ("MaxPool2d", {"kernel_size": 3}, [(1, 1, 2, 2)], {}, "large enough"),
    ("MaxPool2d", {"kernel_size": 2}, [(2, 20)], {}, "expected 4 dimensions"),
    ("MaxPool1d", {"kernel_size": 2, "stride": 0}, [(1, 1, 4)], {}, "stride"),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 0}, [(1, 1, 4, 4)], {}, "divisor_override"),
    ("AvgPool1d", {"kernel_size": 3}, [(1, 1, 2)], {}, "large enough"),
    ("AdaptiveAvgPool2d", {"output_size": 2}, [(4, 4)], {}, "expected 4 dimensions"),
    ("AdaptiveAvgPool1d", {"output_size": 2}, [(1, 2, 3, 4)], {}, "expected 3 dimensions"),
    ("BatchNorm1d", {"num_features": 4}, [(4,)], {}, "expected 2 dimensions (N, C) or 3 (N, C, L)"),
    ("BatchNorm2d", {"num_features": 4}, [(4, 3, 3)], {}, "expected 4 dimensions (N, C, H, W), found (4, 3, 3)"),
    ("BatchNorm2d", {"num_features": 4}, [(2, 3, 5, 5)], {}, "expected 4 features (dim 1), found 3"),
    ("LayerNorm", {"normalized_shape": (2, 4)}, [(4,)], {}, "expected the last dims to be (2, 4)"),
    ("LayerNorm", {"normalized_shape": 4}, [(2, 5)], {}, "expected the last dims"),
    ("GroupNorm", {"num_groups": 4, "num_channels": 6}, [(2, 6)], {}, "divisible by num_groups"),
    ("GroupNorm", {"num_groups": 2, "num_channels": 6}, [(2, 4, 3)], {}, "expected 6 channels (dim 1), found 4"),
    ("GroupNorm", {"num_groups": 2, "num_channels": 6}, [(6,)], {}, "at least 2 dimensions"),
    ("Dropout", {"p": 1.5}, [(2, 3)], {}, "between 0 and 1"),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 10}, [(2,)], {}, "padding_idx"),
    ("Flatten", {}, [(3,)], {}, "start_dim"),
    ("Flatten", {"start_dim": 2, "end_dim": 1}, [(2, 3, 4)], {}, "not after end_dim"),
    ("Unflatten", {"dim": 1, "unflattened_size": (2, 3)}, [(3, 4)], {}, "to hold 4 elements, found 6"),
    ("Unflatten", {"dim": 1, "unflattened_size": (-1, -1)}, [(3, 4)], {}, "at most one -1"),
    ("Unflatten", {"dim": 2, "unflattened_size": (2, 2)}, [(3, 4)], {}, "expected dim in [-2, 1]"),
    ("Softmax", {"dim": 2}, [(2, 3)], {}, "expected dim in [-2, 1]"),
    ("RNN", {"input_size": 3, "hidden_size": 4}, [(5, 2, 4)], {}, "expected 3 input features"),
    ("RNN", {"input_size": 3, "hidden_size": 4}, [(5, 2, 1, 3)], {}, "expected 3 dimensions (L, N, H_in) or 2 (L, H_in)"),
    ("RNN", {"input_size": 3, "hidden_size": 4}, [(5, 2, 3)], {"hx": T((1, 3, 4))}, "expected hx of shape (1, 2, 4)"),
    ("RNN", {"input_size": 3, "hidden_size": 4}, [(5, 3)], {"hx": T((1, 1, 4))}, "expected hx of shape (1, 4)"),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "proj_size": 4}, [(5, 2, 3)], {}, "proj_size"),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "dropout": 2.0}, [(5, 2, 3)], {}, "dropout"),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 0}, [(5, 2, 3)], {}, "num_layers"),
    ("LSTM", {"input_size": 3, "hidden_size": 6, "proj_size": 2}, [(5, 2, 3)], {"hx": (T((1, 2, 6)), T((1, 2, 6)))}, "h_0 of shape (1, 2, 2)"),
    ("GRU", {"input_size": 3, "hidden_size": 4, "batch_first": True}, [(2, 5, 3)], {"hx": T((1, 5, 4))}, "expected hx of shape (1, 2, 4)"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 3}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {}, "divisible by num_heads"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 6), (6, 2, 8), (6, 2, 8)], {}, "8 features in the last dim of query"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 2, 8), (7, 2, 8)], {}, "agree in all but the last dim"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 3, 8), (6, 3, 8)], {}, "batch size"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 8), (6, 8)], {}, "3 dimensions like the query"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(1, 5, 2, 8), (6, 2, 8), (6, 2, 8)], {}, "expected 3 dimensions (L, N, E) or 2"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2, "kdim": 3}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {}, "3 features in the last dim of key"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {"attn_mask": T((5, 5))}, "attn_mask of shape (5, 6)"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (6, 2, 8), (6, 2, 8)], {"key_padding_mask": T((6, 2))}, "key_padding_mask of shape (2, 6)"),
    ("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}, [(5, 2, 8), (5, 2, 8), (5, 2, 8)], {"is_causal": True}, "attn_mask with is_causal"),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16}, [(5, 2, 6)], {}, "8 features"),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 3, "dim_feedforward": 16}, [(5, 2, 8)], {}, "divisible by num_heads"),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16}, [(5, 2, 8)], {"src_mask": T((4, 4))}, "attn_mask of shape (5, 5)"),
    ("TransformerEncoderLayer", {"d_model": 8, "nhead": 2, "dim_feedforward": 16}, [(5, 2, 8)], {"is_causal": True}, "attn_mask with is_causal"),
]


@pytest.mark.parametrize("name, kwargs, inputs, call, message", REJECTED, ids=[f"{e[0]}-{i}" for i, e in enumerate(REJECTED)])
def test_layer_rejects_what_torch_rejects(name: str, kwargs: dict, inputs: list, call: dict, message: str) -> None:
    value, error = _agree(name, kwargs, tuple(inputs), call)
    assert error is not None, f"torch accepts nn.{name}(**{kwargs}) on {inputs}"
    assert message in str(error)
    assert str(error).startswith("expected ")


def test_layer_checks_call_argument_kinds() -> None:
    lstm = LAYERS["LSTM"]
    ctor = _full(lstm.params, {"input_size": 3, "hidden_size": 4})
    with pytest.raises(ShapeError, match=r"expected hx to be a tuple of tensors or None, found a tensor"):
        lstm.shape(ctor, _full(lstm.call, {"input": T((5, 3)), "hx": T((1, 4))}))
    linear = LAYERS["Linear"]
    with pytest.raises(ShapeError, match="expected input to be a tensor, found 3"):
        linear.shape(_full(linear.params, {"in_features": 3, "out_features": 2}), {"input": 3})
    mha = LAYERS["MultiheadAttention"]
    bound = _full(mha.call, {"query": T((2, 8)), "key": T((2, 8)), "value": T((2, 8)), "need_weights": T((1,))})
    with pytest.raises(ShapeError, match="expected need_weights to be True or False"):
        mha.shape(_full(mha.params, {"embed_dim": 8, "num_heads": 2}), bound)


def test_unbatched_convolution_infers_channels_from_the_channel_dim() -> None:
    for name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d"):
        layer = LAYERS[name]
        n = int(name[-2])
        batched, unbatched = (2, 5) + (7,) * n, (5,) + (7,) * n
        assert batched[layer.inferred_dim] == unbatched[layer.inferred_dim] == 5


# ------------------------------------------------------------------ layers: random sweeps


def _sweep(rng: random.Random, n: int, transposed: bool) -> tuple[str, dict, tuple, dict]:
    pick = lambda: rng.choice([1, 1, 2, 3])  # noqa: E731
    per_dim = lambda f: f() if rng.random() < 0.5 else tuple(f() for _ in range(n))  # noqa: E731
    kwargs: dict[str, Any] = {
        "in_channels": rng.choice([1, 2, 4]),
        "out_channels": rng.choice([2, 4]),
        "kernel_size": per_dim(lambda: rng.randint(1, 5)),
        "stride": per_dim(pick),
        "dilation": per_dim(pick),
        "groups": rng.choice([1, 1, 2]),
    }
    spatial = tuple(rng.randint(1, 9) for _ in range(n))
    batch = (rng.randint(1, 2),) if rng.random() < 0.7 else ()
    inputs = (batch + (kwargs["in_channels"],) + spatial,)
    call: dict[str, Any] = {}
    if transposed:
        kwargs["padding"] = per_dim(lambda: rng.randint(0, 3))
        kwargs["output_padding"] = per_dim(lambda: rng.randint(0, 2))
        return f"ConvTranspose{n}d", kwargs, inputs, call
    kwargs["padding"] = rng.choice(["same", "valid", per_dim(lambda: rng.randint(0, 4))])
    kwargs["padding_mode"] = rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
    return f"Conv{n}d", kwargs, inputs, call


@pytest.mark.parametrize("n, transposed", [(1, False), (2, False), (3, False), (1, True), (2, True)])
def test_convolution_sweep(n: int, transposed: bool) -> None:
    rng = random.Random(n * 10 + transposed)
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(150 if n < 3 else 60):
        name, kwargs, inputs, call = _sweep(rng, n, transposed)
        value, error = _agree(name, kwargs, inputs, call)
        outcomes["ok" if error is None else "rejected"] += 1
    assert min(outcomes.values()) > 10, outcomes  # the sweep exercises both sides


@pytest.mark.parametrize("name", ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"])
def test_pooling_sweep(name: str) -> None:
    rng = random.Random(name)
    n = int(name[-2])
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(200):
        per_dim = lambda f: f() if rng.random() < 0.5 else tuple(f() for _ in range(n))  # noqa: E731
        kwargs: dict[str, Any] = {
            "kernel_size": per_dim(lambda: rng.randint(1, 5)),
            "stride": rng.choice([None, per_dim(lambda: rng.randint(1, 3))]),
            "padding": per_dim(lambda: rng.randint(0, 2)),
            "ceil_mode": rng.random() < 0.5,
        }
        if name.startswith("Max"):
            kwargs["dilation"] = per_dim(lambda: rng.randint(1, 3))
        else:
            kwargs["count_include_pad"] = rng.random() < 0.5
        batch = (1,) if rng.random() < 0.7 else ()
        inputs = (batch + (2,) + tuple(rng.randint(1, 9) for _ in range(n)),)
        value, error = _agree(name, kwargs, inputs)
        outcomes["ok" if error is None else "rejected"] += 1
    assert min(outcomes.values()) > 10, outcomes


def test_recurrent_sweep() -> None:
    rng = random.Random(7)
    for _ in range(60):
        name = rng.choice(["RNN", "LSTM", "GRU"])
        kwargs: dict[str, Any] = {
            "input_size": 3,
            "hidden_size": 4,
            "num_layers": rng.randint(1, 3),
            "bias": rng.random() < 0.5,
            "batch_first": rng.random() < 0.5,
            "bidirectional": rng.random() < 0.5,
        }
        if name == "LSTM":
            kwargs["proj_size"] = rng.choice([0, 2])
        shape = rng.choice([(5, 2, 3), (5, 3), (1, 1, 3)])
        _agree(name, kwargs, (shape,))


def test_attention_sweep() -> None:
    rng = random.Random(11)
    for _ in range(60):
        kwargs: dict[str, Any] = {
            "embed_dim": 8,
            "num_heads": rng.choice([1, 2, 4]),
            "bias": rng.random() < 0.5,
            "add_bias_kv": rng.random() < 0.5,
            "add_zero_attn": rng.random() < 0.5,
            "kdim": rng.choice([None, 3]),
            "vdim": rng.choice([None, 5]),
            "batch_first": rng.random() < 0.5,
        }
        k, v = kwargs["kdim"] or 8, kwargs["vdim"] or 8
        lead_q, lead_kv = ((2, 5), (2, 6)) if kwargs["batch_first"] else ((5, 2), (6, 2))
        if rng.random() < 0.3:
            lead_q, lead_kv = (5,), (6,)
        call = {"need_weights": rng.random() < 0.7, "average_attn_weights": rng.random() < 0.5}
        _agree("MultiheadAttention", kwargs, (lead_q + (8,), lead_kv + (k,), lead_kv + (v,)), call)


# ------------------------------------------------------------------ functions and methods


def _torch_callable(key: str) -> Any:
    module, _, attr = key.partition(".")
    return getattr(F if module == "F" else torch, attr)


def _examples() -> list[tuple[str, Function, dict]]:
    cases = []
    for table, prefix in ((FUNCTIONS, ""), (METHODS, "Tensor.")):
        for key, function in table.items():
            assert function.example, f"{key} has no example"
            cases += [(prefix + key, function, example) for example in function.example]
    return cases


def _run_torch(key: str, function: Function, values: dict[str, Any], positional: bool) -> Any:
    """Call torch with the given (already torch) values, by position or by keyword.

    Seeded first, so that random functions (torch.rand, ...) draw the same values both ways.

    By position, every parameter up to the last one given is passed (with our
    default where not given), so a wrong order in the catalogue shows. Those
    we take by position only go by position in both modes.
    """
    torch.manual_seed(0)
    params = list(function.params)
    if key.startswith("Tensor."):
        target, params = getattr(values["self"], function.name), params[1:]
    else:
        target = _torch_callable(function.name)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    by_position = [p for p in params if p.name not in function.keyword_only]
    last = max((i for i, p in enumerate(by_position) if p.name in values), default=-1)
    for i, param in enumerate(params):
        value = values.get(param.name, param.default)
        if value is OMITTED:
            positional = False  # no value stands for it: pass the rest by keyword
        elif (positional or param.name in function.positional_only) and param in by_position[: last + 1]:
            args.extend(value) if param.name == function.varargs else args.append(value)
        elif param.name in values:
            kwargs[param.name] = values[param.name]
    return target(*args, **kwargs)


@pytest.mark.parametrize("key, function, example", _examples(), ids=[c[0] for c in _examples()])
def test_function_example(key: str, function: Function, example: dict) -> None:
    values = {name: _torch_value(name, value) for name, value in example.items()}
    if function.name in ("log", "sqrt", "rsqrt"):
        values["self"] = values["self"].abs() + 1  # keep the values finite for the comparisons
    if function.name in ("torch.sqrt", "torch.rsqrt"):
        values["input"] = values["input"].abs() + 1
    expected = _as_shapes(_run_torch(key, function, values, positional=True))
    bound = _full(function.params, example)
    assert function.shape(bound) == expected
    # The names bind as in torch: calling by keyword gives the same result.
    if function.varargs is None or function.keyword_varargs:
        by_keyword = _run_torch(key, function, values, positional=False)
        torch.testing.assert_close(by_keyword, _run_torch(key, function, values, positional=True))
    else:
        with pytest.raises(TypeError):
            _run_torch(key, function, values, positional=False)
    # Keyword-only parameters really are: torch refuses them by position.
    for name in function.keyword_only & set(example):
        loose = Function(function.name, function.params, function.shape, varargs=function.varargs)
        with pytest.raises(TypeError):
            _run_torch(key, loose, values, positional=True)
    # Our defaults behave as torch's: passing them explicitly changes nothing.
    defaults = {
        p.name: p.default
        for p in function.params
        if p.name not in example and p.default not in (REQUIRED, OMITTED) and p.name != function.varargs
    }
    if defaults:
        explicit = _run_torch(key, function, {**values, **defaults}, positional=False)
        torch.testing.assert_close(explicit, _run_torch(key, function, values, positional=False), equal_nan=True)


def test_varargs_also_take_one_tuple() -> None:
    x = torch.randn(2, 3, 4)
    assert x.reshape((4, -1)).shape == x.reshape(4, -1).shape
    assert x.permute((2, 0, 1)).shape == x.permute(2, 0, 1).shape
    assert METHODS["permute"].shape({"self": T((2, 3, 4)), "dims": (2, 0, 1)}) == T((4, 2, 3))


def test_squeeze_dim_cannot_be_written_as_none() -> None:
    # Why squeeze's dim defaults to OMITTED rather than None.
    with pytest.raises(TypeError):
        torch.randn(2, 1).squeeze(dim=None)
    assert not check_kind(METHODS["squeeze"].params[1].kind, None)


@pytest.mark.parametrize("table", [FUNCTIONS, METHODS], ids=["functions", "methods"])
def test_function_signatures(table: dict[str, Function]) -> None:
    for key, function in table.items():
        assert function.name == key
        for param in function.params:
            describe_kind(param.kind)
            if param.default not in (REQUIRED, OMITTED):
                assert check_kind(param.kind, param.default), (key, param)
        if table is METHODS:
            assert function.params[0] == Param("self", "tensor")
            assert hasattr(torch.Tensor, key)
            continue
        try:
            theirs = list(inspect.signature(_torch_callable(key)).parameters.values())
        except ValueError:
            continue  # a builtin: the keyword calls in test_function_example check the names
        # Ours is a prefix of torch's, so positional calls bind alike.
        assert [p.name for p in function.params] == [p.name for p in theirs[: len(function.params)]], key
        for ours, their in zip(function.params, theirs):
            if ours.default is not REQUIRED:  # REQUIRED may be stricter (F.softmax's dim)
                assert ours.default == their.default, (key, ours)


FUNCTION_REJECTED = [
    ("torch.cat", {"tensors": (T((2, 3)), T((2, 4)))}, "expected tensors of one shape except in dim 0"),
    ("torch.cat", {"tensors": (T((2, 3)), T((2, 3, 1)))}, "expected tensors of one shape"),
    ("torch.cat", {"tensors": (T(()), T(()))}, "0-d tensor at position 0"),
    ("torch.cat", {"tensors": (T((2, 3)), T((2, 3))), "dim": 2}, "expected dim in [-2, 1]"),
    ("torch.stack", {"tensors": (T((2, 3)), T((3, 2)))}, "expected tensors of one shape"),
    ("torch.stack", {"tensors": (T((2, 3)), T((2, 3))), "dim": 3}, "expected dim in [-3, 2]"),
    ("torch.mm", {"input": T((2, 3)), "mat2": T((4, 5))}, "expected mat2 with 3 rows"),
    ("torch.mm", {"input": T((2, 3)), "mat2": T((3,))}, "expected two 2-d tensors"),
    ("torch.matmul", {"input": T((2, 3)), "other": T((4, 5))}, "expected the second operand's dim -2"),
    ("torch.matmul", {"input": T((2, 2, 3)), "other": T((3, 3, 5))}, "broadcastable"),
    ("torch.matmul", {"input": T(()), "other": T((3,))}, "at least 1 dimension"),
    ("F.softmax", {"input": T((2, 3)), "dim": 2}, "expected dim in [-2, 1]"),
    ("torch.flatten", {"input": T((2, 3, 4)), "start_dim": 2, "end_dim": 1}, "not after end_dim"),
    ("Tensor.reshape", {"self": T((2, 3)), "shape": (4, -1)}, "no size for -1"),
    ("Tensor.reshape", {"self": T((2, 3)), "shape": (-1, -1)}, "at most one -1"),
    ("Tensor.view", {"self": T((2, 3)), "shape": (5,)}, "to hold 6 elements, found 5"),
    ("Tensor.view", {"self": T((2, 3)), "shape": (-1, 0)}, "no size for -1"),
    ("Tensor.permute", {"self": T((2, 3, 4)), "dims": (0, 1)}, "expected 3 dims"),
    ("Tensor.permute", {"self": T((2, 3, 4)), "dims": (0, 0, 1)}, "distinct"),
    ("Tensor.transpose", {"self": T((2, 3)), "dim0": 0, "dim1": 2}, "expected dim1 in [-2, 1]"),
    ("Tensor.unsqueeze", {"self": T((2, 3)), "dim": 3}, "expected dim in [-3, 2]"),
    ("Tensor.squeeze", {"self": T((2, 3)), "dim": 2}, "expected dim in [-2, 1]"),
    ("Tensor.sum", {"self": T((2, 3)), "dim": (0, 0)}, "distinct"),
    ("Tensor.sum", {"self": T((2, 3)), "keepdim": True}, "expected dim to be given with keepdim"),
    ("Tensor.mean", {"self": T((2, 3)), "keepdim": False}, "expected dim to be given with keepdim"),
    ("Tensor.mean", {"self": T((2, 3)), "dim": -3}, "expected dim in [-2, 1]"),
    ("Tensor.t", {"self": T((2, 3, 4))}, "at most 2 dimensions"),
    ("Tensor.norm", {"self": T((2, 3, 4)), "p": "nuc"}, "2 dims"),
    ("Tensor.norm", {"self": T((2, 3, 4)), "p": "fro", "dim": (0, 1, 2)}, "2 dims"),
    ("Tensor.softmax", {"self": T((2, 3, 4)), "dim": 3}, "expected dim in [-3, 2]"),
    ("Tensor.repeat", {"self": T((2, 3)), "repeats": (4,)}, "expected at least 2 repeat counts"),
    ("Tensor.repeat", {"self": T((2, 3)), "repeats": (2, -1)}, "expected repeat counts of at least 0"),
    ("Tensor.split", {"self": T((2, 12)), "split_size": (4, 4), "dim": 1}, "expected split sizes that sum to 12"),
    ("Tensor.split", {"self": T((2, 12)), "split_size": 4, "dim": 2}, "expected dim in [-2, 1]"),
    ("Tensor.split", {"self": T(()), "split_size": 1}, "at least one dimension"),
    ("Tensor.pow", {"self": T((2,), "long"), "exponent": -1}, "non-negative exponent"),
    ("F.scaled_dot_product_attention", {"query": T((2, 5, 8)), "key": T((2, 6, 4)), "value": T((2, 6, 8))}, "one embedding size"),
    ("F.scaled_dot_product_attention", {"query": T((2, 5, 8)), "key": T((2, 6, 8)), "value": T((2, 7, 8))}, "one length"),
    ("F.scaled_dot_product_attention", {"query": T((2, 5, 8)), "key": T((2, 6, 8)), "value": T((2, 6, 8)), "attn_mask": T((5, 5), "bool")}, "broadcastable to the scores"),
    (
        "F.scaled_dot_product_attention",
        {"query": T((2, 5, 8)), "key": T((2, 5, 8)), "value": T((2, 5, 8)), "attn_mask": T((5, 5), "bool"), "is_causal": True},
        "attn_mask=None with is_causal=True",
    ),
    ("F.scaled_dot_product_attention", {"query": T((5, 8), "long"), "key": T((5, 8), "long"), "value": T((5, 8), "long")}, "expected float query"),
    (
        "F.scaled_dot_product_attention",
        {"query": T((2, 4, 5, 8)), "key": T((2, 4, 6, 8)), "value": T((2, 4, 6, 8)), "attn_mask": T((6,), "bool")},
        "at least 2 dimensions with a 4-d query",
    ),
]


@pytest.mark.parametrize("key, example, message", FUNCTION_REJECTED, ids=[f"{e[0]}-{i}" for i, e in enumerate(FUNCTION_REJECTED)])
def test_function_rejects_what_torch_rejects(key: str, example: dict, message: str) -> None:
    table, name = (METHODS, key[len("Tensor.") :]) if key.startswith("Tensor.") else (FUNCTIONS, key)
    function = table[name]
    values = {n: _torch_value(n, v) for n, v in example.items()}
    for positional in (True, False):
        with pytest.raises(Exception):
            _run_torch(key, function, values, positional=positional)
    with pytest.raises(ShapeError) as info:
        function.shape(_full(function.params, example))
    assert message in str(info.value) and str(info.value).startswith("expected ")


def test_empty_varargs_are_refused() -> None:
    # torch refuses x.reshape() and x.permute() but takes x.reshape(()); once
    # bound the two look alike, so both are refused (deliberately stricter).
    x = torch.randn(1, 1)
    with pytest.raises(TypeError):
        x.reshape()
    with pytest.raises(TypeError):
        x.permute()
    with pytest.raises(ShapeError, match="expected the new shape as one or more ints, found ()"):
        METHODS["reshape"].shape({"self": T((1, 1)), "shape": ()})
    with pytest.raises(ShapeError, match=r"expected 0 dims \(one per dimension of \(\)\), found \(\)"):
        METHODS["permute"].shape({"self": T(()), "dims": ()})


def test_function_checks_argument_kinds() -> None:
    # The analyser lets tensors through to any parameter; the rule must refuse them.
    with pytest.raises(ShapeError, match="expected dim to be an int or a tuple of ints, or None"):
        METHODS["sum"].shape({"self": T((2, 3)), "dim": T((1,)), "keepdim": False})
    with pytest.raises(ShapeError, match="expected tensors to be a tuple of tensors"):
        FUNCTIONS["torch.cat"].shape({"tensors": (T((2,)), 3), "dim": 0})
    with pytest.raises(ShapeError, match="expected the new shape as one or more ints"):
        METHODS["reshape"].shape({"self": T((2, 3)), "shape": (T((1,)),)})
    with pytest.raises(ShapeError, match="expected 2 dims"):
        METHODS["permute"].shape({"self": T((2, 3)), "dims": (0, 1.0)})


def _random_call(rng: random.Random) -> tuple[str, dict[str, Any]]:
    shape = tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 4)))
    some_dim = lambda: rng.randint(-len(shape) - 1, len(shape))  # noqa: E731  (sometimes out of range)
    dims = lambda: tuple(some_dim() for _ in range(rng.randint(1, 3)))  # noqa: E731
    name = rng.choice(["sum", "mean", "norm", "squeeze", "unsqueeze", "transpose", "flatten", "softmax", "t", "permute", "reshape", "repeat"])
    args: dict[str, Any] = {"self": T(shape)}
    if name in ("sum", "mean", "norm"):
        if rng.random() < 0.7:
            args["dim"] = rng.choice([None, some_dim(), dims()])
            if rng.random() < 0.5:
                args["keepdim"] = rng.random() < 0.5
        if name == "norm" and rng.random() < 0.6:
            args["p"] = rng.choice(["fro", "nuc", 1, 2.5, None])
    elif name in ("squeeze", "unsqueeze", "softmax"):
        if name != "squeeze" or rng.random() < 0.7:
            args["dim"] = some_dim() if name != "squeeze" or rng.random() < 0.5 else dims()
    elif name == "transpose":
        args["dim0"], args["dim1"] = some_dim(), some_dim()
    elif name == "flatten":
        args["start_dim"], args["end_dim"] = some_dim(), some_dim()
    elif name == "permute":
        order = list(range(len(shape)))
        rng.shuffle(order)
        args["dims"] = tuple(order) if rng.random() < 0.7 and order else dims()
    elif name == "repeat":  # sometimes fewer counts than dims, sometimes a negative one
        args["repeats"] = tuple(rng.randint(-1 if rng.random() < 0.1 else 0, 3) for _ in range(rng.randint(max(len(shape) - 1, 1), len(shape) + 2)))
    elif name == "reshape":
        total = math.prod(shape)
        args["shape"] = rng.choice([(total,), (-1,), (total, -1), (1, -1, 1), (2, -1), (-1, -1)])
    return name, args


def test_method_sweep() -> None:
    rng = random.Random(13)
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(600):
        name, example = _random_call(rng)
        function = METHODS[name]
        values = {n: _torch_value(n, v) for n, v in example.items()}
        where = f"Tensor.{name} with {example}"
        try:
            expected = _as_shapes(_run_torch("Tensor." + name, function, values, positional=function.varargs is not None))
        except (RuntimeError, IndexError, TypeError) as exc:
            with pytest.raises(ShapeError):
                print(where, "torch:", exc)
                function.shape(_full(function.params, example))
            outcomes["rejected"] += 1
        else:
            assert function.shape(_full(function.params, example)) == expected, where
            outcomes["ok"] += 1
    assert min(outcomes.values()) > 50, outcomes


# ------------------------------------------------------------------ broadcasting and matmul


def _shapes(rng: random.Random, low: int = 0) -> tuple[int, ...]:
    return tuple(rng.choice([1, 2, 3]) for _ in range(rng.randint(low, 4)))


def _compare(ours: Any, theirs: Any) -> None:
    try:
        expected = tuple(theirs().shape)
    except RuntimeError:
        with pytest.raises(ShapeError):
            ours()
    else:
        assert ours() == expected


def test_broadcast_sweep() -> None:
    rng = random.Random(3)
    for _ in range(300):
        a, b = _shapes(rng), _shapes(rng)
        _compare(lambda: broadcast(a, b), lambda: torch.randn(a) + torch.randn(b))


def test_matmul_sweep() -> None:
    rng = random.Random(5)
    for _ in range(400):
        a, b = _shapes(rng), _shapes(rng)
        _compare(lambda: matmul_shape(a, b), lambda: torch.randn(a) @ torch.randn(b))


# ------------------------------------------------------------------ kinds


@pytest.mark.parametrize(
    "kind, good, bad",
    [
        ("int", [0, -3, 7], [True, 1.0, "1", None, (1,)]),
        ("float", [0, 1.5, -2], [True, math.nan, math.inf, "1", None]),
        ("bool", [True, False], [0, 1, None]),
        ("int?", [None, 3], [False, 2.5]),
        ("float?", [None, 0.1], [True]),
        ("str:zeros|reflect", ["zeros", "reflect"], ["circular", 0, None]),
        ("ints", [(), (1, -1, 2)], [(1, True), 3, (1.0,)]),
        ("int|ints", [3, (2,), (2, 3, 4)], [(), True, (1, None)]),
        ("int|ints:2", [3, (2, 3)], [(2,), (2, 3, 4), (True, 1)]),
        ("int|ints:2?", [None, 1], ["same"]),
        ("padding:2", [0, (1, 2), "same", "valid"], [(1,), "full", None]),
        ("size:2", [4, (None, 3), (None, None)], [None, (3,), (3, True)]),
        ("size:1", [4, (3,)], [(None,), None]),
        ("norm", ["fro", "nuc", 2, 0.5], [None, "max", True]),
        ("norm?", [None], ["max"]),
        ("tensor", [T((2,))], [None, 3]),
        ("tensor?", [None, T(())], [(T((2,)),)]),
        ("tensors", [(T((2,)),), (T((2,)), T((3,)))], [(), T((2,)), (T((2,)), 3)]),
    ],
)
def test_check_kind(kind: str, good: list, bad: list) -> None:
    for value in good:
        assert check_kind(kind, value), (kind, value)
    for value in bad:
        assert not check_kind(kind, value), (kind, value)


def test_describe_kind() -> None:
    assert describe_kind("int") == "an int"
    assert describe_kind("int|ints:2") == "an int or a tuple of 2 ints"
    assert describe_kind("int|ints:1?") == "an int or a tuple of 1 int, or None"
    assert describe_kind("int?") == "an int or None"
    assert describe_kind("padding:2") == "an int, a tuple of 2 ints, 'same' or 'valid'"
    assert describe_kind("str:zeros|reflect|circular") == "'zeros', 'reflect' or 'circular'"
    with pytest.raises(ValueError):
        check_kind("integer", 1)


# ------------------------------------------------------------------ start-up


def test_catalogue_does_not_import_torch() -> None:
    code = "import sys, codegen.catalogue; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_entries_are_layers() -> None:
    assert all(isinstance(layer, Layer) for layer in LAYERS.values())
    assert {
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d",
        "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
        "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "Embedding", "Flatten", "Unflatten",
        "Identity", "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "RNN", "LSTM",
        "GRU", "MultiheadAttention", "TransformerEncoderLayer", "LazyLinear", "LazyConv2d", "LazyBatchNorm2d",
    } == set(LAYERS)


# ------------------------------------------------------------------ dtypes


KINDS = ("bool", "long", "float")


def _with_kind(example: dict, kind: str, only_first: bool) -> dict:
    out, seen = {}, False
    for name, value in example.items():
        if isinstance(value, Tensor) and not (only_first and seen):
            value, seen = Tensor(value.shape, kind), True
        elif isinstance(value, tuple) and value and all(isinstance(v, Tensor) for v in value) and not (only_first and seen):
            value, seen = tuple(Tensor(v.shape, kind) for v in value), True
        out[name] = value
    return out


def test_dtype_policies_agree_with_torch() -> None:
    """Every example again with its tensors made bool, long or float: torch and the rule fail together or agree."""
    checked = {"agree": 0, "both refuse": 0}
    for key, function, example in _examples():
        for kind in KINDS:
            for only_first in (True, False):
                changed = _with_kind(example, kind, only_first)
                if changed == example:
                    continue
                values = {n: _torch_value(n, v) for n, v in changed.items()}
                where = f"{key} with {changed}"
                try:
                    expected = _as_shapes(_run_torch(key, function, values, positional=True))
                except Exception as exc:  # RuntimeError, TypeError, NotImplementedError, ...
                    with pytest.raises(ShapeError):
                        print(where, "torch:", exc)
                        function.shape(_full(function.params, changed))
                    checked["both refuse"] += 1
                else:
                    assert function.shape(_full(function.params, changed)) == expected, where
                    checked["agree"] += 1
    assert min(checked.values()) > 40, checked


def _operand(rng: random.Random, tensor: bool) -> Any:
    if tensor:
        return Tensor(_shapes(rng), rng.choice(KINDS))
    return rng.choice([True, False, 0, 2, -3, 0.5, -1.5])


OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a**b, "@": lambda a, b: a @ b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def test_operator_sweep() -> None:
    """Operators on tensors and scalars: shapes broadcast, dtypes promote, refusals as torch's."""
    from codegen.catalogue import operator_result

    rng = random.Random(17)
    outcomes = {"ok": 0, "rejected": 0, "stricter": 0}
    for _ in range(1500):
        op = rng.choice(list(OPERATORS))
        left_tensor = rng.random() < 0.8
        left, right = _operand(rng, left_tensor), _operand(rng, not left_tensor or rng.random() < 0.7)
        where = f"{describe(left)} {op} {describe(right)}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                divisor = _torch_value("y", right)
                if op in ("//", "%") and isinstance(right, Tensor):
                    divisor = torch.ones_like(divisor)  # dividing integers by a zero fails on the data, not the dtype
                expected = _as_shapes(OPERATORS[op](_torch_value("x", left), divisor))
        except (RuntimeError, TypeError) as exc:
            with pytest.raises(ShapeError):
                print(where, "torch:", exc)
                operator_result(op, left, right)
            outcomes["rejected"] += 1
            continue
        try:
            ours = operator_result(op, left, right)
        except ShapeError:
            # Deliberately stricter: ** on bools alone (torch takes a bool tensor ** True).
            assert op == "**" and all(isinstance(v, bool) or v.dtype == "bool" for v in (left, right) if isinstance(v, (Tensor, bool))), where
            outcomes["stricter"] += 1
            continue
        assert ours == expected, where
        outcomes["ok"] += 1
    assert outcomes["ok"] > 500 and outcomes["rejected"] > 100, outcomes


def describe(value: Any) -> str:
    return f"{value.dtype}{value}" if isinstance(value, Tensor) else repr(value)


@pytest.mark.parametrize("op", ["-", "+", "~"])
@pytest.mark.parametrize("kind", KINDS)
def test_unary_operators(op: str, kind: str) -> None:
    from codegen.catalogue import unary_result

    x = Tensor((2, 3), kind)
    torch_op = {"-": lambda t: -t, "+": lambda t: +t, "~": lambda t: ~t}[op]
    try:
        expected = _as_shapes(torch_op(_torch_value("x", x)))
    except (RuntimeError, TypeError):
        with pytest.raises(ShapeError):
            unary_result(op, x)
    else:
        assert unary_result(op, x) == expected


def test_promotion_counts_scalars_by_category() -> None:
    from codegen.catalogue import promote

    assert promote(Tensor((2,), "long"), 2.5) == "float"
    assert promote(Tensor((2,), "bool"), 1) == "long"
    assert promote(Tensor((2,), "bool"), True) == "bool"
    assert (torch.zeros(2, dtype=torch.long) + 2.5).dtype == torch.float32
    assert (torch.zeros(2, dtype=torch.bool) + 1).dtype == torch.long


def test_arange_with_one_argument_counts_from_zero() -> None:
    # torch calls the lone argument `end`; bound here as `start`, the rule reads it as the end.
    arange = FUNCTIONS["torch.arange"]
    for end in (5, 2.5, 0):
        expected = _as_shapes(torch.arange(end))
        assert arange.shape(_full(arange.params, {"start": end})) == expected
    with pytest.raises(TypeError):
        torch.arange(start=5)


def test_to_takes_a_dtype_or_device_by_position_only() -> None:
    # Tensor.to's overloads call the first position `dtype` or `device`: a keyword would have to be the right one.
    x = torch.zeros(2)
    with pytest.raises(TypeError):
        x.to(dtype=torch.device("cpu"))
    assert METHODS["to"].positional_only == frozenset({"dtype"})


@pytest.mark.filterwarnings("ignore:.*Tensor.T is deprecated on 0-D:UserWarning", "ignore:The use of `x.T` on tensors:UserWarning")  # on purpose
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_T_agrees_with_torch_up_to_2_dims(shape: tuple) -> None:
    from codegen.catalogue import transposed

    x = torch.randn(shape)
    if len(shape) > 2:
        # Deprecated in torch (a warning now, an error later): refused here.
        always = torch.is_warn_always_enabled()
        torch.set_warn_always(True)  # torch warns once per process
        try:
            with pytest.warns(UserWarning, match="deprecated"):
                x.T
        finally:
            torch.set_warn_always(always)
        with pytest.raises(ShapeError, match="at most 2 dimensions"):
            transposed(Tensor(shape))
    else:
        assert transposed(Tensor(shape, "long")) == Tensor(tuple(x.T.shape), "long")


# ------------------------------------------------------------------ indexing


def _index_item(rng: random.Random, size: int) -> Any:
    choice = rng.random()
    if choice < 0.25:
        return rng.randint(-size - 1, size)  # sometimes out of range
    if choice < 0.5:
        pick = lambda: rng.choice([None, None, rng.randint(-size - 1, size + 1)])  # noqa: E731
        return slice(pick(), pick(), rng.choice([None, None, 1, 2, 3, -1, 0]))
    if choice < 0.6:
        return None
    if choice < 0.65:
        return Ellipsis
    if choice < 0.85:
        return Tensor(tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 2))), "long")
    if choice < 0.95:
        return Tensor(tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 2))), "bool")
    return Tensor((2,), "float")


def _torch_index(item: Any) -> Any:
    if isinstance(item, Tensor):
        if item.dtype == "long":
            return torch.zeros(item.shape, dtype=torch.long)  # 0 is in range of every dim
        return _torch_value("i", item)
    return item


def _random_index(rng: random.Random) -> tuple[Tensor, Any]:
    x = Tensor(tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 4))), rng.choice(KINDS))
    items = tuple(_index_item(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 4)))
    return x, items[0] if len(items) == 1 and rng.random() < 0.5 else items


def test_index_sweep() -> None:
    """x[index] for random indices (ints, slices, None, ..., long and bool tensors): the shape torch gives."""
    from codegen.catalogue import index_shape

    rng = random.Random(23)
    outcomes = {"ok": 0, "rejected": 0, "mask": 0}
    for _ in range(2500):
        x, index = _random_index(rng)
        where = f"{describe(x)}[{index}]"
        torch_index = tuple(map(_torch_index, index)) if isinstance(index, tuple) else _torch_index(index)
        try:
            expected = _as_shapes(_torch_value("x", x)[torch_index])
        except (IndexError, RuntimeError, ValueError, TypeError) as exc:
            with pytest.raises(ShapeError):
                print(where, "torch:", exc)
                index_shape(x, index)
            outcomes["rejected"] += 1
            continue
        items = index if isinstance(index, tuple) else (index,)
        if sum(i is Ellipsis for i in items) > 1:
            # Deliberately stricter: torch takes x[..., 0, ...] (NumPy refuses it); nobody means it.
            with pytest.raises(ShapeError, match="at most one ..."):
                index_shape(x, index)
            continue
        if any(isinstance(i, Tensor) and i.dtype == "bool" for i in items):
            # How many elements a mask picks depends on the data: refused when reading.
            with pytest.raises(ShapeError, match="no bool mask when reading"):
                index_shape(x, index)
            outcomes["mask"] += 1
            continue
        assert index_shape(x, index) == expected, where
        outcomes["ok"] += 1
    assert outcomes["ok"] > 500 and outcomes["rejected"] > 500 and outcomes["mask"] > 25, outcomes


def test_setitem_sweep() -> None:
    """x[index] = value: accepted where torch accepts it (the value broadcast, dtypes as torch copies them)."""
    from codegen.catalogue import check_setitem

    rng = random.Random(29)
    outcomes = {"ok": 0, "rejected": 0, "stricter": 0}
    for _ in range(2500):
        x, index = _random_index(rng)
        if rng.random() < 0.4:
            value: Any = rng.choice([True, 0, -1e6, 2.5])
        else:
            value = Tensor(tuple(rng.choice([1, 1, 2, 3]) for _ in range(rng.randint(0, 3))), rng.choice(KINDS))
        where = f"{describe(x)}[{index}] = {describe(value)}"
        torch_index = tuple(map(_torch_index, index)) if isinstance(index, tuple) else _torch_index(index)
        target = _torch_value("x", x)
        items = index if isinstance(index, tuple) else (index,)
        if sum(i is Ellipsis for i in items) > 1:
            continue  # refused, as test_index_sweep shows
        try:
            target[torch_index] = _torch_value("v", value)
        except (IndexError, RuntimeError, ValueError, TypeError) as exc:
            with pytest.raises(ShapeError):
                print(where, "torch:", exc)
                check_setitem(x, index, value)
            outcomes["rejected"] += 1
            continue
        try:
            check_setitem(x, index, value)
        except ShapeError as exc:
            # Deliberately stricter: a mask with other index tensors (torch pairs its True places with them).
            assert "as the only index tensor" in str(exc), where
            outcomes["stricter"] += 1
            continue
        outcomes["ok"] += 1
    assert outcomes["ok"] > 300 and outcomes["rejected"] > 300, outcomes


def test_masked_assignment_as_the_book_writes_it() -> None:
    from codegen.catalogue import check_setitem

    x = torch.randn(6, 4)
    mask = torch.arange(4, dtype=torch.float32)[None, :] < torch.tensor([1, 2, 3, 4, 1, 2])[:, None]
    x[~mask] = -1e6
    check_setitem(Tensor((6, 4)), Tensor((6, 4), "bool"), -1e6)
    with pytest.raises(ShapeError, match=r"mask of shape \(6, 4\)"):
        check_setitem(Tensor((6, 4)), Tensor((4, 6), "bool"), -1e6)


def test_lazy_layer_keeps_the_size_of_its_first_input() -> None:
    layer = LAYERS["LazyLinear"]
    ctor = _full(layer.params, {"out_features": 4})
    assert layer.parameters(ctor) == 0  # not materialised yet
    assert layer.shape(ctor, {"input": T((2, 3))}) == T((2, 4))
    assert layer.parameters(ctor) == 3 * 4 + 4
    module = nn.LazyLinear(4)
    module(torch.randn(2, 3))
    with pytest.raises(RuntimeError):
        module(torch.randn(2, 5))
    with pytest.raises(ShapeError, match="expected 3 input features"):
        layer.shape(ctor, {"input": T((2, 5))})


@pytest.mark.parametrize("name", ["Linear", "LazyLinear", "Conv2d", "LayerNorm", "Dropout"])
@pytest.mark.parametrize("kind", ["bool", "long"])
def test_layers_refuse_integer_and_bool_inputs(name: str, kind: str) -> None:
    kwargs, inputs = LAYERS[name].example
    module = getattr(nn, name)(**kwargs)
    with pytest.raises(RuntimeError):
        module(_torch_value("input", Tensor(inputs[0], kind)))
    layer = LAYERS[name]
    with pytest.raises(ShapeError, match="expected a floating-point input"):
        layer.shape(_full(layer.params, kwargs), _full(layer.call, {"input": Tensor(inputs[0], kind)}))


def test_reserved_names_cover_the_installed_modules_attributes() -> None:
    """A member or Sequential child of one of these names would shadow an attribute, or add_module would refuse it."""
    from codegen.expressions import RESERVED, SEQUENTIAL_METHODS

    module = {n for n in dir(nn.Module()) if not n.startswith("_")}
    assert module <= RESERVED, sorted(module - RESERVED)
    sequential = {n for n in dir(nn.Sequential()) if not n.startswith("_")} - module
    assert sequential == SEQUENTIAL_METHODS
    for name in SEQUENTIAL_METHODS | {"forward", "_modules"}:  # what E310 refuses, torch refuses too
        with pytest.raises(KeyError, match="already exists"):
            nn.Sequential(nn.ReLU()).add_module(name, nn.ReLU())
