"""Sanity checks of the d2l 1.0 references for issues 10 and 11.

Each reference in tests/reference/d2l_attention.py, d2l_recurrent.py and
d2l_builders.py is built with the book's example sizes and run forward and
backward. The checks are what the book states about its own code (the shapes
it prints, masked positions getting no attention weight, moving statistics
that follow the momentum rule, initialiser statistics), and, where torch has
the same computation built in (nn.RNN, nn.LSTM, bidirectional nn.RNN), the
reference against torch with the weights copied over: a check independent of
the reference's own code. The book's known flaws are pinned too, so a
reference that silently "fixes" one fails here.
"""
import math

import pytest
import torch
from torch import nn

from tests.reference import d2l as d2l_zh
from tests.reference import d2l_attention as att
from tests.reference import d2l_builders as bld
from tests.reference import d2l_recurrent as rec

pytestmark = pytest.mark.filterwarnings("ignore:Lazy modules are a new feature")


def _grads_reach_every_parameter(net, out):
    out.sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


# --- Attention (issue 10) ---------------------------------------------------

def test_masked_softmax_zeroes_positions_beyond_valid_length():
    X = torch.rand(2, 2, 4)
    Y = att.masked_softmax(X.clone(), torch.tensor([2, 3]))
    assert Y.shape == (2, 2, 4)
    assert torch.all(Y[0, :, 2:] == 0) and torch.all(Y[1, :, 3:] == 0)
    # The kept positions are a plain softmax over the valid prefix.
    torch.testing.assert_close(Y[0, :, :2], torch.softmax(X[0, :, :2], -1))
    torch.testing.assert_close(Y[1, :, :3], torch.softmax(X[1, :, :3], -1))


def test_masked_softmax_two_dimensional_valid_lens_and_none():
    X = torch.rand(2, 2, 4)
    Y = att.masked_softmax(X.clone(), torch.tensor([[1, 3], [2, 4]]))
    for b, lens in enumerate([[1, 3], [2, 4]]):
        for q, k in enumerate(lens):
            assert torch.all(Y[b, q, k:] == 0)
            torch.testing.assert_close(Y[b, q, :k], torch.softmax(X[b, q, :k], -1))
    torch.testing.assert_close(att.masked_softmax(X, None), torch.softmax(X, -1))


def test_masked_softmax_writes_into_its_argument():
    """The book's _sequence_mask assigns into a view of X: the caller's scores change."""
    X = torch.rand(2, 2, 4)
    att.masked_softmax(X, torch.tensor([2, 3]))
    assert torch.all(X[0, :, 2:] == -1e6) and torch.all(X[1, :, 3:] == -1e6)
    assert torch.all(X[0, :, :2] != -1e6)


def _book_qkv():
    queries = torch.normal(0, 1, (2, 1, 2))
    keys = torch.normal(0, 1, (2, 10, 2))
    values = torch.normal(0, 1, (2, 10, 4))
    return queries, keys, values, torch.tensor([2, 6])


def test_dot_product_attention_book_example():
    queries, keys, values, valid_lens = _book_qkv()
    attention = att.DotProductAttention(dropout=0.5)
    attention.eval()
    out = attention(queries, keys, values, valid_lens)
    assert out.shape == (2, 1, 4)
    w = attention.attention_weights
    assert torch.all(w[0, :, 2:] == 0) and torch.all(w[1, :, 6:] == 0)
    # softmax(QK^T / sqrt(d)) V over the valid keys only, computed directly
    for b, k in enumerate([2, 6]):
        scores = queries[b] @ keys[b, :k].T / math.sqrt(2)
        torch.testing.assert_close(out[b], torch.softmax(scores, -1) @ values[b, :k])


