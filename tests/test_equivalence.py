"""Generated blocks against hand-written references: the seed's classes and the d2l book's code.

Same parameter count and layout; given the same weights, the same outputs
and the same gradients (eval mode, so dropout and batch norm are deterministic).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from .conftest import import_generated
from .reference import d2l, seed


def generated(stem: str, cls: str, *args, **kwargs) -> nn.Module:
    return getattr(import_generated(stem), cls)(*args, **kwargs)


def copy_weights(src: nn.Module, dst: nn.Module, buffers: bool = True) -> None:
    """Copy parameters and buffers position by position, after checking the layouts agree."""
    src_params, dst_params = list(src.parameters()), list(dst.parameters())
    assert [p.shape for p in src_params] == [p.shape for p in dst_params]
    src_buffers, dst_buffers = (list(src.buffers()), list(dst.buffers())) if buffers else ([], [])
    assert [b.shape for b in src_buffers] == [b.shape for b in dst_buffers]
    with torch.no_grad():
        for s, d in zip(src_params + src_buffers, dst_params + dst_buffers):
            d.copy_(s)


def assert_same(ref: nn.Module, gen: nn.Module, *shapes: tuple[int, ...], train: bool = False) -> None:
    ref.train(train)
    gen.train(train)
    inputs = [torch.randn(*s) for s in shapes]
    ref_inputs = [x.clone().requires_grad_(True) for x in inputs]
    gen_inputs = [x.clone().requires_grad_(True) for x in inputs]
    ref_out, gen_out = ref(*ref_inputs), gen(*gen_inputs)
    torch.testing.assert_close(gen_out, ref_out, rtol=0, atol=0)
    ref_out.sum().backward()
    gen_out.sum().backward()
    for r, g in zip(ref.parameters(), gen.parameters()):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)
    for r, g in zip(ref_inputs, gen_inputs):
        torch.testing.assert_close(g.grad, r.grad, rtol=0, atol=0)


CASES = {
    "mlp": (lambda: seed.MLP(), lambda: generated("mlp", "MLP"), [(2, 20)]),
    "nest_mlp": (lambda: d2l.NestMLP(), lambda: generated("nest_mlp", "NestMLP"), [(2, 20)]),
    "shared_mlp": (d2l.shared_mlp, lambda: generated("shared_mlp", "SharedMLP"), [(2, 4)]),
    "centered_layer": (lambda: d2l.CenteredLayer(), lambda: generated("centered_layer", "CenteredLayer"), [(2, 5)]),
    "my_linear": (lambda: d2l.MyLinearFixed(5, 3), lambda: generated("my_linear", "MyLinear", 5, 3), [(2, 5)]),
    "lenet": (d2l.lenet, lambda: generated("lenet", "LeNet"), [(2, 1, 28, 28)]),
    "alexnet": (d2l.alexnet, lambda: generated("alexnet", "AlexNet"), [(1, 1, 224, 224)]),
    "vgg11": (d2l.vgg11, lambda: generated("vgg11", "vgg11"), [(1, 1, 224, 224)]),
    "nin": (d2l.nin, lambda: generated("nin", "nin"), [(1, 1, 224, 224)]),
    "googlenet": (d2l.googlenet, lambda: generated("googlenet", "GoogLeNet"), [(1, 1, 96, 96)]),
    "resnet18": (d2l.resnet18, lambda: generated("resnet18", "ResNet18"), [(2, 1, 96, 96)]),
    "densenet": (d2l.densenet, lambda: generated("densenet", "DenseNet"), [(2, 1, 96, 96)]),
    "inception": (
        lambda: d2l.Inception(192, 64, (96, 128), (16, 32), 32),
        lambda: generated("inception", "Inception", 192, 64, (96, 128), (16, 32), 32),
        [(1, 192, 12, 12)],
    ),
    "residual": (
        lambda: d2l.Residual(3, 6, use_1x1conv=True, strides=2),
        lambda: generated("residual", "Residual", 3, 6, use_1x1conv=True, strides=2),
        [(4, 3, 6, 6)],
    ),
    "residual_identity": (lambda: d2l.Residual(3, 3), lambda: generated("residual", "Residual", 3, 3), [(4, 3, 6, 6)]),
    "dense_block": (lambda: d2l.DenseBlock(2, 3, 10), lambda: generated("dense_block", "DenseBlock", 2, 3, 10), [(4, 3, 8, 8)]),
    "vgg_block": (lambda: d2l.vgg_block(2, 3, 8), lambda: generated("vgg_block", "vgg_block", 2, 3, 8), [(1, 3, 16, 16)]),
    # The generated loop reassigns in_channels as the book's does: one convolution, and three.
    "vgg_block_one": (lambda: d2l.vgg_block(1, 3, 8), lambda: generated("vgg_block", "vgg_block", 1, 3, 8), [(1, 3, 16, 16)]),
    "vgg_block_three": (lambda: d2l.vgg_block(3, 4, 6), lambda: generated("vgg_block", "vgg_block", 3, 4, 6), [(2, 4, 8, 8)]),
    "nin_block": (lambda: d2l.nin_block(3, 8, 3, 1, 1), lambda: generated("nin_block", "nin_block", 3, 8, 3, 1, 1), [(1, 3, 12, 12)]),
}
# Builder functions (kind "builder"): the book's functions returning nn.Sequential, so the same state_dict keys.
BUILDERS = ["vgg_block", "nin_block", "vgg11", "nin"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_reference(case):
    make_ref, make_gen, shapes = CASES[case]
    ref, gen = make_ref(), make_gen()
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in gen.parameters())
    copy_weights(ref, gen)
    assert_same(ref, gen, *shapes)


@pytest.mark.parametrize("case", BUILDERS)
def test_builders_have_the_books_state_dict_keys(case):
    make_ref, make_gen, _ = CASES[case]
    ref, gen = make_ref(), make_gen()
    assert type(gen) is nn.Sequential
    assert list(gen.state_dict()) == list(ref.state_dict())
    assert list(gen.state_dict())[0] == ("0.0.weight" if case in ("vgg11", "nin") else "0.weight")


@pytest.mark.parametrize("case", ["resnet18", "densenet", "residual", "dense_block"])
def test_equals_reference_in_training_mode(case):
    """Batch norm in training mode uses batch statistics and updates running ones: these must agree too."""
    make_ref, make_gen, shapes = CASES[case]
    ref, gen = make_ref(), make_gen()
    copy_weights(ref, gen)
    assert_same(ref, gen, *shapes, train=True)
    for r, g in zip(ref.buffers(), gen.buffers()):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_my_sequential_matches_nn_sequential():
    gen_cls = import_generated("my_sequential").MySequential
    layers = [nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)]
    mine, ref = gen_cls(*layers), nn.Sequential(*layers)
    assert list(mine.state_dict()) == list(ref.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    X = torch.randn(2, 20)
    torch.testing.assert_close(mine(X), ref(X), rtol=0, atol=0)
    seed_net = seed.MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    copy_weights(seed_net, mine)
    assert_same(seed_net, mine, (2, 20))


def test_fixed_hidden_mlp_matches_seed_and_keeps_its_constant():
    ref = seed.FixedHiddenMLP()
    gen = generated("fixed_hidden_mlp", "FixedHiddenMLP")
    with torch.no_grad():
        gen.rand_weight.copy_(ref.rand_weight)
    copy_weights(ref.linear, gen.linear)
    assert_same(ref, gen, (2, 20))
    # Better than the seed: the constant is a buffer, saved and moved with the module.
    assert "rand_weight" in gen.state_dict() and "rand_weight" not in ref.state_dict()
    assert not gen.rand_weight.requires_grad
    assert [n for n, _ in gen.named_parameters()] == ["linear.weight", "linear.bias"]
    moved = gen.to(torch.float64)
    assert moved.rand_weight.dtype == torch.float64


def test_fixed_hidden_mlp_raises_on_inf_instead_of_spinning():
    gen = generated("fixed_hidden_mlp", "FixedHiddenMLP")
    with torch.no_grad():
        gen.linear.weight.fill_(1.0)
        gen.linear.bias.zero_()
    X = torch.full((2, 20), float("inf"))
    with pytest.raises(RuntimeError, match="loop exceeded 10000 iterations"):
        gen(X)


def test_fixed_hidden_mlp_bound_never_changes_finite_results():
    """The largest finite float32 inputs need far fewer halvings than the bound."""
    ref, gen = seed.FixedHiddenMLP(), generated("fixed_hidden_mlp", "FixedHiddenMLP")
    with torch.no_grad():
        gen.rand_weight.copy_(ref.rand_weight)
    copy_weights(ref.linear, gen.linear)
    X = torch.full((2, 20), 1e30)
    torch.testing.assert_close(gen(X), ref(X), rtol=0, atol=0)


def test_chimera_matches_book():
    ref = d2l.chimera()
    gen = generated("chimera", "Chimera")
    # The book's FixedHiddenMLP keeps its constant outside state_dict; ours is a buffer.
    assert [b.shape for b in gen.buffers()] == [(20, 20)] and not list(ref.buffers())
    copy_weights(ref, gen, buffers=False)
    fixed_ref, fixed_gen = ref[2], gen.net[2]
    with torch.no_grad():
        fixed_gen.rand_weight.copy_(fixed_ref.rand_weight)
    assert_same(ref, gen, (2, 20))


def test_residual_scripts_with_torchscript():
    """The book's `if self.conv3:` fails TorchScript; the generated `is not None` compiles."""
    res = import_generated("residual").Residual
    for net in (res(3, 3), res(3, 6, use_1x1conv=True, strides=2)):
        scripted = torch.jit.script(net.eval())
        X = torch.randn(4, 3, 6, 6)
        torch.testing.assert_close(scripted(X), net(X))


def test_book_shape_checks():
    mod = import_generated("dense_block")
    assert mod.DenseBlock(2, 3, 10)(torch.randn(4, 3, 8, 8)).shape == (4, 23, 8, 8)
    res = import_generated("residual").Residual
    assert res(3, 3)(torch.randn(4, 3, 6, 6)).shape == (4, 3, 6, 6)
    assert res(3, 6, use_1x1conv=True, strides=2)(torch.randn(4, 3, 6, 6)).shape == (4, 6, 3, 3)


def test_my_linear_gradients_reach_its_parameters():
    net = generated("my_linear", "MyLinear", 5, 3)
    net(torch.randn(2, 5)).sum().backward()
    assert net.weight.grad is not None and net.bias.grad is not None
