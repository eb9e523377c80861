"""Row 4: the generated code at run time.

Forward + backward of each generated block against its hand-written
reference (tests/test_equivalence.py's CASES: the seed's and the book's
code), with the same weights, in eval mode, on one thread, timed with
torch.utils.benchmark.Timer.blocked_autorange in this process, the two
sides interleaved round by round. Then the import cost of a generated
module beyond ``import torch``, in fresh interpreters.
"""

from __future__ import annotations

import json
import os
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import BenchError, Row, log, paired

ROOT = Path(__file__).resolve().parent.parent
STMT = "m(*xs).sum().backward()"
# Many short rounds beat a few long ones on a shared machine: each round's two
# measurements are a few milliseconds apart, so they see the same load.
MIN_RUN_TIME = 0.001  # blocked_autorange: blocks of >= 1 ms (>= 1 pass), one or two per measurement
BUDGET = 6.0  # seconds of rounds per block (full run)
QUICK_BUDGET = 0.4
MIN_ROUNDS, MAX_ROUNDS = 5, 301
QUICK_SKIP_PIXELS = 96 * 96  # under --quick, blocks fed images this large are skipped (50 ms to 2 s per pass)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as in bench.__main__

IMPORT_PROBE = """
import importlib, json, random, sys, time
start = time.perf_counter()
import torch
torch_s = time.perf_counter() - start
names = sys.argv[2:]
random.Random(int(sys.argv[1])).shuffle(names)
extra = {}
for name in names:
    start = time.perf_counter()
    importlib.import_module("generated." + name)
    extra[name] = time.perf_counter() - start
print(json.dumps({"torch": torch_s, "extra": extra, "first": names[0]}))
"""


def _cases(generated: Path):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests import conftest, test_equivalence

    # The CASES build generated blocks through test_equivalence.import_generated;
    # point it at the snapshot's fresh output instead of the working tree's generated/.
    test_equivalence.import_generated = lambda stem: conftest.import_generated(stem, generated)
    return test_equivalence.CASES, test_equivalence.copy_weights


def forward_backward(generated: Path, quick: bool) -> list[Row]:
    import torch

    torch.set_num_threads(1)
    cases, copy_weights = _cases(generated)
    budget = QUICK_BUDGET if quick else BUDGET
    log(f"4. forward + backward of {len(cases)} generated blocks against their references, about {budget:g} s each, one thread")
    rows: list[Row] = []
    skipped: list[str] = []
    control: Row | None = None
    for name, (make_ref, make_gen, shapes) in cases.items():
        if quick and max(math.prod(s[2:]) for s in shapes) >= QUICK_SKIP_PIXELS:
            skipped.append(name)
            continue
        torch.manual_seed(0)
        ref, gen = make_ref(), make_gen()
        copy_weights(ref, gen)
        ref.eval()
        gen.eval()
        xs = [torch.randn(*shape) for shape in shapes]
        inputs = {side: [x.clone().requires_grad_(True) for x in xs] for side in ("ref", "gen", "ref2")}
        with torch.no_grad():
            if not torch.equal(ref(*xs), gen(*xs)):
                raise BenchError(f"{name}: the generated block's output differs from the reference's")
        shape = " ".join("×".join(map(str, s)) for s in shapes)
        if control is None:
            # Control: this reference against itself (another input tensor): the noise of this run.
            times = _interleaved({"a": (ref, inputs["ref"]), "b": (ref, inputs["ref2"])}, budget)
            ratio, ci = paired(times["a"], times["b"])
            control = Row("4.0", f"control: {name}'s reference against itself ({len(times['a'])} rounds)",
                          _ms(statistics.median(times["a"])), _ms(statistics.median(times["b"])), ratio,
                          "≈ 1 (noise)", None, ci)
        times = _interleaved({"gen": (gen, inputs["gen"]), "ref": (ref, inputs["ref"])}, budget)
        ratio, ci = paired(times["gen"], times["ref"])
        rows.append(
            Row(
                f"4.{len(rows) + 1}",
                f"{name} (input {shape}; {len(times['gen'])} rounds)",
                _ms(statistics.median(times["gen"])),
                _ms(statistics.median(times["ref"])) + " (reference)",
                ratio,
                "0.98–1.02×",
                (0.98, 1.02),
                ci,
            )
        )
        del ref, gen, inputs
    logs = [math.log(r.ratio) for r in rows]
    geomean = math.exp(statistics.fmean(logs))
    # Its interval from the blocks' intervals: a block's standard error is its log-interval's width / 3.92.
    se = math.sqrt(sum(((math.log(r.ci[1]) - math.log(r.ci[0])) / 3.92) ** 2 for r in rows)) / len(rows)
    head = Row(
        "4",
        f"forward + backward, generated vs hand-written: geometric mean of {len(rows)} blocks "
        f"(range {min(r.ratio for r in rows):.3f}–{max(r.ratio for r in rows):.3f}), eval mode, 1 thread",
        "",
        "the references in tests/reference",
        geomean,
        "0.98–1.02×",
        (0.98, 1.02),
        (math.exp(math.log(geomean) - 1.96 * se), math.exp(math.log(geomean) + 1.96 * se)),
    )
    head.notes.append(
        f"Row 4: each round times the generated block and its reference back to back (order alternating), each with "
        f"Timer.blocked_autorange(min_run_time={MIN_RUN_TIME * 1000:.0f} ms); rounds repeat for about {budget:g} s per block "
        f"({MIN_ROUNDS}–{MAX_ROUNDS} rounds); ratio = median of the per-round ratios. The sub-rows carry the row's target for "
        "reference; on a noisy machine single blocks scatter by a few percent (see the control row 4.0), the geometric mean much less."
    )
    if skipped:
        head.notes.append(f"Skipped under --quick (inputs of 96 × 96 pixels or more: 50 ms to 2 s per pass): {', '.join(skipped)}.")
    return [head] + ([control] if control else []) + rows