def test_dot_product_attention_dropout_in_training_only():
    queries, keys, values, valid_lens = _book_qkv()
    attention = att.DotProductAttention(dropout=0.5)
    attention.eval()
    a, b = attention(queries, keys, values, valid_lens), attention(queries, keys, values, valid_lens)
    assert torch.equal(a, b)
    attention.train()
    outs = [attention(queries, keys, values, valid_lens) for _ in range(5)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_additive_attention_book_example():
    _, keys, values, valid_lens = _book_qkv()
    queries = torch.normal(0, 1, (2, 1, 20))
    attention = att.AdditiveAttention(num_hiddens=8, dropout=0.1)
    attention.eval()
    out = attention(queries, keys, values, valid_lens)
    assert out.shape == (2, 1, 4)
    w = attention.attention_weights
    assert torch.all(w[0, :, 2:] == 0) and torch.all(w[1, :, 6:] == 0)
    assert torch.all(w[0, :, :2] > 0) and torch.all(w[1, :, :6] > 0)
    assert list(attention.state_dict()) == ["W_k.weight", "W_q.weight", "w_v.weight"]
    assert attention.W_q.weight.shape == (8, 20) and attention.W_k.weight.shape == (8, 2)
    assert attention.w_v.weight.shape == (1, 8)


def test_multi_head_attention_book_example():
    num_hiddens, num_heads = 100, 5
    attention = att.MultiHeadAttention(num_hiddens, num_heads, 0.5)
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    valid_lens = torch.tensor([3, 2])
    X = torch.ones((batch_size, num_queries, num_hiddens))
    Y = torch.ones((batch_size, num_kvpairs, num_hiddens))
    attention.eval()
    assert attention(X, Y, Y, valid_lens).shape == (batch_size, num_queries, num_hiddens)
    assert list(attention.state_dict()) == ["W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight"]
    # repeat_interleave: the first num_heads rows belong to example 0 (3 keys valid)
    w = attention.attention.attention_weights
    assert w.shape == (batch_size * num_heads, num_queries, num_kvpairs)
    assert torch.all(w[:5, :, 3:] == 0) and torch.all(w[:5, :, :3] > 0)
    assert torch.all(w[5:, :, 2:] == 0) and torch.all(w[5:, :, :2] > 0)


def test_multi_head_attention_transposes_are_inverse():
    attention = att.MultiHeadAttention(100, 5, 0.0)
    X = torch.randn(2, 4, 100)
    heads = attention.transpose_qkv(X)
    assert heads.shape == (10, 4, 20)
    # head h of example b holds features [20h, 20h + 20) of example b
    torch.testing.assert_close(heads[1 * 5 + 3], X[1, :, 60:80], rtol=0, atol=0)
    torch.testing.assert_close(attention.transpose_output(heads), X, rtol=0, atol=0)


def test_positional_encoding_values_and_state():
    encoding_dim, num_steps = 32, 60
    pos_encoding = att.PositionalEncoding(encoding_dim, 0)
    X = pos_encoding(torch.zeros((1, num_steps, encoding_dim)))
    assert X.shape == (1, num_steps, encoding_dim)
    P = pos_encoding.P
    assert P.shape == (1, 1000, encoding_dim)
    torch.testing.assert_close(X, P[:, :num_steps, :], rtol=0, atol=0)
    for i, j in [(0, 0), (1, 0), (7, 3), (59, 15)]:
        angle = i / 10000 ** (2 * j / encoding_dim)
        assert P[0, i, 2 * j].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert P[0, i, 2 * j + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    # The book's P is a plain attribute: not saved, not moved by .to()
    assert list(pos_encoding.state_dict()) == [] and not list(pos_encoding.buffers())


def test_position_wise_ffn_book_example():
    ffn = att.PositionWiseFFN(4, 8)
    ffn.eval()
    Y = ffn(torch.ones((2, 3, 4)))
    assert Y.shape == (2, 3, 8)
    # Same MLP at every position: equal inputs give equal outputs
    assert torch.equal(Y[0, 0], Y[0, 2]) and torch.equal(Y[0], Y[1])


def test_add_norm_book_example():
    add_norm = att.AddNorm(4, 0.5)
    add_norm.eval()
    shape = (2, 3, 4)
    X, Y = torch.randn(shape), torch.randn(shape)
    out = add_norm(X, Y)
    assert out.shape == shape
    # Layer norm of the sum (weight 1, bias 0 at init): zero mean, unit variance per position
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 3), rtol=0, atol=1e-6)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(2, 3), rtol=0, atol=1e-3)


def test_transformer_encoder_block_book_example():
    X = torch.ones((2, 100, 24))
    valid_lens = torch.tensor([3, 2])
    encoder_blk = att.TransformerEncoderBlock(24, 48, 8, 0.5)
    encoder_blk.eval()
    assert encoder_blk(X, valid_lens).shape == X.shape
    w = encoder_blk.attention.attention.attention_weights
    assert w.shape == (16, 100, 100)
    assert torch.all(w[:8, :, 3:] == 0) and torch.all(w[8:, :, 2:] == 0)


def test_transformer_encoder_book_example():
    encoder = att.TransformerEncoder(200, 24, 48, 8, 2, 0.5)
    encoder.eval()
    valid_lens = torch.tensor([3, 2])
    out = encoder(torch.ones((2, 100), dtype=torch.long), valid_lens)
    assert out.shape == (2, 100, 24)
    assert len(encoder.attention_weights) == 2
    keys = list(encoder.state_dict())
    assert keys[:2] == ["embedding.weight", "blks.block0.attention.W_q.weight"]
    assert "blks.block1.addnorm2.ln.bias" in keys


def test_transformer_decoder_block_book_example_and_cache():
    X = torch.ones((2, 100, 24))
    valid_lens = torch.tensor([3, 2])
    encoder_blk = att.TransformerEncoderBlock(24, 48, 8, 0.5)
    encoder_blk.eval()
    decoder_blk = att.TransformerDecoderBlock(24, 48, 8, 0.5, 0)
    decoder_blk.eval()
    state = [encoder_blk(X, valid_lens), valid_lens, [None]]
    out, state2 = decoder_blk(X, state)
    assert out.shape == X.shape
    # The book mutates the state it is given: the block's cache is now X
    assert state2 is state and state[2][0] is X
    step = torch.randn(2, 1, 24)
    out_step, _ = decoder_blk(step, state)
    assert out_step.shape == (2, 1, 24)
    assert state[2][0].shape == (2, 101, 24)
    assert torch.equal(state[2][0][:, -1:], step)


