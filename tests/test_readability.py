"""Generated files read like the book: measured in code lines against the book's own code.

Code lines: non-blank lines that are not comments, docstrings, imports or the
header. The book's code (tests/reference/) is formatted with the same black
mode before counting. Target: at most 1.3 times the book's lines.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from codegen.render import format_source

from .conftest import GENERATED
from .reference import d2l, d2l_attention, d2l_builders, d2l_recurrent, library_blocks as lib, seed

# stem -> the book's code for the same blocks
BOOK = {
    "mlp": [seed.MLP],
    "my_sequential": [seed.MySequential],
    "fixed_hidden_mlp": [seed.FixedHiddenMLP],
    "nest_mlp": [d2l.NestMLP],
    "chimera": [d2l.NestMLP, seed.FixedHiddenMLP, d2l.chimera],
    "shared_mlp": [d2l.shared_mlp],
    "centered_layer": [d2l.CenteredLayer],
    "my_linear": [d2l.MyLinear],
    "lenet": [d2l.lenet],
    "alexnet": [d2l.alexnet],
    "vgg11": [d2l.vgg_block, d2l.vgg, d2l.vgg11],
    "nin": [d2l.nin_block, d2l.nin],
    "vgg_block": [d2l.vgg_block],
    "nin_block": [d2l.nin_block],
    "rnn_scratch": [d2l_recurrent.RNNScratch],
    "bi_rnn_scratch": [d2l_recurrent.RNNScratch, d2l_recurrent.BiRNNScratch],
    "stacked_rnn_scratch": [d2l_recurrent.RNNScratch, d2l_recurrent.StackedRNNScratch],
    "multi_gru": [d2l_recurrent.RNN, d2l_recurrent.GRU],
    "seq2seq_encoder": [d2l_recurrent.RNN, d2l_recurrent.GRU, d2l_recurrent.Seq2SeqEncoder],
    "seq2seq_decoder": [d2l_recurrent.RNN, d2l_recurrent.GRU, d2l_recurrent.Seq2SeqDecoder],
    "batch_norm": [d2l_builders.batch_norm],
    "batch_norm_scratch": [d2l_builders.batch_norm, d2l_builders.BatchNorm],
    "bn_lenet_scratch": [d2l_builders.batch_norm, d2l_builders.BatchNorm, d2l_builders.BNLeNetScratch],
    "resnext_block": [d2l_builders.ResNeXtBlock],
    "anynet_stem": [d2l_builders.AnyNet.stem],
    "anynet_stage": [d2l_builders.ResNeXtBlock, d2l_builders.AnyNet.stage],
    "regnetx32": [d2l_builders.ResNeXtBlock, d2l_builders.AnyNet, d2l_builders.RegNetX32],
    "conv_block": [d2l_builders.conv_block],
    "transition_block": [d2l_builders.transition_block],
    "dropout_layer": [d2l_builders.dropout_layer],
    "dropout_mlp_scratch": [d2l_builders.dropout_layer, d2l_builders.DropoutMLPScratch],
    "concise_rnn": [d2l_recurrent.RNN],
    "rnn_lm": [d2l_recurrent.RNN, d2l_recurrent.RNNLMScratch, d2l_recurrent.RNNLM],
    "rnn_lm_scratch": [d2l_recurrent.RNNScratch, d2l_recurrent.RNNLMScratch],
    "lstm_scratch": [d2l_recurrent.LSTMScratch],
    "gru_scratch": [d2l_recurrent.GRUScratch],
    "googlenet": [d2l.Inception, d2l.googlenet],
    "resnet18": [d2l.Residual, d2l.resnet_block, d2l.resnet18],
    "densenet": [d2l.conv_block, d2l.DenseBlock, d2l.transition_block, d2l.densenet],
    "position_wise_ffn": [d2l_attention.PositionWiseFFN],
    "patch_embedding": [d2l_attention.PatchEmbedding],
    "vit_mlp": [d2l_attention.ViTMLP],
    "next_sentence_pred": [d2l_attention.NextSentencePred],
    "masked_softmax": [d2l_attention.masked_softmax],
    "dot_product_attention": [d2l_attention.masked_softmax, d2l_attention.DotProductAttention],
    "additive_attention": [d2l_attention.masked_softmax, d2l_attention.AdditiveAttention],
    "multi_head_attention": [d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention],
    "positional_encoding": [d2l_attention.PositionalEncoding],
    "add_norm": [d2l_attention.AddNorm],
    "transformer_encoder_block": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.AddNorm, d2l_attention.PositionWiseFFN, d2l_attention.TransformerEncoderBlock,
    ],
    "transformer_encoder": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.AddNorm, d2l_attention.PositionWiseFFN, d2l_attention.TransformerEncoderBlock,
        d2l_attention.PositionalEncoding, d2l_attention.TransformerEncoder,
    ],
    "transformer_decoder_block": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.AddNorm, d2l_attention.PositionWiseFFN, d2l_attention.TransformerDecoderBlock,
    ],
    "vit_block": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.ViTMLP, d2l_attention.ViTBlock,
    ],
    "vit": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.ViTMLP, d2l_attention.ViTBlock, d2l_attention.PatchEmbedding, d2l_attention.ViT,
    ],
    "bert_encoder": [
        d2l_attention.masked_softmax, d2l_attention.DotProductAttention, d2l_attention.MultiHeadAttention,
        d2l_attention.AddNorm, d2l_attention.PositionWiseFFN, d2l_attention.TransformerEncoderBlock,
        d2l_attention.BERTEncoder,
    ],
    "mask_lm": [d2l_attention.MaskLM],
    "transpose_qkv": [d2l_attention.MultiHeadAttention.transpose_qkv],
    "transpose_output": [d2l_attention.MultiHeadAttention.transpose_output],
    # The initialisers with the book's net.apply(...) lines (the references leave them to the caller).
    "init_normal_mlp": [d2l_builders.mlp, d2l_builders.init_normal, "net.apply(init_normal)"],
    "init_constant_mlp": [d2l_builders.mlp, d2l_builders.init_constant, "net.apply(init_constant)"],
    "xavier_42_mlp": [d2l_builders.mlp, d2l_builders.init_xavier, d2l_builders.init_42, "net[0].apply(init_xavier)\nnet[2].apply(init_42)"],
    "my_init_mlp": [d2l_builders.mlp, d2l_builders.my_init, "net.apply(my_init)"],
    "xavier_lenet": [d2l.lenet, d2l_builders.init_cnn, "net.apply(init_cnn)"],
    # issue 14: the libraries' code (tests/reference/library_blocks.py)
    "squeeze_excitation": [lib.SqueezeExcitation],
    "basic_block": [lib.conv3x3, lib.conv1x1, lib.BasicBlock, lib.basic_block],
    "inverted_residual": [lib.Conv2dNormActivation, lib.InvertedResidual],
    "mlp_timm": [lib.Mlp],
    "conv_mlp": [lib.ConvMlp],
    "patch_embed": [lib.PatchEmbed],
    "layer_norm": [lib.LayerNorm],
    "convnext_block": [lib.ConvNeXtBlock],
    "rms_norm": [lib.RMSNorm],
    "causal_self_attention": [lib.CausalSelfAttention],
    "gpt_mlp": [lib.MLP],
    "gpt_block": [lib.LayerNorm, lib.CausalSelfAttention, lib.MLP, lib.Block],
}
LIMIT = 1.3


def code_lines(source: str) -> int:
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, node.end_lineno + 1))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and number not in skip:
            count += 1
    return count


def book_lines(stem: str) -> int:
    # Methods (the book's @d2l.add_to_class functions) are dedented to stand alone; strings are the book's own lines.
    source = "\n\n".join(obj if isinstance(obj, str) else textwrap.dedent(inspect.getsource(obj)) for obj in BOOK[stem])
    return code_lines(format_source(source))


# Over the limit, measured and explained in the issue notes (strict: an improvement fails these,
# so the mark is removed as soon as it is no longer true):
OVER = {
    "fixed_hidden_mlp": "the iteration bound on the while loop adds 4 lines the book does not have",
    "chimera": "includes FixedHiddenMLP, with its loop bound",
    "batch_norm": "23 lines to 16: the typed signature of seven arguments and a 3-tuple return is too long for one line, and black puts each argument on its own line (+8)",
}


@pytest.mark.parametrize(
    "stem",
    [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=OVER[s])) if s in OVER else s for s in sorted(BOOK)],
)
def test_generated_code_is_as_short_as_the_books(stem):
    ours = code_lines((GENERATED / f"{stem}.py").read_text(encoding="utf-8"))
    book = book_lines(stem)
    assert ours <= LIMIT * book, f"{stem}: {ours} code lines, the book {book} ({ours / book:.2f}x)"


def test_code_line_counter():
    source = '"""doc"""\nimport torch\n\n\nclass A:\n    """Doc\n    more."""\n\n    # note\n    x = 1\n'
    assert code_lines(source) == 2


if __name__ == "__main__":
    for stem in sorted(BOOK):
        ours = code_lines((GENERATED / f"{stem}.py").read_text(encoding="utf-8"))
        print(f"{stem:18s} ours {ours:4d}  book {book_lines(stem):4d}  ratio {ours / book_lines(stem):.2f}")
