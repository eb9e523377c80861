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