def test_transformer_decoder_block_is_causal_in_training():
    decoder_blk = att.TransformerDecoderBlock(24, 48, 8, 0.0, 0)
    decoder_blk.train()
    enc = torch.randn(2, 7, 24)
    X = torch.randn(2, 5, 24)
    decoder_blk(X, [enc, torch.tensor([7, 4]), [None]])
    w = decoder_blk.attention1.attention.attention_weights
    assert w.shape == (16, 5, 5)
    assert torch.all(torch.triu(w, diagonal=1) == 0)
    lower = torch.ones(5, 5, dtype=torch.bool).tril()
    assert torch.all(w[:, lower] > 0)
    w2 = decoder_blk.attention2.attention.attention_weights
    assert torch.all(w2[8:, :, 4:] == 0)


def test_patch_embedding_book_example():
    img_size, patch_size, num_hiddens, batch_size = 96, 16, 512, 4
    patch_emb = att.PatchEmbedding(img_size, patch_size, num_hiddens)
    X = torch.zeros(batch_size, 3, img_size, img_size)
    assert patch_emb(X).shape == (batch_size, (img_size // patch_size) ** 2, num_hiddens)
    assert patch_emb.num_patches == 36
    # Patch p (row-major) is the linear projection of image patch p alone
    X = torch.randn(1, 3, 32, 32)
    emb = att.PatchEmbedding(32, 16, 8)
    Y = emb(X)
    patch = X[0, :, 16:32, 0:16]  # row 1, column 0 -> patch index 2
    expected = (emb.conv.weight * patch).sum(dim=(1, 2, 3)) + emb.conv.bias
    torch.testing.assert_close(Y[0, 2], expected)


def test_vit_mlp_and_block_book_example():
    mlp = att.ViTMLP(48, 24)
    mlp.eval()
    X = torch.randn(2, 100, 24)
    assert mlp(X).shape == (2, 100, 24)
    assert torch.equal(mlp(X), mlp(X))
    X = torch.ones((2, 100, 24))
    encoder_blk = att.ViTBlock(24, 24, 48, 8, 0.5)
    encoder_blk.eval()
    assert encoder_blk(X).shape == X.shape
    assert [n for n, _ in encoder_blk.named_children()] == ["ln1", "attention", "ln2", "mlp"]


def test_vit_book_sizes():
    img_size, patch_size = 96, 16
    num_hiddens, mlp_num_hiddens, num_heads, num_blks = 512, 2048, 8, 2
    emb_dropout, blk_dropout, lr = 0.1, 0.1, 0.1
    model = att.ViT(img_size, patch_size, num_hiddens, mlp_num_hiddens, num_heads,
                    num_blks, emb_dropout, blk_dropout, lr)
    assert model.pos_embedding.shape == (1, 37, 512)
    assert torch.all(model.cls_token == 0)
    model.eval()
    assert model(torch.randn(2, 1, 96, 96)).shape == (2, 10)
    keys = list(model.state_dict())
    assert keys[:4] == ["cls_token", "pos_embedding", "patch_embedding.conv.weight",
                        "patch_embedding.conv.bias"]
    assert keys[-4:] == ["head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias"]


def _bert_encoded():
    vocab_size, num_hiddens, ffn_num_hiddens, num_heads = 10000, 768, 1024, 4
    num_blks, dropout = 2, 0.2
    encoder = att.BERTEncoder(vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                              num_blks, dropout)
    tokens = torch.randint(0, vocab_size, (2, 8))
    segments = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1]])
    return encoder, tokens, segments


def test_bert_encoder_book_example():
    encoder, tokens, segments = _bert_encoded()
    encoder.eval()
    encoded_X = encoder(tokens, segments, None)
    assert encoded_X.shape == (2, 8, 768)
    assert encoder.pos_embedding.shape == (1, 1000, 768)
    # TransformerEncoderBlock with use_bias=True: the projections have biases
    assert encoder.blks[0].attention.W_q.bias is not None


def test_mask_lm_and_next_sentence_pred_book_example():
    encoder, tokens, segments = _bert_encoded()
    encoder.eval()
    encoded_X = encoder(tokens, segments, None)
    mlm = att.MaskLM(10000, 768)
    mlm_positions = torch.tensor([[1, 5, 2], [6, 1, 5]])
    mlm_Y_hat = mlm(encoded_X, mlm_positions)
    assert mlm_Y_hat.shape == (2, 3, 10000)
    # Row (b, j) is the MLP applied to encoded_X[b, mlm_positions[b, j]]
    picked = torch.stack([encoded_X[0, 1], encoded_X[0, 5], encoded_X[0, 2],
                          encoded_X[1, 6], encoded_X[1, 1], encoded_X[1, 5]]).reshape(2, 3, -1)
    torch.testing.assert_close(mlm_Y_hat, mlm.mlp(picked), rtol=0, atol=0)
    nsp = att.NextSentencePred()
    nsp_Y_hat = nsp(torch.flatten(encoded_X, start_dim=1))
    assert nsp_Y_hat.shape == (2, 2)
    assert nsp.output.weight.shape == (2, 8 * 768)


