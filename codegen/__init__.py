"""codegen: declarative JSON specs of PyTorch blocks -> readable, standalone nn.Module files."""

__version__ = "0.1.0"
