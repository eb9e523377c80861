"""Issue 11's recurrent and training-mode blocks against the book's code.

Each generated block is built beside its reference (tests/reference/d2l_recurrent.py,
d2l_builders.py); the reference's state_dict is loaded into the generated block
(the keys must be equal), then outputs, parameter gradients and input gradients
must be equal with atol=0. TorchScript: each block the book's own code would let
torch.jit.script compile is scripted and run here; the tests say which.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from .conftest import import_generated
from .reference import d2l_recurrent as rnn_book


def generated(stem: str, name: str) -> Any:
    return getattr(import_generated(stem), name)


def leaves(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in leaves(v)]


def assert_same_run(ref: nn.Module, gen: nn.Module, ref_inputs: list[Any], gen_inputs: list[Any]) -> None:
    """Same outputs (structure and values), same parameter and input gradients, atol=0."""
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    ref_out, gen_out = ref(*ref_inputs), gen(*gen_inputs)
    ref_leaves, gen_leaves = leaves(ref_out), leaves(gen_out)
    assert len(gen_leaves) == len(ref_leaves)
    for g, r in zip(gen_leaves, ref_leaves):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    weights = torch.randn(sum(t.numel() for t in ref_leaves))
    sum((t.flatten() * w).sum() for t, w in zip(ref_leaves, weights.split([t.numel() for t in ref_leaves]))).backward()
    sum((t.flatten() * w).sum() for t, w in zip(gen_leaves, weights.split([t.numel() for t in gen_leaves]))).backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    for r, g in zip(leaves([x for x in ref_inputs if x is not None]), leaves([x for x in gen_inputs if x is not None])):
        if r.requires_grad:
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)


def grad_inputs(*tensors: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return [t.clone().requires_grad_(True) for t in tensors], [t.clone().requires_grad_(True) for t in tensors]


# ---------------------------------------------------------------------------- RNNScratch


def test_rnn_scratch_equals_the_book_without_state():
    torch.manual_seed(0)
    ref, gen = rnn_book.RNNScratch(16, 32), generated("rnn_scratch", "RNNScratch")(16, 32)
    (X,), (Y,) = grad_inputs(torch.randn(7, 2, 16))
    assert_same_run(ref, gen, [X], [Y])
    outputs, state = gen(Y)
    assert isinstance(outputs, list) and len(outputs) == 7 and state.shape == (2, 32)


def test_rnn_scratch_equals_the_book_with_state():
    """The book unpacks its state from a 1-tuple (state, = state); ours takes the tensor."""
    torch.manual_seed(0)
    ref, gen = rnn_book.RNNScratch(16, 32), generated("rnn_scratch", "RNNScratch")(16, 32)
    (X, H), (Y, G) = grad_inputs(torch.randn(5, 3, 16), torch.randn(3, 32))
    ref_out = ref(X, (H,))
    gen.load_state_dict(ref.state_dict())
    gen_out = gen(Y, G)
    for g, r in zip(leaves(gen_out), leaves(ref_out)):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    sum(t.sum() for t in leaves(ref_out)).backward()
    sum(t.sum() for t in leaves(gen_out)).backward()
    torch.testing.assert_close(G.grad, H.grad, rtol=0, atol=0)
    torch.testing.assert_close(Y.grad, X.grad, rtol=0, atol=0)


def test_rnn_scratch_scripts():
    """The book's RNNScratch scripts too once its 1-tuple unpacking is gone; the loop over a tensor and the list are TorchScript."""
    torch.manual_seed(0)
    gen = generated("rnn_scratch", "RNNScratch")(16, 32)
    scripted = torch.jit.script(gen)
    X = torch.randn(4, 2, 16)
    for s, g in zip(leaves(scripted(X)), leaves(gen(X))):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


# ---------------------------------------------------------------------------- LSTMScratch, GRUScratch


