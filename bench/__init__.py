"""Performance measurements of codegen: ``python -m bench [--quick]``.

See docs/benchmarks.md for the figures, the targets and how they are measured.
"""
