"""Performance measurements of codegen: ``python -m bench [--quick]``.

See docs/benchmarks.md for the figures, the targets and how they are measured.
"""

from __future__ import annotations

import math
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
    """One line of the table. ``bounds`` is the target as (low, high), None for no target."""

    key: str
    what: str
    figure: str
    baseline: str
    ratio: float | None
    target: str
    bounds: tuple[float | None, float | None] | None
    ci: tuple[float, float] | None = None  # 95 % confidence interval of ``ratio``
    failed: str = ""  # a reason to fail whatever the ratio (e.g. a forbidden import)
    notes: list[str] = field(default_factory=list)

    def result(self) -> str:
        if self.failed:
            return "**FAIL**"
        if self.bounds is None or self.ratio is None:
            return "info"
        low, high = self.bounds
        if _within(self.ratio, low, high):
            return "PASS"
        if self.ci is not None and _overlaps(self.ci, low, high):
            return "unclear"  # outside the target, but the interval reaches into it
        return "**FAIL**"


def _within(x: float, low: float | None, high: float | None) -> bool:
    return (low is None or x >= low) and (high is None or x <= high)


def _overlaps(ci: tuple[float, float], low: float | None, high: float | None) -> bool:
    return (high is None or ci[0] <= high) and (low is None or ci[1] >= low)


def median_ci(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95 % confidence interval for the median (order statistics; min-max below 6 values)."""
    v = sorted(values)
    n = len(v)
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return v[lo], v[hi]


def paired(a: list[float], b: list[float]) -> tuple[float, tuple[float, float]]:
    """The median of the per-round ratios a[i] / b[i], and a 95 % confidence interval for it.

    Each round measures A and B back to back, so a round's ratio sees the
    same machine load on both sides; its median over rounds is steadier on
    a shared machine than the ratio of the two medians.
    """
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios), median_ci(ratios)