ATTENTION_BACKWARD = {
    "DotProductAttention": None,  # no parameters; inputs checked below
    "AdditiveAttention": lambda: (att.AdditiveAttention(8, 0.1), (torch.randn(2, 1, 20), torch.randn(2, 10, 2),
                                                                 torch.randn(2, 10, 4), torch.tensor([2, 6]))),
    "MultiHeadAttention": lambda: (att.MultiHeadAttention(100, 5, 0.5), (torch.randn(2, 4, 100), torch.randn(2, 6, 100),
                                                                       torch.randn(2, 6, 100), torch.tensor([3, 2]))),
    "PositionWiseFFN": lambda: (att.PositionWiseFFN(4, 8), (torch.randn(2, 3, 4),)),
    "AddNorm": lambda: (att.AddNorm(4, 0.5), (torch.randn(2, 3, 4), torch.randn(2, 3, 4))),
    "TransformerEncoderBlock": lambda: (att.TransformerEncoderBlock(24, 48, 8, 0.5),
                                        (torch.randn(2, 10, 24), torch.tensor([3, 2]))),
    "TransformerEncoder": lambda: (att.TransformerEncoder(200, 24, 48, 8, 2, 0.5),
                                   (torch.randint(0, 200, (2, 10)), torch.tensor([3, 2]))),
    "TransformerDecoderBlock": lambda: (att.TransformerDecoderBlock(24, 48, 8, 0.5, 0),
                                        (torch.randn(2, 10, 24), [torch.randn(2, 7, 24), torch.tensor([3, 2]), [None]])),
    "PatchEmbedding": lambda: (att.PatchEmbedding(96, 16, 512), (torch.randn(4, 3, 96, 96),)),
    "ViTMLP": lambda: (att.ViTMLP(48, 24), (torch.randn(2, 10, 24),)),
    "ViTBlock": lambda: (att.ViTBlock(24, 24, 48, 8, 0.5), (torch.randn(2, 10, 24),)),
    "ViT": lambda: (att.ViT(96, 16, 512, 2048, 8, 2, 0.1, 0.1), (torch.randn(2, 1, 96, 96),)),
    "BERTEncoder": lambda: (att.BERTEncoder(10000, 768, 1024, 4, 2, 0.2),
                            (torch.randint(0, 10000, (2, 8)), torch.tensor([[0] * 4 + [1] * 4, [0] * 3 + [1] * 5]),
                             torch.tensor([8, 6]))),
    "MaskLM": lambda: (att.MaskLM(10000, 768), (torch.randn(2, 8, 768), torch.tensor([[1, 5, 2], [6, 1, 5]]))),
    "NextSentencePred": lambda: (att.NextSentencePred(), (torch.randn(2, 6144),)),
}


@pytest.mark.parametrize("name", sorted(k for k, v in ATTENTION_BACKWARD.items() if v))
def test_attention_blocks_backward_in_training_mode(name):
    net, inputs = ATTENTION_BACKWARD[name]()
    net.train()
    out = net(*inputs)
    if isinstance(out, tuple):
        out = out[0]
    _grads_reach_every_parameter(net, out)


def test_dot_product_attention_backward_reaches_inputs():
    queries, keys, values, valid_lens = (t.requires_grad_() if t.is_floating_point() else t for t in _book_qkv())
    att.DotProductAttention(0.5)(queries, keys, values, valid_lens).sum().backward()
    # Masked keys get no gradient: their weights are exactly zero
    assert torch.all(keys.grad[0, 2:] == 0) and torch.all(values.grad[1, 6:] == 0)
    assert keys.grad[0, :2].abs().sum() > 0 and values.grad[1, :6].abs().sum() > 0


# --- Recurrent blocks (issue 11) --------------------------------------------

def test_rnn_scratch_book_example():
    batch_size, num_inputs, num_hiddens, num_steps = 2, 16, 32, 100
    rnn = rec.RNNScratch(num_inputs, num_hiddens)
    X = torch.ones((num_steps, batch_size, num_inputs))
    outputs, state = rnn(X)
    assert len(outputs) == num_steps
    assert outputs[0].shape == (batch_size, num_hiddens) and state.shape == (batch_size, num_hiddens)
    assert state is outputs[-1]
    assert [n for n, _ in rnn.named_parameters()] == ["W_xh", "W_hh", "b_h"]


def test_rnn_scratch_equals_torch_rnn():
    rnn = rec.RNNScratch(16, 32)
    ref = nn.RNN(16, 32)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(rnn.W_xh.T)
        ref.weight_hh_l0.copy_(rnn.W_hh.T)
        ref.bias_ih_l0.copy_(rnn.b_h)
        ref.bias_hh_l0.zero_()
    X = torch.randn(7, 3, 16)
    outputs, state = rnn(X)
    ref_outputs, ref_state = ref(X)
    torch.testing.assert_close(torch.stack(outputs), ref_outputs)
    torch.testing.assert_close(state, ref_state[0])
    # Continuing from a (state,) tuple equals one run over the whole sequence
    first, H = rnn(X[:4])
    rest, _ = rnn(X[4:], (H,))
    torch.testing.assert_close(torch.stack(first + rest), torch.stack(outputs), rtol=0, atol=0)


def test_rnn_scratch_initialisation_scale():
    rnn = rec.RNNScratch(512, 512, sigma=0.01)
    assert rnn.W_xh.std().item() == pytest.approx(0.01, rel=0.02)
    assert rnn.W_hh.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.all(rnn.b_h == 0)


