"""Issue 11's training-mode blocks (dropout and BatchNorm from scratch) against the book's code.

References: tests/reference/d2l_builders.py. Outputs, gradients and moving
statistics must be equal with atol=0; random draws are compared from the same
seed, in the same order.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from .conftest import import_generated
from .reference import d2l_builders as book


def generated(stem: str, name: str) -> Any:
    return getattr(import_generated(stem), name)


@pytest.mark.parametrize("shape", [(4, 120), (2, 6, 5, 5)], ids=["2d", "4d"])
@pytest.mark.parametrize("grad", [True, False], ids=["training", "prediction"])
def test_batch_norm_function_equals_the_book(shape, grad):
    """The mode is torch.is_grad_enabled(), as in the book; the rank picks the statistics' axes."""
    batch_norm = generated("batch_norm", "batch_norm")
    torch.manual_seed(0)
    stats = (1, shape[1]) + (1,) * (len(shape) - 2)
    X, gamma, beta = torch.randn(shape), torch.rand(stats) + 0.5, torch.randn(stats)
    moving_mean, moving_var = torch.randn(stats), torch.rand(stats) + 0.5
    ref_in = [t.clone().requires_grad_(grad) for t in (X, gamma, beta)]
    gen_in = [t.clone().requires_grad_(grad) for t in (X, gamma, beta)]
    with torch.set_grad_enabled(grad):
        ref = book.batch_norm(*ref_in, moving_mean, moving_var, eps=1e-5, momentum=0.1)
        gen = batch_norm(*gen_in, moving_mean, moving_var, eps=1e-5, momentum=0.1)
    for g, r in zip(gen, ref):
        torch.testing.assert_close(g, r, rtol=0, atol=0)
    assert not gen[1].requires_grad and not gen[2].requires_grad
    if grad:
        ref[0].sum().backward()
        gen[0].sum().backward()
        for g, r in zip(gen_in, ref_in):
            torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)
    else:  # prediction: the moving statistics pass through unchanged
        torch.testing.assert_close(gen[1], moving_mean, rtol=0, atol=0)


