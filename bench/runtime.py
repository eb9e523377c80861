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
HEAVY_SECONDS = 0.25  # one forward + backward above this: fewer rounds, and skipped under --quick

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
    from torch.utils.benchmark import Timer

    torch.set_num_threads(1)
    cases, copy_weights = _cases(generated)
    rounds = 3 if quick else 7
    min_run_time = 0.1 if quick else 0.2
    log(f"4. forward + backward of {len(cases)} generated blocks against their references, {rounds} rounds each, one thread")
    rows: list[Row] = []
    skipped: list[str] = []
    for name, (make_ref, make_gen, shapes) in cases.items():
        torch.manual_seed(0)
        ref, gen = make_ref(), make_gen()
        copy_weights(ref, gen)
        ref.eval()
        gen.eval()
        xs = [torch.randn(*shape) for shape in shapes]
        inputs = {"ref": [x.clone().requires_grad_(True) for x in xs], "gen": [x.clone().requires_grad_(True) for x in xs]}
        with torch.no_grad():
            if not torch.equal(ref(*xs), gen(*xs)):
                raise BenchError(f"{name}: the generated block's output differs from the reference's")
        start = time.perf_counter()
        ref(*inputs["ref"]).sum().backward()
        once = time.perf_counter() - start
        heavy = once > HEAVY_SECONDS
        if heavy and quick:
            skipped.append(f"{name} ({once:.1f} s per pass)")
            continue
        timers = {
            side: Timer(STMT, globals={"m": module, "xs": inputs[side]}, num_threads=1, label=name, description=side)
            for side, module in (("gen", gen), ("ref", ref))
        }
        times: dict[str, list[float]] = {"gen": [], "ref": []}
        n = max(3, rounds - 2) if heavy else rounds
        for r in range(n):
            for side in ("gen", "ref") if r % 2 == 0 else ("ref", "gen"):
                times[side].append(timers[side].blocked_autorange(min_run_time=min_run_time).median)
        ratio, spread = paired(times["gen"], times["ref"], digits=3)
        shape = " ".join("×".join(map(str, s)) for s in shapes)
        rows.append(
            Row(
                f"4.{len(rows) + 1}",
                f"{name} (input {shape})",
                _ms(statistics.median(times["gen"])),
                _ms(statistics.median(times["ref"])) + " (reference)",
                ratio,
                "0.98–1.02×",
                0.98 <= ratio <= 1.02,
                spread,
            )
        )
        del ref, gen, inputs, timers
    geomean = math.exp(statistics.fmean(math.log(r.ratio) for r in rows))
    head = Row(
        "4",
        f"forward + backward, generated vs hand-written (geometric mean of {len(rows)} blocks, eval mode, 1 thread)",
        "",
        "the references in tests/reference",
        geomean,
        "0.98–1.02×",
        0.98 <= geomean <= 1.02,
        f"{min(r.ratio for r in rows):.3f}–{max(r.ratio for r in rows):.3f} (range over blocks)",
    )
    if skipped:
        head.notes.append("Skipped under --quick (too slow for a one-minute run): " + ", ".join(skipped) + ".")
    return [head] + rows


def _ms(t: float) -> str:
    return f"{t * 1000:.2f} ms" if t < 0.1 else f"{t * 1000:.0f} ms"


def import_cost(generated: Path, cwd: Path, quick: bool) -> Row:
    names = sorted(p.stem for p in generated.glob("*.py"))
    rounds = 2 if quick else 5
    log(f"4i. import cost of {len(names)} generated modules beyond `import torch`, {rounds} fresh interpreters")

    def probe(seed: int) -> dict:
        proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(seed), *names], cwd=cwd, capture_output=True, text=True)
        if proc.returncode:
            raise BenchError(f"importing the generated modules failed:\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout)

    shutil.rmtree(generated / "__pycache__", ignore_errors=True)
    cold = probe(0)  # compiles and writes each module's bytecode
    runs = [probe(seed) for seed in range(1, rounds + 1)]
    extra = [t for run in runs for t in run["extra"].values()]
    first = [run["extra"][run["first"]] for run in runs]
    torch_import = statistics.median(run["torch"] for run in runs)
    median_extra = statistics.median(extra)
    row = Row(
        "4i",
        f"import of a generated module after `import torch` (median of {len(names)} modules × {rounds} interpreters)",
        f"{median_extra * 1000:.2f} ms",
        f"{torch_import * 1000:.0f} ms (`import torch` alone)",
        median_extra / torch_import,
        "— (no target)",
        None,
        f"max {max(extra) * 1000:.2f} ms",
    )
    row.notes.append(
        f"Import cost: bytecode cached; the first module imported in an interpreter takes {statistics.median(first) * 1000:.2f} ms "
        f"(median), and with no bytecode cache (compiling) the median is {statistics.median(cold['extra'].values()) * 1000:.2f} ms."
    )
    return row


def rows(generated: Path, cwd: Path, quick: bool) -> list[Row]:
    return forward_backward(generated, quick) + [import_cost(generated, cwd, quick)]