@pytest.mark.parametrize("stem, name", [("lstm_scratch", "LSTMScratch"), ("gru_scratch", "GRUScratch")])
def test_gated_scratch_equals_the_book_without_state(stem, name):
    torch.manual_seed(0)
    ref, gen = getattr(rnn_book, name)(28, 32), generated(stem, name)(28, 32)
    (X,), (Y,) = grad_inputs(torch.randn(6, 2, 28))
    assert_same_run(ref, gen, [X], [Y])


def test_lstm_scratch_equals_the_book_with_state():
    torch.manual_seed(0)
    ref, gen = rnn_book.LSTMScratch(28, 32), generated("lstm_scratch", "LSTMScratch")(28, 32)
    (X, H, C), (Y, G, D) = grad_inputs(torch.randn(4, 3, 28), torch.randn(3, 32), torch.randn(3, 32))
    assert_same_run(ref, gen, [X, (H, C)], [Y, (G, D)])
    outputs, (H_out, C_out) = gen(Y, (G, D))
    assert len(outputs) == 4 and H_out.shape == C_out.shape == (3, 32)


def test_gru_scratch_equals_the_book_with_state():
    torch.manual_seed(0)
    ref, gen = rnn_book.GRUScratch(28, 32), generated("gru_scratch", "GRUScratch")(28, 32)
    (X, H), (Y, G) = grad_inputs(torch.randn(4, 3, 28), torch.randn(3, 32))
    assert_same_run(ref, gen, [X, H], [Y, G])


@pytest.mark.parametrize("stem, name", [("lstm_scratch", "LSTMScratch"), ("gru_scratch", "GRUScratch")])
def test_gated_scratch_scripts(stem, name):
    """The book's LSTMScratch and GRUScratch would script too (their lambdas run in __init__ only)."""
    torch.manual_seed(0)
    gen = generated(stem, name)(28, 32)
    scripted = torch.jit.script(gen)
    X = torch.randn(3, 2, 28)
    for s, g in zip(leaves(scripted(X)), leaves(gen(X))):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


# ---------------------------------------------------------------------------- RNNLMScratch


def test_rnn_lm_scratch_equals_the_book():
    """One-hot token ids through the RNN and the output layer; the book's RNNLMScratch takes the RNN built outside."""
    torch.manual_seed(0)
    ref = rnn_book.RNNLMScratch(rnn_book.RNNScratch(16, 32), 16)
    gen = generated("rnn_lm_scratch", "RNNLMScratch")(16, 32)
    X = torch.randint(0, 16, (2, 9))
    assert_same_run(ref, gen, [X], [X])
    assert gen(X).shape == (2, 9, 16)


def test_rnn_lm_scratch_scripts():
    torch.manual_seed(0)
    gen = generated("rnn_lm_scratch", "RNNLMScratch")(16, 32)
    X = torch.randint(0, 16, (2, 5))
    torch.testing.assert_close(torch.jit.script(gen)(X), gen(X), rtol=0, atol=0)


# ---------------------------------------------------------------------------- concise RNN, RNNLM


def test_concise_rnn_equals_the_book():
    torch.manual_seed(0)
    ref, gen = rnn_book.RNN(28, 32), generated("concise_rnn", "ConciseRNN")(28, 32)
    (X, H), (Y, G) = grad_inputs(torch.randn(6, 2, 28), torch.randn(1, 2, 32))
    assert_same_run(ref, gen, [X], [Y])
    ref.zero_grad(), gen.zero_grad()
    assert_same_run(ref, gen, [X, H], [Y, G])


def test_rnn_lm_equals_the_book():
    """The book's RNNLM: its LazyLinear is materialised by one forward on each side before the weights are copied."""
    torch.manual_seed(0)
    ref = rnn_book.RNNLM(rnn_book.RNN(28, 32), vocab_size=28)
    gen = generated("rnn_lm", "RNNLM")(28, 32)
    X = torch.randint(0, 28, (2, 7))
    with torch.no_grad():
        ref(X), gen(X)
    assert_same_run(ref, gen, [X], [X])
    assert gen(X).shape == (2, 7, 28)