def test_rnn_lm_scratch_book_example_and_causality():
    batch_size, num_inputs, num_hiddens, num_steps = 2, 16, 32, 100
    rnn = rec.RNNScratch(num_inputs, num_hiddens)
    model = rec.RNNLMScratch(rnn, num_inputs)
    outputs = model(torch.ones((batch_size, num_steps), dtype=torch.int64))
    assert outputs.shape == (batch_size, num_steps, num_inputs)
    assert list(model.state_dict()) == ["W_hq", "b_q", "rnn.W_xh", "rnn.W_hh", "rnn.b_h"]
    assert model.one_hot(torch.tensor([[0, 2]])).shape == (2, 1, 16)
    X = torch.randint(0, 16, (2, 10))
    Y = model(X)
    X2 = X.clone()
    X2[0, 6] = (X[0, 6] + 1) % 16
    Y2 = model(X2)
    # Step t depends on tokens up to t only, and examples do not mix
    torch.testing.assert_close(Y2[0, :6], Y[0, :6], rtol=0, atol=0)
    assert not torch.equal(Y2[0, 6:], Y[0, 6:])
    torch.testing.assert_close(Y2[1], Y[1], rtol=0, atol=0)
    _grads_reach_every_parameter(model, Y)


def test_lstm_scratch_equals_torch_lstm():
    lstm = rec.LSTMScratch(num_inputs=28, num_hiddens=32)
    ref = nn.LSTM(28, 32)
    with torch.no_grad():
        # torch's gate order: input, forget, cell (input node), output
        ref.weight_ih_l0.copy_(torch.cat([lstm.W_xi, lstm.W_xf, lstm.W_xc, lstm.W_xo], 1).T)
        ref.weight_hh_l0.copy_(torch.cat([lstm.W_hi, lstm.W_hf, lstm.W_hc, lstm.W_ho], 1).T)
        ref.bias_ih_l0.copy_(torch.cat([lstm.b_i, lstm.b_f, lstm.b_c, lstm.b_o]))
        ref.bias_hh_l0.zero_()
    X = torch.randn(6, 3, 28)
    outputs, (H, C) = lstm(X)
    ref_outputs, (ref_H, ref_C) = ref(X)
    assert len(outputs) == 6 and H.shape == C.shape == (3, 32)
    torch.testing.assert_close(torch.stack(outputs), ref_outputs)
    torch.testing.assert_close(C, ref_C[0])
    names = [n for n, _ in lstm.named_parameters()]
    assert names == ["W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o", "W_xc", "W_hc", "b_c"]
    _grads_reach_every_parameter(lstm, torch.stack(outputs))


def test_gru_scratch_shapes_and_update_gate():
    gru = rec.GRUScratch(num_inputs=28, num_hiddens=32)
    X = torch.randn(6, 3, 28)
    outputs, H = gru(X)
    assert len(outputs) == 6 and H.shape == (3, 32)
    assert [n for n, _ in gru.named_parameters()] == ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r",
                                                     "W_xh", "W_hh", "b_h"]
    _grads_reach_every_parameter(gru, torch.stack(outputs))
    # An update gate saturated at 1 keeps the state: H_t = H_{t-1}
    with torch.no_grad():
        gru.b_z.fill_(100.0)
    H0 = torch.randn(3, 32)
    outputs, H = gru(X, H0)
    assert all(torch.equal(o, H0) for o in outputs)
    # ... and saturated at 0 replaces it with the candidate state, which
    # ignores H when the reset gate is closed too
    with torch.no_grad():
        gru.b_z.fill_(-100.0)
        gru.b_r.fill_(-100.0)
    a, _ = gru(X, H0)
    b, _ = gru(X, torch.zeros(3, 32))
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)


def test_stacked_rnn_scratch_fails_past_one_layer_as_in_the_book():
    stacked = rec.StackedRNNScratch(28, 32, 2)
    with pytest.raises(AttributeError, match="shape"):
        stacked(torch.randn(5, 2, 28))
    one = rec.StackedRNNScratch(28, 32, 1)
    outputs, Hs = one(torch.randn(5, 2, 28))
    assert len(outputs) == 5 and len(Hs) == 1


def test_stacked_rnn_scratch_fixed_equals_torch_two_layer_rnn():
    stacked = rec.StackedRNNScratchFixed(28, 32, 2)
    assert list(stacked.state_dict()) == ["rnns.0.W_xh", "rnns.0.W_hh", "rnns.0.b_h",
                                          "rnns.1.W_xh", "rnns.1.W_hh", "rnns.1.b_h"]
    ref = nn.RNN(28, 32, num_layers=2)
    with torch.no_grad():
        for i, layer in enumerate(stacked.rnns):
            getattr(ref, f"weight_ih_l{i}").copy_(layer.W_xh.T)
            getattr(ref, f"weight_hh_l{i}").copy_(layer.W_hh.T)
            getattr(ref, f"bias_ih_l{i}").copy_(layer.b_h)
            getattr(ref, f"bias_hh_l{i}").zero_()
    X = torch.randn(5, 2, 28)
    outputs, Hs = stacked(X)
    ref_outputs, ref_H = ref(X)
    torch.testing.assert_close(torch.stack(outputs), ref_outputs)
    torch.testing.assert_close(torch.stack(Hs), ref_H)
    model = rec.RNNLMScratch(rec.StackedRNNScratchFixed(28, 32, 2), vocab_size=28)
    Y = model(torch.randint(0, 28, (2, 5)))
    assert Y.shape == (2, 5, 28)
    _grads_reach_every_parameter(model, Y)