def _interleaved(sides: dict, budget: float) -> dict[str, list[float]]:
    """Alternate blocked_autorange measurements of each side for about ``budget`` seconds."""
    from torch.utils.benchmark import Timer

    timers = {
        side: Timer(STMT, globals={"m": module, "xs": xs}, num_threads=1, description=side)
        for side, (module, xs) in sides.items()
    }
    names = list(sides)
    times: dict[str, list[float]] = {side: [] for side in names}
    for timer in timers.values():  # warm-up, not recorded
        timer.blocked_autorange(min_run_time=MIN_RUN_TIME)
    start = time.perf_counter()
    rounds = 0
    while rounds < MAX_ROUNDS and (rounds < MIN_ROUNDS or time.perf_counter() - start < budget):
        for side in names if rounds % 2 == 0 else names[::-1]:
            times[side].append(timers[side].blocked_autorange(min_run_time=MIN_RUN_TIME).median)
        rounds += 1
    return times


def _ms(t: float) -> str:
    return f"{t * 1000:.2f} ms" if t < 0.1 else f"{t * 1000:.0f} ms"


def import_cost(generated: Path, cwd: Path, quick: bool) -> Row:
    names = sorted(p.stem for p in generated.glob("*.py"))
    rounds = 1 if quick else 5
    log(f"4i. import cost of {len(names)} generated modules beyond `import torch`, {rounds} fresh interpreter(s)")

    def probe(seed: int) -> dict:
        proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(seed), *names], cwd=cwd, capture_output=True, text=True, env=ENV)
        if proc.returncode:
            raise BenchError(f"importing the generated modules failed:\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout)

    shutil.rmtree(generated / "__pycache__", ignore_errors=True)
    cold = probe(0)  # compiles and writes each module's bytecode
    runs = [probe(seed) for seed in range(1, rounds + 1)] if rounds > 1 else [cold]
    extra = [t for run in runs for t in run["extra"].values()]
    first = [run["extra"][run["first"]] for run in runs]
    torch_import = statistics.median(run["torch"] for run in runs)
    median_extra = statistics.median(extra)
    row = Row(
        "4i",
        f"import of a generated module after `import torch` (median of {len(names)} modules × {rounds} interpreter{'s' if rounds > 1 else ''})",
        f"{median_extra * 1000:.2f} ms (max {max(extra) * 1000:.2f} ms)",
        f"{torch_import * 1000:.0f} ms (`import torch` alone; the module adds {median_extra / torch_import:.2%})",
        None,
        "— (no target)",
        None,
    )
    if rounds > 1:
        row.notes.append(
            f"Import cost: with bytecode cached; the first generated module imported in an interpreter takes "
            f"{statistics.median(first) * 1000:.2f} ms (median), and with no bytecode cache yet (compiling) the median is "
            f"{statistics.median(cold['extra'].values()) * 1000:.2f} ms."
        )
    else:
        row.notes.append("Import cost under --quick: one interpreter, with no bytecode cache yet (each module compiled).")
    return row


def rows(generated: Path, cwd: Path, quick: bool) -> list[Row]:
    return forward_backward(generated, quick) + [import_cost(generated, cwd, quick)]