@pytest.mark.parametrize("stem, name, args, inputs", [
    ("concise_rnn", "ConciseRNN", (28, 32), lambda: [torch.randn(4, 2, 28)]),
    ("rnn_lm", "RNNLM", (28, 32), lambda: [torch.randint(0, 28, (2, 4))]),
])
def test_concise_scripts(stem, name, args, inputs):
    torch.manual_seed(0)
    gen = generated(stem, name)(*args)
    values = inputs()
    with torch.no_grad():
        expected = gen(*values)
    for s, g in zip(leaves(torch.jit.script(gen)(*values)), leaves(expected)):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


# ---------------------------------------------------------------------------- sequence to sequence


def test_multi_gru_equals_the_books_gru():
    torch.manual_seed(0)
    ref, gen = rnn_book.GRU(8, 16, 2), generated("multi_gru", "MultiGRU")(8, 16, 2)
    (X, H), (Y, G) = grad_inputs(torch.randn(9, 4, 8), torch.randn(2, 4, 16))
    assert_same_run(ref, gen, [X, H], [Y, G])


def test_seq2seq_encoder_equals_the_book():
    """The book feeds float token ids and casts them; the generated block takes long (or float) ids."""
    torch.manual_seed(0)
    ref, gen = rnn_book.Seq2SeqEncoder(10, 8, 16, 2), generated("seq2seq_encoder", "Seq2SeqEncoder")(10, 8, 16, 2)
    X = torch.randint(0, 10, (4, 9))
    assert_same_run(ref.eval(), gen.eval(), [X.float()], [X])
    outputs, state = gen(X.float())
    assert outputs.shape == (9, 4, 16) and state.shape == (2, 4, 16)


@pytest.mark.parametrize("stem, name, args, inputs", [
    ("multi_gru", "MultiGRU", (8, 16, 2), lambda: [torch.randn(3, 2, 8)]),
    ("seq2seq_encoder", "Seq2SeqEncoder", (10, 8, 16, 2), lambda: [torch.randint(0, 10, (2, 5))]),
])
def test_seq2seq_scripts(stem, name, args, inputs):
    """The book's encoder would not script (forward takes *args); ours does."""
    torch.manual_seed(0)
    gen = generated(stem, name)(*args).eval()
    values = inputs()
    for s, g in zip(leaves(torch.jit.script(gen)(*values)), leaves(gen(*values))):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


# ---------------------------------------------------------------------------- BiRNNScratch