def test_bi_rnn_scratch_equals_torch_bidirectional_rnn():
    batch_size, num_inputs, num_hiddens, num_steps = 2, 16, 8, 4
    birnn = rec.BiRNNScratch(num_inputs, num_hiddens)
    assert birnn.num_hiddens == 16
    ref = nn.RNN(num_inputs, num_hiddens, bidirectional=True)
    with torch.no_grad():
        for suffix, layer in (("", birnn.f_rnn), ("_reverse", birnn.b_rnn)):
            getattr(ref, "weight_ih_l0" + suffix).copy_(layer.W_xh.T)
            getattr(ref, "weight_hh_l0" + suffix).copy_(layer.W_hh.T)
            getattr(ref, "bias_ih_l0" + suffix).copy_(layer.b_h)
            getattr(ref, "bias_hh_l0" + suffix).zero_()
    X = torch.randn(num_steps, batch_size, num_inputs)
    outputs, (f_H, b_H) = birnn(X)
    assert len(outputs) == num_steps and outputs[0].shape == (batch_size, 2 * num_hiddens)
    ref_outputs, ref_H = ref(X)
    torch.testing.assert_close(torch.stack(outputs), ref_outputs)
    torch.testing.assert_close(torch.stack([f_H, b_H]), ref_H)
    _grads_reach_every_parameter(birnn, torch.stack(outputs))


def test_concise_rnn_and_rnn_lm():
    rnn = rec.RNN(num_inputs=28, num_hiddens=32)
    model = rec.RNNLM(rnn, vocab_size=28, lr=1)
    Y = model(torch.randint(0, 28, (2, 5)))
    assert Y.shape == (2, 5, 28)
    assert model.linear.weight.shape == (28, 32)
    assert list(model.state_dict()) == ["rnn.rnn.weight_ih_l0", "rnn.rnn.weight_hh_l0", "rnn.rnn.bias_ih_l0",
                                        "rnn.rnn.bias_hh_l0", "linear.weight", "linear.bias"]
    assert not hasattr(model, "W_hq")
    _grads_reach_every_parameter(model, Y)


def test_seq2seq_encoder_book_example_and_xavier_init():
    vocab_size, embed_size, num_hiddens, num_layers = 10, 8, 16, 2
    batch_size, num_steps = 4, 9
    encoder = rec.Seq2SeqEncoder(vocab_size, embed_size, num_hiddens, num_layers)
    X = torch.zeros((batch_size, num_steps))
    enc_outputs, enc_state = encoder(X)
    assert enc_outputs.shape == (num_steps, batch_size, num_hiddens)
    assert enc_state.shape == (num_layers, batch_size, num_hiddens)
    gru = encoder.rnn.rnn
    # init_seq2seq: GRU weights xavier-uniform, biases torch's default U(-1/sqrt(h), 1/sqrt(h))
    w = gru.weight_ih_l0  # (3 * 16, 8)
    bound = math.sqrt(6 / (8 + 48))
    assert w.abs().max() <= bound and w.abs().max() > 1 / math.sqrt(16)
    assert all(getattr(gru, f"bias_ih_l{i}").abs().max() <= 1 / math.sqrt(16) for i in range(2))
    _grads_reach_every_parameter(encoder, enc_outputs)


def test_seq2seq_decoder_book_example():
    vocab_size, embed_size, num_hiddens, num_layers = 10, 8, 16, 2
    batch_size, num_steps = 4, 9
    encoder = rec.Seq2SeqEncoder(vocab_size, embed_size, num_hiddens, num_layers)
    decoder = rec.Seq2SeqDecoder(vocab_size, embed_size, num_hiddens, num_layers)
    X = torch.zeros((batch_size, num_steps))
    state = decoder.init_state(encoder(X))
    dec_outputs, state = decoder(X, state)
    assert dec_outputs.shape == (batch_size, num_steps, vocab_size)
    assert state[1].shape == (num_layers, batch_size, num_hiddens)
    assert decoder.rnn.rnn.weight_ih_l0.shape == (48, 24)
    # dense was still lazy when init_seq2seq ran: default init, bound 1/sqrt(16), not xavier's 0.48
    assert decoder.dense.weight.abs().max() <= 1 / math.sqrt(16)
    _grads_reach_every_parameter(decoder, dec_outputs)


# --- Dropout, initialisation, batch norm (issue 11) -------------------------

