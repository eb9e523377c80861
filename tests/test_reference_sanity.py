"""Sanity checks of the reference implementations themselves.

Each check is something the book (or the seed) states about its own code:
the output shape on the stated example input, tied parameters, a centred
output, ``MySequential``'s child names. They guard the references that the
generated modules are compared against.
"""
import pytest
import torch
from torch import nn

from tests.reference import d2l
from tests.reference.seed import FixedHiddenMLP, MLP, MySequential


@pytest.fixture(autouse=True)
def _seeded():
    # Deterministic inputs and weights without leaking RNG state to others.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def _run(net, shape):
    net.eval()
    with torch.no_grad():
        return net(torch.rand(*shape))


@pytest.mark.parametrize(
    "factory, in_shape, out_shape",
    [
        (MLP, (2, 20), (2, 10)),
        (FixedHiddenMLP, (2, 20), ()),
        (d2l.NestMLP, (2, 20), (2, 16)),
        (d2l.chimera, (2, 20), ()),
        (d2l.shared_mlp, (2, 4), (2, 1)),
        (d2l.CenteredLayer, (2, 5), (2, 5)),
        (lambda: d2l.MyLinear(5, 3), (2, 5), (2, 3)),
        (lambda: d2l.MyLinearFixed(5, 3), (2, 5), (2, 3)),
        (d2l.lenet, (1, 1, 28, 28), (1, 10)),
        (d2l.alexnet, (1, 1, 224, 224), (1, 10)),
        (d2l.vgg11, (1, 1, 224, 224), (1, 10)),
        (d2l.nin, (1, 1, 224, 224), (1, 10)),
        (d2l.googlenet, (1, 1, 96, 96), (1, 10)),
        (d2l.resnet18, (1, 1, 96, 96), (1, 10)),
        (d2l.densenet, (1, 1, 96, 96), (1, 10)),
        (lambda: d2l.DenseBlock(2, 3, 10), (4, 3, 8, 8), (4, 23, 8, 8)),
        (lambda: d2l.transition_block(23, 10), (4, 23, 8, 8), (4, 10, 4, 4)),
        (lambda: d2l.Residual(3, 3), (4, 3, 6, 6), (4, 3, 6, 6)),
        (lambda: d2l.Residual(3, 6, use_1x1conv=True, strides=2),
         (4, 3, 6, 6), (4, 6, 3, 3)),
        (lambda: d2l.Inception(192, 64, (96, 128), (16, 32), 32),
         (1, 192, 12, 12), (1, 256, 12, 12)),
    ],
    ids=[
        "MLP", "FixedHiddenMLP", "NestMLP", "chimera", "shared_mlp",
        "CenteredLayer", "MyLinear", "MyLinearFixed", "lenet", "alexnet",
        "vgg11", "nin", "googlenet", "resnet18", "densenet", "DenseBlock",
        "transition_block", "Residual-same", "Residual-1x1conv", "Inception",
    ],
)
def test_output_shape(factory, in_shape, out_shape):
    assert _run(factory(), in_shape).shape == torch.Size(out_shape)


def test_shared_mlp_ties_layers_2_and_4():
    net = d2l.shared_mlp()
    _run(net, (2, 4))
    assert net[2] is net[4]
    assert torch.equal(net[2].weight, net[4].weight)
    # Changing one changes the other: one object, not two equal copies.
    with torch.no_grad():
        net[2].weight[0, 0] = 100
    assert net[4].weight[0, 0] == 100


def test_centered_layer_mean_is_zero():
    Y = _run(d2l.CenteredLayer(), (2, 5))
    assert abs(Y.mean().item()) < 1e-6
    Y = d2l.CenteredLayer()(torch.tensor([1.0, 2, 3, 4, 5]))
    assert torch.equal(Y, torch.tensor([-2.0, -1, 0, 1, 2]))


def test_my_sequential_has_nn_sequential_state_dict_keys():
    layers = [nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)]
    mine = MySequential(*layers)
    theirs = nn.Sequential(*layers)
    assert list(mine.state_dict().keys()) == list(theirs.state_dict().keys())
    X = torch.rand(2, 20)
    with torch.no_grad():
        assert torch.equal(mine(X), theirs(X))


def test_fixed_hidden_mlp_rand_weight_is_plain_attribute():
    net = FixedHiddenMLP()
    # The seed's (and book's) flaw, kept: not a buffer, not a parameter.
    assert "rand_weight" not in net.state_dict()
    assert not net.rand_weight.requires_grad
    assert net.rand_weight.shape == (20, 20)


def test_my_linear_data_cuts_gradient_fixed_does_not():
    book = d2l.MyLinear(5, 3)
    fixed = d2l.MyLinearFixed(5, 3)
    fixed.load_state_dict(book.state_dict())
    X = torch.rand(2, 5)
    assert torch.equal(book(X), fixed(X))
    assert not book(X).requires_grad
    fixed(X).sum().backward()
    assert fixed.weight.grad is not None and fixed.bias.grad is not None
