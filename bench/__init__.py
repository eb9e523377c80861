"""Performance measurements of codegen: ``python -m bench [--quick]``.

See docs/benchmarks.md for the figures, the targets and how they are measured.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    key: str
    what: str
    figure: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None  # None: information only
    spread: str = ""
    notes: list[str] = field(default_factory=list)


def paired(a: list[float], b: list[float], digits: int = 2) -> tuple[float, str]:
    """Ratio of medians, and the interquartile range of the per-round ratios (min-max under 4 rounds)."""
    ratio = statistics.median(a) / statistics.median(b)
    per_round = sorted(x / y for x, y in zip(a, b))
    if len(per_round) >= 4:
        q = statistics.quantiles(per_round, n=4)
        spread = f"{q[0]:.{digits}f}–{q[2]:.{digits}f}"
    else:
        spread = f"{per_round[0]:.{digits}f}–{per_round[-1]:.{digits}f}"
    return ratio, spread
