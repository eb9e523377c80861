"""Issue 10's blocks (attention, Transformer, ViT, BERT) against the book's code.

Each generated block is built beside its reference (tests/reference/d2l_attention.py),
lazy layers are materialised by one forward, the reference's state_dict is
loaded into the generated block (the keys must be equal), and then outputs,
parameter gradients and input gradients must be equal with atol=0: in eval
mode with the book's dropout, and in train mode with dropout 0.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import nn

from .conftest import import_generated
from .reference import d2l_attention as book


def generated(stem: str, name: str) -> Any:
    return getattr(import_generated(stem), name)


def _floats(values: list[Any]) -> list[Any]:
    return [v.clone().requires_grad_(True) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for v in values]


def _leaves(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _leaves(v)]


def assert_equal_blocks(ref: nn.Module, gen: nn.Module, inputs: list[Any], train: bool) -> None:
    with torch.no_grad():  # materialise lazy layers (both), in forward order
        ref.eval()(*inputs)
        gen.eval()(*inputs)
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    ref.train(train)
    gen.train(train)
    ref_inputs, gen_inputs = _floats(inputs), _floats(inputs)
    ref_out, gen_out = ref(*ref_inputs), gen(*gen_inputs)
    for r, g in zip(_leaves(ref_out), _leaves(gen_out), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    sum(t.sum() for t in _leaves(ref_out)).backward()
    sum(t.sum() for t in _leaves(gen_out)).backward()
    for (name, r), (_, g) in zip(ref.named_parameters(), gen.named_parameters(), strict=True):
        assert (r.grad is None) == (g.grad is None), name
        if r.grad is not None:
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)
    for r, g in zip(ref_inputs, gen_inputs):
        if isinstance(r, torch.Tensor) and r.requires_grad:
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)


# name -> (reference(dropout), generated(dropout), inputs(), the book's dropout)
BLOCKS: dict[str, tuple[Callable[[float], nn.Module], Callable[[float], nn.Module], Callable[[], list[Any]], float]] = {
    "AddNorm": (
        lambda p: book.AddNorm(4, p),
        lambda p: generated("add_norm", "AddNorm")(4, p),
        lambda: [torch.randn(2, 3, 4), torch.randn(2, 3, 4)],
        0.5,
    ),
    "PositionWiseFFN": (
        lambda p: book.PositionWiseFFN(4, 8),
        lambda p: generated("position_wise_ffn", "PositionWiseFFN")(4, 8),
        lambda: [torch.randn(2, 3, 4)],
        0.0,
    ),
    "PatchEmbedding": (
        lambda p: book.PatchEmbedding(32, 8, 16),
        lambda p: generated("patch_embedding", "PatchEmbedding")(32, 8, 16),
        lambda: [torch.randn(2, 3, 32, 32)],
        0.0,
    ),
    "ViTMLP": (
        lambda p: book.ViTMLP(48, 24, p),
        lambda p: generated("vit_mlp", "ViTMLP")(48, 24, p),
        lambda: [torch.randn(2, 10, 24)],
        0.5,
    ),
    "DotProductAttention": (
        lambda p: book.DotProductAttention(p),
        lambda p: generated("dot_product_attention", "DotProductAttention")(p),
        lambda: [torch.randn(2, 1, 2), torch.randn(2, 10, 2), torch.randn(2, 10, 4), torch.tensor([2, 6])],
        0.5,
    ),
    "DotProductAttention-2d-valid-lens": (
        lambda p: book.DotProductAttention(p),
        lambda p: generated("dot_product_attention", "DotProductAttention")(p),
        lambda: [torch.randn(2, 3, 2), torch.randn(2, 10, 2), torch.randn(2, 10, 4), torch.tensor([[2, 6, 1], [3, 10, 4]])],
        0.5,
    ),
    "DotProductAttention-no-valid-lens": (
        lambda p: book.DotProductAttention(p),
        lambda p: generated("dot_product_attention", "DotProductAttention")(p),
        lambda: [torch.randn(2, 1, 2), torch.randn(2, 10, 2), torch.randn(2, 10, 4), None],
        0.5,
    ),
    "AdditiveAttention": (
        lambda p: book.AdditiveAttention(8, p),
        lambda p: generated("additive_attention", "AdditiveAttention")(8, p),
        lambda: [torch.randn(2, 1, 20), torch.randn(2, 10, 2), torch.randn(2, 10, 4), torch.tensor([2, 6])],
        0.1,
    ),
    "MultiHeadAttention": (
        lambda p: book.MultiHeadAttention(100, 5, p),
        lambda p: generated("multi_head_attention", "MultiHeadAttention")(100, 5, p),
        lambda: [torch.randn(2, 4, 100), torch.randn(2, 6, 100), torch.randn(2, 6, 100), torch.tensor([3, 2])],
        0.5,
    ),
    "MultiHeadAttention-bias-no-valid-lens": (
        lambda p: book.MultiHeadAttention(100, 5, p, bias=True),
        lambda p: generated("multi_head_attention", "MultiHeadAttention")(100, 5, p, bias=True),
        lambda: [torch.randn(2, 4, 100), torch.randn(2, 6, 100), torch.randn(2, 6, 100), None],
        0.5,
    ),
    "PositionalEncoding": (
        lambda p: book.PositionalEncoding(32, p),
        lambda p: generated("positional_encoding", "PositionalEncoding")(32, p),
        lambda: [torch.randn(1, 60, 32)],
        0.5,
    ),
    "TransformerEncoderBlock": (
        lambda p: book.TransformerEncoderBlock(24, 48, 8, p),
        lambda p: generated("transformer_encoder_block", "TransformerEncoderBlock")(24, 48, 8, p),
        lambda: [torch.randn(2, 100, 24), torch.tensor([3, 2])],
        0.5,
    ),
    "TransformerEncoder": (
        lambda p: book.TransformerEncoder(200, 24, 48, 8, 2, p),
        lambda p: generated("transformer_encoder", "TransformerEncoder")(200, 24, 48, 8, 2, p),
        lambda: [torch.randint(0, 200, (2, 100)), torch.tensor([3, 2])],
        0.5,
    ),
    "ViTBlock": (
        lambda p: book.ViTBlock(24, 24, 48, 8, p),
        lambda p: generated("vit_block", "ViTBlock")(24, 24, 48, 8, p),
        lambda: [torch.randn(2, 100, 24)],
        0.5,
    ),
    "ViT": (
        lambda p: book.ViT(32, 8, 64, 128, 8, 2, p, p),
        lambda p: generated("vit", "ViT")(32, 8, 64, 128, 8, 2, p, p),
        lambda: [torch.randn(2, 1, 32, 32)],
        0.1,
    ),
    "BERTEncoder": (
        lambda p: book.BERTEncoder(1000, 64, 128, 4, 2, p),
        lambda p: generated("bert_encoder", "BERTEncoder")(1000, 64, 128, 4, 2, p),
        lambda: [torch.randint(0, 1000, (2, 8)), torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1]]), torch.tensor([5, 8])],
        0.2,
    ),
    "MaskLM": (
        lambda p: book.MaskLM(1000, 64),
        lambda p: generated("mask_lm", "MaskLM")(1000, 64),
        lambda: [torch.randn(2, 8, 64), torch.tensor([[1, 5, 2], [6, 1, 5]])],
        0.0,
    ),
    "NextSentencePred": (
        lambda p: book.NextSentencePred(),
        lambda p: generated("next_sentence_pred", "NextSentencePred")(),
        lambda: [torch.randn(2, 96)],
        0.0,
    ),
}


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train-dropout0"])
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_equals_the_book(name: str, train: bool) -> None:
    make_ref, make_gen, make_inputs, dropout = BLOCKS[name]
    p = 0.0 if train else dropout
    torch.manual_seed(1)
    ref = make_ref(p)
    gen = make_gen(p)
    assert_equal_blocks(ref, gen, make_inputs(), train)


# Blocks with no data-dependent control flow: TorchScript and torch.export take them as they are.
SCRIPTABLE = sorted(BLOCKS)


@pytest.mark.parametrize("name", SCRIPTABLE)
def test_torchscript_and_export(name: str) -> None:
    _, make_gen, make_inputs, dropout = BLOCKS[name]
    gen = make_gen(dropout).eval()
    inputs = make_inputs()
    with torch.no_grad():
        expected = gen(*inputs)
        scripted = torch.jit.script(gen)
        for e, s in zip(_leaves(expected), _leaves(scripted(*inputs)), strict=True):
            torch.testing.assert_close(s, e, rtol=0, atol=0)
        exported = torch.export.export(gen, tuple(inputs))
        for e, x in zip(_leaves(expected), _leaves(exported.module()(*inputs)), strict=True):
            torch.testing.assert_close(x, e, rtol=0, atol=0)


# Function specs: name -> (the book's function, the generated function's extra arguments, inputs()).
FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[Any, ...], Callable[[], list[Any]]]] = {
    # The book attaches these to MultiHeadAttention as methods reading self.num_heads.
    "transpose_qkv": (lambda X: book.MultiHeadAttention(100, 5, 0.5).transpose_qkv(X), (5,), lambda: [torch.randn(2, 4, 100)]),
    "transpose_output": (lambda X: book.MultiHeadAttention(100, 5, 0.5).transpose_output(X), (5,), lambda: [torch.randn(10, 4, 20)]),
    # masked_softmax writes into X (through a reshaped view), as the book's does: X is not a leaf here.
    "masked_softmax": (lambda X, v: book.masked_softmax(X * 1, v), (), lambda: [torch.randn(2, 2, 4), torch.tensor([2, 3])]),
    "masked_softmax-2d": (lambda X, v: book.masked_softmax(X * 1, v), (), lambda: [torch.randn(2, 2, 4), torch.tensor([[1, 3], [2, 4]])]),
    "masked_softmax-none": (lambda X, v: book.masked_softmax(X * 1, v), (), lambda: [torch.randn(2, 2, 4), None]),
}
SCRIPTABLE_FUNCTIONS = ["transpose_qkv", "transpose_output", "masked_softmax"]


def _weighted_sum(value: Any) -> torch.Tensor:
    """A loss whose gradient differs per element, so that a permutation of the output shows."""
    return sum((t * torch.arange(t.numel()).reshape(t.shape)).sum() for t in _leaves(value) if t.is_floating_point())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_equals_the_book(name: str) -> None:
    ref_fn, extra, make_inputs = FUNCTIONS[name]
    stem = name.split("-")[0]
    gen_fn = generated(stem, stem)
    inputs = make_inputs()
    ref_inputs, gen_inputs = _floats(inputs), _floats(inputs)
    if stem == "masked_softmax":  # the same non-leaf input the book's function gets
        ref_out, gen_out = ref_fn(*ref_inputs), gen_fn(gen_inputs[0] * 1, *gen_inputs[1:])
    else:
        ref_out, gen_out = ref_fn(*ref_inputs), gen_fn(*gen_inputs, *extra)
    for r, g in zip(_leaves(ref_out), _leaves(gen_out), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    _weighted_sum(ref_out).backward()
    _weighted_sum(gen_out).backward()
    for r, g in zip(ref_inputs, gen_inputs):
        if isinstance(r, torch.Tensor) and r.requires_grad:
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)


@pytest.mark.parametrize("name", SCRIPTABLE_FUNCTIONS)
def test_function_is_scriptable(name: str) -> None:
    scripted = torch.jit.script(generated(name, name))
    assert isinstance(scripted, torch.jit.ScriptFunction)
    for case in [key for key in FUNCTIONS if key.split("-")[0] == name]:
        ref_fn, extra, make_inputs = FUNCTIONS[case]
        inputs = make_inputs()
        for r, s in zip(_leaves(ref_fn(*inputs)), _leaves(scripted(*[x.clone() if isinstance(x, torch.Tensor) else x for x in inputs], *extra)), strict=True):
            torch.testing.assert_close(s, r, rtol=0, atol=0)


class _BookDecoderBlock(nn.Module):
    """The book's TransformerDecoderBlock behind the generated block's signature: the list state built
    from the inputs, the book's forward called, its output and the cache it left in state[2][i] returned."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, X, enc_outputs, enc_valid_lens=None, cache=None):
        state = [enc_outputs, enc_valid_lens, [None] * (self.block.i + 1)]
        state[2][self.block.i] = cache
        output, state = self.block(X, state)
        return output, state[2][self.block.i]


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train-dropout0"])
@pytest.mark.parametrize("cached", [False, True], ids=["first-step", "with-cache"])
def test_decoder_block_equals_the_book(train: bool, cached: bool) -> None:
    p = 0.0 if train else 0.5
    torch.manual_seed(1)
    ref = _BookDecoderBlock(book.TransformerDecoderBlock(24, 48, 8, p, 1))
    gen = generated("transformer_decoder_block", "TransformerDecoderBlock")(24, 48, 8, p, 1)
    X = torch.randn(2, 1 if cached else 5, 24)
    inputs = [X, torch.randn(2, 7, 24), torch.tensor([3, 7]), torch.randn(2, 4, 24) if cached else None]
    with torch.no_grad():  # materialise the lazy layers of both, then compare with the book's weights
        ref.eval()(*inputs)
        gen.eval()(*inputs)
    assert list(gen.state_dict()) == [k.removeprefix("block.") for k in ref.state_dict()]
    gen.load_state_dict({k.removeprefix("block."): v for k, v in ref.state_dict().items()})
    ref.train(train)
    gen.train(train)
    ref_inputs, gen_inputs = _floats(inputs), _floats(inputs)
    ref_out, gen_out = ref(*ref_inputs), gen(*gen_inputs)
    for r, g in zip(_leaves(ref_out), _leaves(gen_out), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    sum(t.sum() for t in _leaves(ref_out)).backward()
    sum(t.sum() for t in _leaves(gen_out)).backward()
    for r, g in zip(ref.parameters(), gen.parameters(), strict=True):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)
    for r, g in zip(ref_inputs, gen_inputs):
        if isinstance(r, torch.Tensor) and r.requires_grad:
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)
    # TorchScript takes the branch on self.training and the Optional cache as they are.
    scripted = torch.jit.script(gen)
    with torch.no_grad():
        for g, s in zip(_leaves(gen(*inputs)), _leaves(scripted(*inputs)), strict=True):
            torch.testing.assert_close(s, g, rtol=0, atol=0)