@pytest.mark.parametrize("with_state", [False, True], ids=["no_state", "state"])
def test_bi_rnn_scratch_equals_the_book(with_state):
    """Outputs as one tensor: torch.stack of the book's list; states, gradients and keys equal."""
    torch.manual_seed(0)
    ref, gen = rnn_book.BiRNNScratch(16, 8), generated("bi_rnn_scratch", "BiRNNScratch")(16, 8)
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    (X, f, b), (Y, g, c) = grad_inputs(torch.randn(5, 2, 16), torch.randn(2, 8), torch.randn(2, 8))
    ref_out, (ref_f, ref_b) = ref(X, ((f,), (b,)) if with_state else None)  # the book's RNNScratch unpacks 1-tuples
    gen_out, (gen_f, gen_b) = gen(Y, (g, c) if with_state else None)
    for mine, theirs in ((gen_out, torch.stack(ref_out)), (gen_f, ref_f), (gen_b, ref_b)):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    (torch.stack(ref_out) * torch.arange(5.0)[:, None, None]).sum().backward()
    (gen_out * torch.arange(5.0)[:, None, None]).sum().backward()
    for (name, r), p in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(p.grad, r.grad, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(Y.grad, X.grad, rtol=0, atol=0)


def test_bi_rnn_scratch_scripts():
    torch.manual_seed(0)
    gen = generated("bi_rnn_scratch", "BiRNNScratch")(16, 8)
    X = torch.randn(3, 2, 16)
    for s, g in zip(leaves(torch.jit.script(gen)(X)), leaves(gen(X))):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


@pytest.mark.parametrize("stem, name", [("rnn_scratch", "RNNScratch"), ("lstm_scratch", "LSTMScratch"), ("gru_scratch", "GRUScratch")])
def test_scratch_cells_draw_the_books_weights(stem, name):
    """randn * sigma, drawn in the book's order: the same seed gives the same weights, no copying."""
    torch.manual_seed(11)
    ref = getattr(rnn_book, name)(28, 32)
    torch.manual_seed(11)
    gen = generated(stem, name)(28, 32)
    for (n, r), g in zip(ref.state_dict().items(), gen.state_dict().values()):
        torch.testing.assert_close(g, r, rtol=0, atol=0, msg=n)
    big = generated(stem, name)(512, 512, sigma=0.01)
    assert abs(float(next(iter(big.parameters())).detach().std()) - 0.01) < 0.0005


# ---------------------------------------------------------------------------- StackedRNNScratch


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("with_state", [False, True], ids=["no_state", "state"])
def test_stacked_rnn_scratch_equals_the_fixed_book(num_layers, with_state):
    """The book's StackedRNNScratch fails past one layer (test_reference_sanity_modern pins that); the
    generated block equals its smallest repair, StackedRNNScratchFixed: the same weights from the same
    seed (no copying), the same state_dict keys, outputs (torch.stack of the book's list), states and
    gradients, atol=0. The caller's list of states is left as it was (the book's writes into it)."""
    torch.manual_seed(3)
    ref = rnn_book.StackedRNNScratchFixed(28, 32, num_layers)
    torch.manual_seed(3)
    gen = generated("stacked_rnn_scratch", "StackedRNNScratch")(28, 32, num_layers)
    assert list(gen.state_dict()) == list(ref.state_dict())
    assert list(gen.state_dict())[:3] == ["rnns.0.W_xh", "rnns.0.W_hh", "rnns.0.b_h"]
    for (name, r), g in zip(ref.state_dict().items(), gen.state_dict().values()):
        torch.testing.assert_close(g, r, rtol=0, atol=0, msg=name)
    (X, *ref_Hs), (Y, *gen_Hs) = grad_inputs(torch.randn(5, 2, 28), *[torch.randn(2, 32) for _ in range(num_layers)])
    given = list(gen_Hs)
    # The book's RNNScratch unpacks each layer's state from a 1-tuple (state, = state).
    ref_out, ref_states = ref(X, [(H,) for H in ref_Hs] if with_state else None)
    gen_out, gen_states = gen(Y, given if with_state else None)
    assert given == gen_Hs and len(gen_states) == len(ref_states) == num_layers
    assert gen_out.shape == (5, 2, 32)
    for mine, theirs in [(gen_out, torch.stack(ref_out)), *zip(gen_states, ref_states)]:
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    weights = torch.arange(5.0)[:, None, None]
    ((torch.stack(ref_out) * weights).sum() + sum(H.sum() * (i + 2) for i, H in enumerate(ref_states))).backward()
    ((gen_out * weights).sum() + sum(H.sum() * (i + 2) for i, H in enumerate(gen_states))).backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(Y.grad, X.grad, rtol=0, atol=0)
    if with_state:
        for g, r in zip(gen_Hs, ref_Hs):
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)


def test_stacked_rnn_scratch_scripts():
    """The book's would not script (RNNScratch's 1-tuple unpacking, a list of None states); ours does, with and without states."""
    torch.manual_seed(0)
    gen = generated("stacked_rnn_scratch", "StackedRNNScratch")(28, 32, 2)
    scripted = torch.jit.script(gen)
    X, Hs = torch.randn(4, 2, 28), [torch.randn(2, 32), torch.randn(2, 32)]
    for args in ([X], [X, Hs]):
        for s, g in zip(leaves(scripted(*args)), leaves(gen(*args))):
            torch.testing.assert_close(s, g, rtol=0, atol=0)


