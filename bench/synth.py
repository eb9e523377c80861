"""Synthetic specs for the scale benchmark: ``python -m bench.synth N DIR``.

Writes N varied, realistic specs (each generating a module of about 35
lines) into the folder DIR:

* ``mlp_NNNN``   (40 %) MLPs of 2-4 linear layers, different sizes and
  activations, some with dropout or layer norm, forward written out;
* ``cnn_NNNN``   (25 %) small CNNs: conv / batch norm / ReLU / pooling
  stages in a Sequential, then a linear head whose in_features is inferred;
* ``block_NNNN`` (20 %) MLP blocks with constructor arguments and a repeat
  (``for i in range(num_layers)``);
* ``conv_NNNN``  (10 %) VGG-style conv blocks with arguments and a repeat;
* ``stack_NNNN`` ( 5 %) a block that uses an earlier synthetic MLP by name.

Everything is deterministic (seeded by the spec's index), so the same N
gives the same bytes on every machine. ``spec(i, variant)`` returns one
spec's JSON document; a different ``variant`` changes only a hidden size,
which is what the incremental benchmark toggles.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

SCHEMA = "../codegen/spec.schema.json"
ACTIVATIONS = [("ReLU", "F.relu"), ("GELU", "F.gelu"), ("Tanh", "torch.tanh"), ("SiLU", "F.silu"), ("Sigmoid", "torch.sigmoid")]
SIZES = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]


def kind(i: int) -> str:
    """The kind of spec number ``i`` (a fixed pattern over 20 slots)."""
    slot = i % 20
    if slot < 8:
        return "mlp"
    if slot < 13:
        return "cnn"
    if slot < 17:
        return "block"
    if slot < 19:
        return "conv"
    return "stack"


def stem(i: int) -> str:
    return f"{kind(i)}_{i:04d}"


def class_name(i: int) -> str:
    return f"{kind(i).capitalize()}{i:04d}"


def _mlp_dims(i: int, variant: int = 0) -> list[int]:
    rng = random.Random(f"mlp-{i}")
    depth = rng.choice([2, 3, 3, 4])
    dims = [rng.choice(SIZES) for _ in range(depth)] + [rng.choice([2, 5, 10, 16, 32])]
    dims[1] += 8 * variant  # the first hidden size: what the incremental benchmark changes
    return dims


def _mlp(i: int, variant: int) -> dict[str, Any]:
    rng = random.Random(f"mlp-body-{i}")
    dims = _mlp_dims(i, variant)
    act_layer, act_fn = rng.choice(ACTIVATIONS)
    layers: dict[str, Any] = {}
    body: list[dict[str, Any]] = []
    names = [f"fc{k + 1}" for k in range(len(dims) - 1)]
    norm = rng.random() < 0.3
    dropout = rng.random() < 0.4
    p = rng.choice([0.1, 0.2, 0.5])
    for k, name in enumerate(names):
        layers[name] = {"type": "Linear", "args": {"in_features": dims[k], "out_features": dims[k + 1]}}
        if k == 0:
            layers[name]["doc"] = f"input projection to {dims[1]} units"
            if norm:
                layers["norm"] = {"type": "LayerNorm", "args": {"normalized_shape": dims[1]}}
            if dropout:
                layers["drop"] = {"type": "Dropout", "args": {"p": p}}
    value = "X"
    for k, name in enumerate(names[:-1]):
        value = f"self.{name}(H)" if k else f"self.{name}(X)"
        if k == 0 and norm:
            value = f"self.norm({value})"
        body.append({"assign": "H", "value": f"{act_fn}({value})"})
        if dropout and k == 0:
            body.append({"assign": "H", "value": "self.drop(H)"})
    body.append({"return": f"self.{names[-1]}(H)"})
    batch = rng.choice([1, 2, 4, 8])
    return {
        "$schema": SCHEMA,
        "name": class_name(i),
        "doc": f"A synthetic MLP ({' -> '.join(map(str, dims))}) with {act_layer} activations.",
        "layers": layers,
        "forward": {"inputs": ["X"], "body": body},
        "example": {"inputs": {"X": [batch, dims[0]]}, "output": [batch, dims[-1]]},
    }


def _cnn(i: int, variant: int) -> dict[str, Any]:
    rng = random.Random(f"cnn-{i}")
    channels = rng.choice([1, 3])
    c1, c2 = rng.choice([8, 16, 32]) + 8 * variant, rng.choice([16, 32, 64])
    norm = rng.random() < 0.5
    size = rng.choice([16, 28, 32])
    act = rng.choice(["ReLU", "SiLU", "GELU"])
    pool = rng.choice(["MaxPool2d", "AvgPool2d"])
    classes = rng.choice([10, 100])
    layers: list[dict[str, Any]] = []
    for cin, cout in ((channels, c1), (c1, c2)):
        layers.append({"type": "Conv2d", "args": {"in_channels": cin, "out_channels": cout, "kernel_size": 3, "padding": 1}})
        if norm:
            layers.append({"type": "BatchNorm2d", "args": {"num_features": cout}})
        layers.append({"type": act})
        layers.append({"type": pool, "args": {"kernel_size": 2, "stride": 2}})
    layers += [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": classes}}]
    return {
        "$schema": SCHEMA,
        "name": class_name(i),
        "doc": f"A synthetic CNN: two conv stages ({c1}, {c2} channels) with {act}, then a linear head.\n\nThe head's in_features is inferred from the shapes.",
        "layers": {"net": {"type": "Sequential", "layers": layers}},
        "forward": {"inputs": ["X"], "body": [{"return": "self.net(X)"}]},
        "example": {"inputs": {"X": [2, channels, size, size]}, "output": [2, classes]},
    }


def _block(i: int, variant: int) -> dict[str, Any]:
    rng = random.Random(f"block-{i}")
    hidden = rng.choice(SIZES) + 8 * variant
    act = rng.choice(["ReLU", "GELU", "SiLU", "Tanh"])
    in_features, out_features, num_layers = rng.choice(SIZES), rng.choice([1, 10, 64]), rng.choice([1, 2, 3])
    return {
        "$schema": SCHEMA,
        "name": class_name(i),
        "doc": f"A synthetic deep MLP block: num_layers linear layers of {hidden} units with {act}, then a projection.",
        "args": {
            "in_features": {"type": "int", "doc": "input features"},
            "out_features": {"type": "int", "doc": "output features"},
            "num_layers": {"type": "int", "default": 2, "doc": "hidden layers"},
            "hidden": {"type": "int", "default": hidden, "doc": "hidden units"},
        },
        "layers": {
            "body": {"type": "Sequential", "layers": [
                {"for": "i", "in": "range(num_layers)", "layers": [
                    {"type": "Linear", "args": {"in_features": "in_features if i == 0 else hidden", "out_features": "hidden"}},
                    {"type": act},
                ]},
            ]},
            "head": {"type": "Linear", "args": {"in_features": "hidden", "out_features": "out_features"}, "doc": "projection"},
        },
        "forward": {"inputs": ["X"], "body": [{"return": "self.head(self.body(X))"}]},
        "example": {
            "args": {"in_features": in_features, "out_features": out_features, "num_layers": num_layers},
            "inputs": {"X": [4, in_features]},
            "output": [4, out_features],
        },
    }


def _conv(i: int, variant: int) -> dict[str, Any]:
    rng = random.Random(f"conv-{i}")
    in_channels, out_channels = rng.choice([3, 8, 16]), rng.choice([8, 16, 32]) + 8 * variant
    num_convs = rng.choice([1, 2, 3])
    return {
        "$schema": SCHEMA,
        "name": class_name(i),
        "doc": "A synthetic VGG-style block: num_convs 3 x 3 convolutions with batch norm and ReLU, then pooling.",
        "args": {
            "num_convs": {"type": "int", "doc": "number of convolutions"},
            "in_channels": {"type": "int", "doc": "input channels"},
            "out_channels": {"type": "int", "doc": "output channels of every convolution"},
        },
        "layers": {
            "net": {"type": "Sequential", "layers": [
                {"for": "i", "in": "range(num_convs)", "layers": [
                    {"type": "Conv2d", "args": {"in_channels": "in_channels if i == 0 else out_channels", "out_channels": "out_channels", "kernel_size": 3, "padding": 1}},
                    {"type": "BatchNorm2d", "args": {"num_features": "out_channels"}},
                    {"type": "ReLU"},
                ]},
                {"type": "MaxPool2d", "args": {"kernel_size": 2, "stride": 2}},
            ]}
        },
        "forward": {"inputs": ["X"], "body": [{"return": "self.net(X)"}]},
        "example": {
            "args": {"num_convs": num_convs, "in_channels": in_channels, "out_channels": out_channels},
            "inputs": {"X": [1, in_channels, 16, 16]},
            "output": [1, out_channels, 8, 8],
        },
    }


def used_by_stack(i: int) -> int:
    """The earlier MLP spec that stack spec ``i`` uses."""
    return (i - 19) - 20 * (i // 40 % 3)  # an "mlp" slot (i % 20 == 0) one to three rounds back


def _stack(i: int, variant: int) -> dict[str, Any]:
    rng = random.Random(f"stack-{i}")
    used = used_by_stack(i)
    dims = _mlp_dims(used)
    head = rng.choice([2, 10, 20]) + variant
    return {
        "$schema": SCHEMA,
        "name": class_name(i),
        "doc": f"A synthetic composite: {class_name(used)} as a trunk, then a residual-free linear head.",
        "layers": {
            "trunk": {"type": class_name(used), "doc": "another synthetic spec, used by name"},
            "head": {"type": "Linear", "args": {"in_features": dims[-1], "out_features": head}},
        },
        "forward": {"inputs": ["X"], "body": [{"return": "self.head(F.relu(self.trunk(X)))"}]},
        "example": {"inputs": {"X": [2, dims[0]]}, "output": [2, head]},
    }


_BUILDERS = {"mlp": _mlp, "cnn": _cnn, "block": _block, "conv": _conv, "stack": _stack}


def spec(i: int, variant: int = 0) -> dict[str, Any]:
    return _BUILDERS[kind(i)](i, variant)


def spec_bytes(i: int, variant: int = 0) -> bytes:
    return (json.dumps(spec(i, variant), indent=2) + "\n").encode()


def standalone(n: int) -> int:
    """An MLP spec among the first ``n`` that uses no other spec and that no other spec uses."""
    used = {used_by_stack(i) for i in range(n) if kind(i) == "stack"}
    for i in range(n - 1, -1, -1):
        if kind(i) == "mlp" and i not in used:
            return i
    raise ValueError(f"no standalone MLP among {n} specs")


def write(n: int, folder: Path) -> list[Path]:
    """Write ``n`` synthetic specs into ``folder`` (created); return their paths."""
    if n < 20:
        raise ValueError("write at least 20 specs, so every kind appears")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{stem(i)}.json"
        path.write_bytes(spec_bytes(i))
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.synth N DIR", file=sys.stderr)
        return 2
    try:
        paths = write(int(argv[0]), Path(argv[1]))
    except ValueError as exc:
        print(f"bench.synth: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} specs to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
