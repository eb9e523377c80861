"""Issue 11's modern CNN blocks and builder functions against the book's code (tests/reference/d2l_builders.py).

Lazy layers are materialised by one forward on each side, the reference's
state_dict is loaded into the generated block (the keys must be equal), then
outputs, parameter and input gradients and the batch-norm statistics must be
equal with atol=0, in training and eval mode.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import nn

from .conftest import GENERATED, import_generated
from .reference import d2l_builders as book


def generated(stem: str, name: str) -> Any:
    return getattr(import_generated(stem), name)


def assert_same(ref: nn.Module, gen: nn.Module, shape: tuple[int, ...], train: bool) -> None:
    torch.manual_seed(0)
    X = torch.randn(shape)
    with torch.no_grad():
        ref.eval()(X), gen.eval()(X)
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    ref.train(train), gen.train(train)
    X_ref, X_gen = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
    ref_out, gen_out = ref(X_ref), gen(X_gen)
    torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
    (ref_out * torch.linspace(-1, 1, ref_out.numel()).reshape(ref_out.shape)).sum().backward()
    (gen_out * torch.linspace(-1, 1, gen_out.numel()).reshape(gen_out.shape)).sum().backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(X_gen.grad, X_ref.grad, rtol=0, atol=0)
    for (name, r), g in zip(ref.named_buffers(), gen.buffers()):
        torch.testing.assert_close(g, r, rtol=0, atol=0, msg=name)


CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module], tuple[int, ...]]] = {
    "resnext_identity": (lambda: book.ResNeXtBlock(32, 16, 1), lambda: generated("resnext_block", "ResNeXtBlock")(32, 16, 1.0), (4, 32, 12, 12)),
    "resnext_1x1conv": (
        lambda: book.ResNeXtBlock(32, 16, 1, use_1x1conv=True, strides=2),
        lambda: generated("resnext_block", "ResNeXtBlock")(32, 16, 1.0, use_1x1conv=True, strides=2),
        (4, 16, 12, 12),
    ),
    "resnext_bot_mul": (lambda: book.ResNeXtBlock(24, 4, 0.5), lambda: generated("resnext_block", "ResNeXtBlock")(24, 4, 0.5), (2, 24, 6, 6)),
    # The book's stem and stage are AnyNet methods that do not read self.
    "anynet_stem": (lambda: book.AnyNet.stem(None, 32), lambda: generated("anynet_stem", "anynet_stem")(32), (2, 1, 16, 16)),
    "anynet_stage": (
        lambda: book.AnyNet.stage(None, 3, 32, 16, 1),
        lambda: generated("anynet_stage", "anynet_stage")(3, 32, 16, 1),
        (2, 16, 8, 8),
    ),
    "regnetx32": (lambda: book.RegNetX32(), lambda: generated("regnetx32", "RegNetX32")(), (2, 1, 32, 32)),
    "regnetx32_100_classes": (lambda: book.RegNetX32(num_classes=100), lambda: generated("regnetx32", "RegNetX32")(num_classes=100), (2, 3, 16, 16)),
    "conv_block": (lambda: book.conv_block(10), lambda: generated("conv_block", "conv_block")(10), (4, 3, 8, 8)),
    "transition_block": (lambda: book.transition_block(10), lambda: generated("transition_block", "transition_block")(10), (4, 23, 8, 8)),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_the_book(case, train):
    make_ref, make_gen, shape = CASES[case]
    assert_same(make_ref(), make_gen(), shape, train)


@pytest.mark.parametrize("case", ["conv_block", "transition_block", "anynet_stem"])
def test_builders_return_the_books_sequential(case):
    make_ref, make_gen, shape = CASES[case]
    gen = make_gen()
    assert type(gen) is nn.Sequential
    gen(torch.randn(shape))
    assert list(gen.state_dict())[:2] == ["0.weight", "0.bias"]


def test_regnetx32_children_are_named_as_the_books():
    """The book's self.net.add_module('stage1', ...): named children, written the book's way."""
    gen = generated("regnetx32", "RegNetX32")()
    assert [name for name, _ in gen.net.named_children()] == ["0", "stage1", "stage2", "head"]
    assert [len(gen.net.stage1), len(gen.net.stage2)] == [4, 6]
    assert type(gen.net.stage1) is nn.Sequential and gen.net[1] is gen.net.stage1
    source = (GENERATED / "regnetx32.py").read_text(encoding="utf-8")
    assert "self.net = nn.Sequential(anynet_stem(stem_channels))" in source
    assert 'self.net.add_module(\n            "stage1", anynet_stage(depths[0], channels[0], groups, bot_mul)\n        )' in source


def test_regnetx32_exports_once_materialised():
    gen = generated("regnetx32", "RegNetX32")().eval()
    X = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = gen(X)
    exported = torch.export.export(gen, (X,))
    assert "net.stage2.5.conv3.weight" in exported.state_dict
    torch.testing.assert_close(exported.module()(X), expected, rtol=0, atol=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_scripts_once_materialised(case):
    """The book's ResNeXtBlock does not script ('if self.conv4:' on a module); ours does, as do the builders' Sequentials."""
    _, make_gen, shape = CASES[case]
    gen = make_gen().eval()
    X = torch.randn(shape)
    with torch.no_grad():
        expected = gen(X)
    torch.testing.assert_close(torch.jit.script(gen)(X), expected, rtol=0, atol=0)