def test_dropout_layer_book_example():
    X = torch.arange(16, dtype=torch.float32).reshape((2, 8))
    assert torch.equal(bld.dropout_layer(X, 0), X)
    assert torch.equal(bld.dropout_layer(X, 1), torch.zeros_like(X))
    Y = bld.dropout_layer(X, 0.5)
    assert torch.all((Y == 0) | (Y == 2 * X))
    big = bld.dropout_layer(torch.ones(100_000), 0.3)
    assert (big == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert big.mean().item() == pytest.approx(1.0, abs=0.02)


HPARAMS = {"num_outputs": 10, "num_hiddens_1": 256, "num_hiddens_2": 256,
           "dropout_1": 0.5, "dropout_2": 0.5, "lr": 0.1}


def test_dropout_mlp_scratch_drops_in_training_only():
    model = bld.DropoutMLPScratch(**HPARAMS)
    X = torch.rand(4, 1, 28, 28)
    model.eval()
    Y = model(X)
    assert Y.shape == (4, 10) and torch.equal(Y, model(X))
    concise = bld.DropoutMLP(**HPARAMS)
    concise(X)
    with torch.no_grad():
        for p, q in zip(concise.parameters(), model.parameters()):
            p.copy_(q)
    concise.eval()
    torch.testing.assert_close(concise(X), Y, rtol=0, atol=0)
    model.train()
    a, b = model(X), model(X)
    assert not torch.equal(a, b)
    _grads_reach_every_parameter(model, a)


def _materialised_mlp():
    net = bld.mlp()
    net(torch.rand(size=(2, 4)))
    return net


def test_init_functions_on_the_books_mlp():
    net = _materialised_mlp()
    net.apply(bld.init_constant)
    assert torch.all(net[0].weight == 1) and torch.all(net[0].bias == 0)
    net.apply(bld.init_normal)
    assert torch.all(net[2].bias == 0) and net[0].weight.abs().max() < 0.1
    net[0].apply(bld.init_xavier)
    net[2].apply(bld.init_42)
    assert net[0].weight.abs().max() <= math.sqrt(6 / (4 + 8))
    assert torch.all(net[2].weight == 42)
    net.apply(bld.my_init)
    w = net[0].weight
    assert torch.all((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10)))
    assert net(torch.rand(2, 4)).shape == (2, 1)


def test_init_functions_skip_layers_still_lazy():
    net = bld.mlp()
    net.apply(bld.init_constant)  # LazyLinear is not nn.Linear yet: nothing happens
    net(torch.rand(2, 4))
    assert not torch.all(net[0].weight == 1)


@pytest.mark.parametrize("init, check", [
    (bld.init_normal, lambda w, b: w.std().item() == pytest.approx(0.01, rel=0.02)
        and abs(w.mean().item()) < 1e-3 and torch.all(b == 0)),
    (bld.init_constant, lambda w, b: torch.all(w == 1) and torch.all(b == 0)),
    (bld.init_xavier, lambda w, b: w.abs().max() <= math.sqrt(6 / 2000)
        and w.std().item() == pytest.approx(math.sqrt(6 / 2000) / math.sqrt(3), rel=0.02)),
    (bld.init_42, lambda w, b: torch.all(w == 42) and b.abs().max() <= 1 / math.sqrt(1000)),
    (bld.my_init, lambda w, b: (w == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
        and torch.all((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10)))),
], ids=["init_normal", "init_constant", "init_xavier", "init_42", "my_init"])
def test_init_statistics_on_a_large_layer(init, check):
    net = nn.Sequential(nn.Linear(1000, 1000))
    net.apply(init)
    assert check(net[0].weight.detach(), net[0].bias.detach())


def test_init_cnn_after_materialising_anynet():
    net = bld.RegNetX32()
    conv = net.net[0][0]
    assert isinstance(conv, nn.LazyConv2d)  # init_cnn in __init__ did nothing
    net(torch.randn(1, 1, 96, 96))
    net.net.apply(bld.init_cnn)
    w = net.net[0][0].weight  # (32, 1, 3, 3): xavier bound sqrt(6 / (9 + 288))
    assert w.abs().max() <= math.sqrt(6 / (9 + 32 * 9))


