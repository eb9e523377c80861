"""The seed document's code, copied as references for the test-suite.

These are the three blocks of ``/work/shared/seed/000_ae3e3996fb8987c1.txt``
(notes on d2l section 4.1 "Layers and Blocks"), kept as the seed writes them,
flaws included, on purpose: generated modules are compared against them.
Only the Chinese comments were translated to short English ones. In
particular:

* ``FixedHiddenMLP.rand_weight`` is a plain tensor attribute, not a buffer or
  parameter: it is absent from ``state_dict`` and does not follow ``.to()``;
* its ``while X.abs().sum() > 1: X /= 2`` loop never ends on a non-finite
  input;
* ``MySequential`` writes into ``self._modules`` directly.
"""
import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    # Declare the layers with parameters: two fully connected layers
    def __init__(self):
        super().__init__()  # Module's constructor does the needed setup
        self.hidden = nn.Linear(20,256)  # hidden layer
        self.out = nn.Linear(256,10)  # output layer

    # Forward pass: how to return the model's output for input X
    def forward(self,X):
        return self.out(F.relu(self.hidden(X)))


class MySequential(nn.Module):
    def __init__(self, *args) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            # module is an instance of a Module subclass
            # _modules is an OrderedDict
            # Why _modules rather than a Python list? Because parameter
            # initialisation knows to look in _modules for child blocks.
            self._modules[str(idx)] = module
    def forward(self, X):
        for block in self._modules.values():
            X = block(X)
        return X


class FixedHiddenMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # Random weight without gradients, so it stays constant in training
        self.rand_weight = torch.rand((20,20), requires_grad=False)
        self.linear = nn.Linear(20,20)

    def forward(self, X):
        X = self.linear(X)
        # Use the constant weight together with relu and mm
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        # Reuse the linear layer: like two layers sharing parameters
        X = self.linear(X)
        # Control flow:
        while X.abs().sum() > 1:  # L1 norm
            X/=2
        return X.sum()