# ---------------------------------------------------------------------------- Seq2SeqDecoder


def _decoders(vocab_size: int = 10, embed_size: int = 8, num_hiddens: int = 16, num_layers: int = 2) -> tuple[nn.Module, nn.Module]:
    """The book's decoder and ours, each LazyLinear materialised by one forward before weights are compared or copied."""
    torch.manual_seed(0)
    ref = rnn_book.Seq2SeqDecoder(vocab_size, embed_size, num_hiddens, num_layers)
    gen = generated("seq2seq_decoder", "Seq2SeqDecoder")(vocab_size, embed_size, num_hiddens, num_layers)
    X = torch.zeros(2, 3, dtype=torch.long)
    state = (torch.zeros(3, 2, num_hiddens), torch.zeros(num_layers, 2, num_hiddens))
    with torch.no_grad():
        ref(X.float(), list(state)), gen(X, state)
    return ref, gen


@pytest.mark.parametrize("num_layers", [1, 2])
def test_seq2seq_decoder_equals_the_book(num_layers):
    """State from init_state of the encoder's output, then forward: outputs, the new state, gradients
    (parameters, the encoder's outputs and state) and state_dict keys equal the book's, atol=0. The book
    passes float token ids and a list state; ours long ids and a typed tuple."""
    ref, gen = _decoders(num_layers=num_layers)
    assert list(gen.state_dict()) == list(ref.state_dict())
    assert list(gen.state_dict())[-2:] == ["dense.weight", "dense.bias"]
    X = torch.randint(0, 10, (4, 9))
    (enc_out, enc_state), (gen_enc_out, gen_enc_state) = grad_inputs(torch.randn(7, 4, 16), torch.randn(num_layers, 4, 16))
    ref_state = ref.init_state((enc_out, enc_state))
    gen_state = gen.init_state((gen_enc_out, gen_enc_state))
    assert gen_state[0] is gen_enc_out and gen_state[1] is gen_enc_state and ref_state[0] is enc_out
    assert_same_run(ref.eval(), gen.eval(), [X.float(), list(ref_state)], [X, gen_state])
    outputs, (enc_output, hidden_state) = gen(X, gen_state)
    assert outputs.shape == (4, 9, 10) and enc_output is gen_enc_out and hidden_state.shape == (num_layers, 4, 16)


def test_seq2seq_decoder_after_the_generated_encoder():
    """The book's pipeline: decoder.init_state(encoder(X)), then decoder(X, state), with both generated blocks."""
    torch.manual_seed(0)
    encoder = generated("seq2seq_encoder", "Seq2SeqEncoder")(10, 8, 16, 2)
    decoder = generated("seq2seq_decoder", "Seq2SeqDecoder")(10, 8, 16, 2)
    X = torch.randint(0, 10, (4, 9))
    state = decoder.init_state(encoder(X))
    outputs, state = decoder(X, state)
    assert outputs.shape == (4, 9, 10) and state[1].shape == (2, 4, 16)


def test_seq2seq_decoder_scripts():
    """The book's decoder does not script (its untyped state is taken for a tensor and cannot be unpacked);
    ours does once its LazyLinear is materialised. init_state is not compiled (forward never calls it), as
    torch.jit.script leaves any such method."""
    _, gen = _decoders()
    gen.eval()
    scripted = torch.jit.script(gen)
    X, state = torch.randint(0, 10, (2, 5)), (torch.randn(5, 2, 16), torch.randn(2, 2, 16))
    for s, g in zip(leaves(scripted(X, state)), leaves(gen(X, state))):
        torch.testing.assert_close(s, g, rtol=0, atol=0)


def test_books_decoder_does_not_script():
    ref, _ = _decoders()
    with pytest.raises(RuntimeError, match="cannot be used as a tuple"):
        torch.jit.script(ref)