def test_batch_norm_function_modes():
    X = torch.randn(8, 3) * 4 + 2
    gamma, beta = torch.ones(1, 3), torch.zeros(1, 3)
    mm, mv = torch.zeros(1, 3), torch.ones(1, 3)
    Y, mm2, mv2 = bld.batch_norm(X, gamma, beta, mm, mv, eps=1e-5, momentum=0.1)
    torch.testing.assert_close(Y.mean(0), torch.zeros(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(Y.var(0, unbiased=False), torch.ones(3), rtol=0, atol=1e-3)
    torch.testing.assert_close(mm2, 0.1 * X.mean(0, keepdim=True))
    torch.testing.assert_close(mv2, 0.9 + 0.1 * X.var(0, unbiased=False, keepdim=True))
    with torch.no_grad():
        Y, mm3, mv3 = bld.batch_norm(X, gamma, beta, mm2, mv2, eps=1e-5, momentum=0.1)
    torch.testing.assert_close(Y, (X - mm2) / torch.sqrt(mv2 + 1e-5))
    assert torch.equal(mm3, mm2) and torch.equal(mv3, mv2)


def test_batch_norm_moving_statistics_after_three_training_steps():
    bn = bld.BatchNorm(6, num_dims=4)
    opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    batches = [torch.randn(4, 6, 5, 5) * (i + 1) + i for i in range(3)]
    for X in batches:
        opt.zero_grad()
        bn(X).pow(2).sum().backward()
        opt.step()
    means = [X.mean(dim=(0, 2, 3), keepdim=True) for X in batches]
    vars_ = [X.var(dim=(0, 2, 3), unbiased=False, keepdim=True) for X in batches]
    # m_t = 0.9 m_{t-1} + 0.1 batch_t, from m_0 = 0 and v_0 = 1
    expected_mean = 0.1 * (0.81 * means[0] + 0.9 * means[1] + means[2])
    expected_var = 0.729 + 0.1 * (0.81 * vars_[0] + 0.9 * vars_[1] + vars_[2])
    torch.testing.assert_close(bn.moving_mean, expected_mean)
    torch.testing.assert_close(bn.moving_var, expected_var)
    assert not torch.equal(bn.gamma, torch.ones(1, 6, 1, 1))  # the step moved the parameters
    # Plain attributes, as in the book: not in state_dict
    assert list(bn.state_dict()) == ["gamma", "beta"]
    # Mode follows torch.is_grad_enabled(), not eval(): no_grad uses the moving statistics
    bn.eval()
    X = batches[0]
    moving_mean, moving_var = bn.moving_mean.clone(), bn.moving_var.clone()
    with torch.no_grad():
        Y = bn(X)
    expected = bn.gamma * (X - moving_mean) / torch.sqrt(moving_var + 1e-5) + bn.beta
    torch.testing.assert_close(Y, expected)
    # not updated under no_grad
    assert torch.equal(bn.moving_mean, moving_mean) and torch.equal(bn.moving_var, moving_var)
    bn(X)  # eval mode but grad enabled: batch statistics, moving ones updated
    assert not torch.equal(bn.moving_mean, moving_mean)


def test_bn_lenet_scratch():
    model = bld.BNLeNetScratch()
    X = torch.rand(4, 1, 28, 28)
    Y = model(X)
    assert Y.shape == (4, 10)
    assert model.net[9].weight.shape == (120, 256)
    _grads_reach_every_parameter(model, Y)
    assert not torch.all(model.net[1].moving_mean == 0)
    assert model.net[1].moving_mean.shape == (1, 6, 1, 1) and model.net[10].moving_mean.shape == (1, 120)
    # Under no_grad the moving statistics make each example's output independent of the batch
    with torch.no_grad():
        torch.testing.assert_close(model(X)[:1], model(X[:1]))
    assert not torch.allclose(model(X)[:1], model(X[:1]))


# --- Modern CNN blocks and builders (issue 11) ------------------------------

def test_resnext_block_book_example():
    blk = bld.ResNeXtBlock(32, 16, 1)
    X = torch.randn(4, 32, 96, 96)
    assert blk(X).shape == (4, 32, 96, 96)
    assert blk.conv2.groups == 2 and blk.conv2.weight.shape == (32, 16, 3, 3)
    assert blk.conv4 is None and not hasattr(blk, "bn4")
    down = bld.ResNeXtBlock(64, 16, 0.5, use_1x1conv=True, strides=2)
    Y = down(torch.randn(2, 32, 8, 8))
    assert Y.shape == (2, 64, 4, 4)
    assert down.conv1.weight.shape == (32, 32, 1, 1)  # int(round(64 * 0.5))
    assert [n for n, _ in down.named_children()] == ["conv1", "conv2", "conv3", "bn1", "bn2", "bn3",
                                                     "conv4", "bn4"]
    _grads_reach_every_parameter(down, Y)


def test_regnetx32_layer_summary_as_the_book_prints_it():
    model = bld.RegNetX32()
    X = torch.randn(1, 1, 96, 96)
    shapes = []
    for layer in model.net:
        X = layer(X)
        shapes.append(tuple(X.shape))
    assert shapes == [(1, 32, 48, 48), (1, 32, 24, 24), (1, 80, 12, 12), (1, 10)]
    assert [n for n, _ in model.net.named_children()] == ["0", "stage1", "stage2", "head"]
    assert len(model.net.stage1) == 4 and len(model.net.stage2) == 6
    assert model.net.stage2[0].conv2.groups == 5  # 80 // 16
    model.train()
    _grads_reach_every_parameter(model, model(torch.randn(2, 1, 96, 96)))


def _copy_by_position(src, dst):
    with torch.no_grad():
        for s, d in zip(list(src.parameters()) + list(src.buffers()),
                        list(dst.parameters()) + list(dst.buffers())):
            assert s.shape == d.shape
            d.copy_(s)


@pytest.mark.parametrize("lazy, explicit, shape", [
    (lambda: bld.vgg_block(2, 8), lambda: d2l_zh.vgg_block(2, 3, 8), (1, 3, 16, 16)),
    (lambda: bld.nin_block(8, 3, 1, 1), lambda: d2l_zh.nin_block(3, 8, 3, 1, 1), (1, 3, 12, 12)),
    (lambda: bld.conv_block(10), lambda: d2l_zh.conv_block(3, 10), (4, 3, 8, 8)),
    (lambda: bld.transition_block(10), lambda: d2l_zh.transition_block(23, 10), (4, 23, 8, 8)),
], ids=["vgg_block", "nin_block", "conv_block", "transition_block"])
def test_lazy_builders_equal_the_explicit_size_editions(lazy, explicit, shape):
    a, b = lazy(), explicit()
    X = torch.randn(*shape)
    a.eval()
    a(X)
    assert isinstance(a, nn.Sequential)
    assert list(a.state_dict()) == list(b.state_dict())
    _copy_by_position(a, b)
    b.eval()
    torch.testing.assert_close(a(X), b(X), rtol=0, atol=0)


def test_dense_block_and_transition_block_book_example():
    blk = bld.DenseBlock(2, 10)
    Y = blk(torch.randn(4, 3, 8, 8))
    assert Y.shape == (4, 23, 8, 8)
    out = bld.transition_block(10)(Y)
    assert out.shape == (4, 10, 4, 4)
    assert [type(m) for m in bld.conv_block(10)][:2] == [nn.LazyBatchNorm2d, nn.ReLU]