def test_batch_norm_function_scripts():
    batch_norm = generated("batch_norm", "batch_norm")
    scripted = torch.jit.script(batch_norm)
    X, s = torch.randn(4, 8), torch.ones(1, 8)
    for a, b in zip(scripted(X, s, s, s, s, 1e-5, 0.1), batch_norm(X, s, s, s, s, 1e-5, 0.1)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---------------------------------------------------------------------------- dropout from scratch


@pytest.mark.parametrize("p", [0.0, 0.5, 0.8, 1.0])
def test_dropout_layer_equals_the_book(p):
    """Same seed, same draw (torch.rand(X.shape)), same mask and scaling."""
    dropout_layer = generated("dropout_mlp_scratch", "dropout_layer")
    X = torch.arange(16, dtype=torch.float32).reshape((2, 8))
    torch.manual_seed(3)
    ref = book.dropout_layer(X, p)
    torch.manual_seed(3)
    gen = dropout_layer(X, p)
    torch.testing.assert_close(gen, ref, rtol=0, atol=0)
    assert ((gen == 0) | (gen == X / (1 - p) if p < 1 else gen == 0)).all()


def _mlps():
    torch.manual_seed(0)
    ref = book.DropoutMLPScratch(10, 256, 256, 0.5, 0.5, lr=0.1)
    gen = generated("dropout_mlp_scratch", "DropoutMLPScratch")(10, 256, 256, 0.5, 0.5)
    X = torch.randn(4, 1, 28, 28)
    with torch.no_grad():  # materialise the lazy layers on both sides
        ref.eval()(X), gen.eval()(X)
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    return ref, gen, X


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_dropout_mlp_scratch_equals_the_book(train):
    """Training mode drops out (the same draws from the same seed, H1's then H2's); eval mode does not."""
    ref, gen, X = _mlps()
    ref.train(train), gen.train(train)
    torch.manual_seed(7)
    ref_out = ref(X)
    torch.manual_seed(7)
    gen_out = gen(X)
    torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
    ref_out.sum().backward()
    gen_out.sum().backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    torch.manual_seed(8)
    again = gen(X)
    assert torch.equal(again, gen_out) != train  # a new draw changes a training output only


def test_dropout_scratch_scripts():
    """Both script (the MLP once its lazy layers have run, as the book's would)."""
    ref, gen, X = _mlps()
    scripted = torch.jit.script(gen)
    scripted.eval(), gen.eval()
    torch.testing.assert_close(scripted(X), gen(X), rtol=0, atol=0)
    scripted.train(), gen.train()
    torch.manual_seed(1)
    a = scripted(X)
    torch.manual_seed(1)
    torch.testing.assert_close(a, gen(X), rtol=0, atol=0)


# ---------------------------------------------------------------------------- BatchNorm from scratch


@pytest.mark.parametrize("num_features, num_dims, shape", [(6, 4, (4, 6, 5, 5)), (120, 2, (8, 120))], ids=["4d", "2d"])
def test_batch_norm_class_equals_the_book_over_three_steps(num_features, num_dims, shape):
    """Three training steps (outputs, gradients, moving statistics), then prediction under no_grad."""
    ref = book.BatchNorm(num_features, num_dims)
    gen = generated("batch_norm_scratch", "BatchNorm")(num_features, num_dims)
    assert list(gen.state_dict()) == list(ref.state_dict()) == ["gamma", "beta"]
    torch.manual_seed(0)
    batches = [torch.randn(shape) * (i + 1) + i for i in range(3)]
    for X in batches:
        X_ref, X_gen = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
        ref_out, gen_out = ref(X_ref), gen(X_gen)
        torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
        ref_out.pow(2).sum().backward()
        gen_out.pow(2).sum().backward()
        torch.testing.assert_close(X_gen.grad, X_ref.grad, rtol=0, atol=0)
        torch.testing.assert_close(gen.gamma.grad, ref.gamma.grad, rtol=0, atol=0)
        torch.testing.assert_close(gen.moving_mean, ref.moving_mean, rtol=0, atol=0)
        torch.testing.assert_close(gen.moving_var, ref.moving_var, rtol=0, atol=0)
    # The momentum rule after three steps, from the batch means themselves: 0.1 * (0.81 m1 + 0.9 m2 + m3).
    dims = (0,) if num_dims == 2 else (0, 2, 3)
    means = [X.mean(dim=dims).reshape(gen.moving_mean.shape) for X in batches]
    expected = 0.1 * (0.81 * means[0] + 0.9 * means[1] + means[2])
    torch.testing.assert_close(gen.moving_mean, expected, rtol=1e-5, atol=1e-6)
    assert not gen.moving_mean.requires_grad
    with torch.no_grad():  # prediction: the moving statistics, left unchanged
        before = gen.moving_mean.clone()
        torch.testing.assert_close(gen(batches[0]), ref(batches[0]), rtol=0, atol=0)
        torch.testing.assert_close(gen.moving_mean, before, rtol=0, atol=0)


def test_batch_norm_class_moves_its_statistics_with_the_module():
    gen = generated("batch_norm_scratch", "BatchNorm")(6, 4).to(torch.float64)
    assert gen.moving_mean.dtype == gen.moving_var.dtype == torch.float64
    assert gen(torch.randn(2, 6, 3, 3, dtype=torch.float64)).dtype == torch.float64


def test_bn_lenet_scratch_equals_the_book_over_three_steps():
    torch.manual_seed(0)
    ref, gen = book.BNLeNetScratch(), generated("bn_lenet_scratch", "BNLeNetScratch")()
    X = torch.randn(4, 1, 28, 28)
    with torch.no_grad():  # materialise the lazy layers (prediction mode: no statistics change)
        ref(X), gen(X)
    assert list(gen.state_dict()) == list(ref.state_dict())
    gen.load_state_dict(ref.state_dict())
    for step in range(3):
        X = torch.randn(4, 1, 28, 28) + step
        ref_out, gen_out = ref(X), gen(X)
        torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
        ref_out.sum().backward()
        gen_out.sum().backward()
    for (name, r), g in zip(ref.named_parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0, msg=name)
    for i in (1, 5, 10, 13):
        torch.testing.assert_close(gen.net[i].moving_var, ref.net[i].moving_var, rtol=0, atol=0)


def test_batch_norm_class_scripts():
    """Ours scripts (buffers updated in forward); the book's does not (its moving statistics are plain attributes reassigned with .to)."""
    gen = generated("batch_norm_scratch", "BatchNorm")(6, 4)
    scripted = torch.jit.script(generated("batch_norm_scratch", "BatchNorm")(6, 4))
    X = torch.randn(4, 6, 3, 3)
    torch.testing.assert_close(scripted(X), gen(X), rtol=0, atol=0)
    torch.testing.assert_close(scripted.moving_mean, gen.moving_mean, rtol=0, atol=0)
    assert scripted.moving_mean.abs().sum() > 0


# ---------------------------------------------------------------------------- the gate on forward's assignments to self


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("        return Y\n", "        self.gamma = Y\n        return Y\n", "assigns self.gamma, which is not a declared buffer"),
        ("        return Y\n", "        self.extra = Y\n        return Y\n", "assigns self.extra, which is not a declared buffer"),
        ("        Y, self.moving_mean, self.moving_var = batch_norm(", "        Y, self.moving_mean, self.beta = batch_norm(", "assigns self.beta"),
        ("        return Y\n", "        self.moving_mean += 1\n        return Y\n", "augmented assignment to self.moving_mean"),
        ("        return Y\n", "        self.moving_mean[0] = 1.0\n        return Y\n", "assignment to self.moving_mean[0]"),
    ],
)
def test_gate_allows_forward_to_replace_declared_buffers_only(old, new, message):
    """The generated BatchNorm passes; each tampered forward fails (these fail without the gate's rule)."""
    from codegen import analyse, gate
    from codegen.errors import SpecError

    from .conftest import GENERATED, analysed

    blocks = {b.name: b for b in analysed().values()}
    chain = analyse.dependencies(analysed()["batch_norm_scratch"], blocks)
    source = (GENERATED / "batch_norm_scratch.py").read_text(encoding="utf-8")
    gate.check(source, chain, "generated/batch_norm_scratch.py")
    assert old in source
    with pytest.raises(SpecError, match="E900") as info:
        gate.check(source.replace(old, new, 1), chain, "generated/batch_norm_scratch.py")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("    return nn.Sequential(*layers)\n", "    return nn.Sequential(*open('x'))\n", "Starred"),
        ("-> nn.Sequential:", "-> nn.Module:", "must return nn.Sequential"),
        ("def vgg_block(num_convs: int,", "def vgg_block(self, num_convs: int,", "takes"),
        # The book's `in_channels = out_channels`: an argument given a name or a number, in a loop only.
        ("        in_channels = out_channels\n", "        in_channels = out_channels + 1\n", "assignment 'in_channels = out_channels + 1'"),
        ("        in_channels = out_channels\n", "        layers = []\n", "assignment 'layers = []'"),
        ("    layers: list[nn.Module] = []\n", "    layers: list[nn.Module] = []\n    in_channels = 2\n", "assignment 'in_channels = 2'"),
    ],
)
def test_gate_checks_builder_functions(old, new, message):
    from codegen import analyse, gate
    from codegen.errors import SpecError

    from .conftest import GENERATED, analysed

    blocks = {b.name: b for b in analysed().values()}
    chain = analyse.dependencies(analysed()["vgg_block"], blocks)
    source = (GENERATED / "vgg_block.py").read_text(encoding="utf-8")
    gate.check(source, chain, "generated/vgg_block.py")
    assert old in source
    with pytest.raises(SpecError, match="E900") as info:
        gate.check(source.replace(old, new, 1), chain, "generated/vgg_block.py")
    assert message in str(info.value)
