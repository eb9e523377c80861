"""``python -m bench [--quick]``: codegen's four performance figures, as one Markdown table.

1. cold run of ``specs/`` against the floor (import black and jinja2, format
   the same outputs sequentially, in one process);
2. up-to-date run and ``--check`` against ``python -c pass``, plus a check
   that neither imports black, jinja2, torch or jsonschema;
3. scale: 1,000 synthetic specs (200 with ``--quick``) cold against a
   process-pool floor, one spec changed against that spec alone, and peak RSS;
4. the generated code at run time: forward + backward against the
   hand-written references, and the import cost of a generated module.

Every ratio compares with a baseline measured in the same invocation,
interleaved (A B, B A, A B, ... so neither side always goes first), and
uses the median of the repeats. Progress goes to stderr, the table to stdout.

The generator is measured as a snapshot: codegen/ and templates/ are copied
into a temporary folder when the benchmark starts, so that edits made to
the working tree while it runs cannot mix two versions into one figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from . import synth
from . import BenchError, Row, log, paired

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HEADER_LINES = 3  # codegen.output.HEADER_LINES (not imported: the bench reads the snapshot's files)
HEAVY = ("black", "jinja2", "torch", "jsonschema")

# The floors. Each runs in a fresh interpreter, as codegen does, and pays
# only what any generator of these files must: start Python, import black
# and jinja2, read the final outputs and black.format_str each of them with
# codegen's Mode (pickled from codegen.render.black_mode()).
_FLOOR_READ = """
import pickle, sys
from pathlib import Path
import black, jinja2
mode = pickle.loads(Path(sys.argv[2]).read_bytes())
bodies = [p.read_text(encoding="utf-8").split("\\n", %d)[%d] for p in sorted(Path(sys.argv[1]).glob("*.py"))]
""" % (HEADER_LINES, HEADER_LINES)

FLOOR_SEQUENTIAL = _FLOOR_READ + """
for body in bodies:
    black.format_str(body, mode=mode)
"""

FLOOR_POOL = _FLOOR_READ + """
import multiprocessing, os
from concurrent.futures import ProcessPoolExecutor

def fmt(body):
    return black.format_str(body, mode=mode)

workers = os.cpu_count() or 1
with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
    list(pool.map(fmt, bodies, chunksize=max(1, len(bodies) // (workers * 4))))
"""

# Peak RSS of a command and all its descendants (the largest single process), in KiB.
RSS_WRAPPER = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
if r.returncode:
    sys.exit(r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

MODE_PICKLE = "import pickle, sys; from codegen.render import black_mode; sys.stdout.buffer.write(pickle.dumps(black_mode()))"


# ------------------------------------------------------------------ running and timing


def run(cmd: list[str], cwd: Path, expect: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    if expect is not None and proc.stdout.strip() != expect:
        raise BenchError(f"{' '.join(cmd)} printed {proc.stdout.strip()!r}, expected {expect!r}")
    return proc


def timed(cmd: list[str], cwd: Path, expect: str | None = None, before: Callable[[], None] | None = None) -> Callable[[], float]:
    """A measurement: run ``before`` (untimed), then ``cmd``; returns wall seconds."""

    def measure() -> float:
        if before is not None:
            before()
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        if expect is not None and proc.stdout.strip() != expect:
            raise BenchError(f"{' '.join(cmd)} printed {proc.stdout.strip()!r}, expected {expect!r}")
        return elapsed

    return measure


def interleave(measures: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run each measurement ``repeats`` times, alternating the order every round (A B, B A, ...)."""
    names = list(measures)
    for _ in range(warmup):
        for name in names:
            measures[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(measures[name]())
    return times


def seconds(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


# ------------------------------------------------------------------ the workspace


class Workspace:
    """A temporary folder holding a snapshot of the generator, the specs and every output."""

    def __init__(self, keep: bool) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="codegen-bench-"))
        self.keep = keep
        for folder in ("codegen", "templates"):
            shutil.copytree(ROOT / folder, self.root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copytree(ROOT / "specs", self.root / "specs")
        self.mode = self.root / "mode.pickle"
        self.mode.write_bytes(_mode_bytes(self.root))

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def codegen(self, specs: str, out: str, *extra: str) -> list[str]:
        return [PY, "-m", "codegen", specs, "-o", out, *extra]

    def close(self) -> None:
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _mode_bytes(cwd: Path) -> bytes:
    proc = subprocess.run([PY, "-c", MODE_PICKLE], cwd=cwd, capture_output=True)
    if proc.returncode:
        raise BenchError(f"cannot read codegen.render.black_mode(): {proc.stderr.decode()}")
    return proc.stdout


def fresh(path: Path) -> Callable[[], None]:
    def remove() -> None:
        shutil.rmtree(path, ignore_errors=True)

    return remove


def count_py(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.py"))


# ------------------------------------------------------------------ 1. cold run


def row_cold(ws: Workspace, repeats: int) -> list[Row]:
    n = sum(1 for _ in ws.path("specs").glob("*.json"))
    log(f"1. cold run of specs/ ({n} specs) against the sequential floor, {repeats} rounds")
    # The floor formats the final outputs: keep one cold run's files for it to read.
    run(ws.codegen("specs", "out/floor-input"), ws.root)
    times = interleave(
        {
            "codegen": timed(ws.codegen("specs", "out/cold"), ws.root, f"{n} generated, 0 unchanged", before=fresh(ws.path("out/cold"))),
            "floor": timed([PY, "-c", FLOOR_SEQUENTIAL, "out/floor-input", str(ws.mode)], ws.root),
        },
        repeats,
    )
    ratio, spread = paired(times["codegen"], times["floor"])
    return [
        Row(
            "1",
            f"cold run, `specs/` ({n} specs) into an empty folder",
            seconds(statistics.median(times["codegen"])),
            f"{seconds(statistics.median(times['floor']))} (floor: import black + jinja2, format the {n} outputs sequentially)",
            ratio,
            "≤ 1.15×",
            ratio <= 1.15,
            spread,
        )
    ]


# ------------------------------------------------------------------ 2. up-to-date run


def imported_modules(cmd: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def row_up_to_date(ws: Workspace, repeats: int) -> list[Row]:
    log(f"2. up-to-date run and --check against `python -c pass`, {repeats} rounds")
    run(ws.codegen("specs", "generated"), ws.root)
    n = count_py(ws.path("generated"))
    generate = ws.codegen("specs", "generated")
    check = ws.codegen("specs", "generated", "--check")
    times = interleave(
        {
            "run": timed(generate, ws.root, f"0 generated, {n} unchanged"),
            "check": timed(check, ws.root, f"0 out of date, {n} up to date"),
            "pass": timed([PY, "-c", "pass"], ws.root),
        },
        repeats,
    )
    heavy = {}
    for label, cmd in (("run", generate), ("--check", check)):
        names = imported_modules(cmd, ws.root)
        heavy[label] = sorted({name.split(".")[0] for name in names} & set(HEAVY))
    if any(heavy.values()):
        verdict = "; ".join(f"{label} imports {', '.join(mods)}" for label, mods in heavy.items() if mods)
    else:
        verdict = f"neither imports {', '.join(HEAVY)} (checked with -X importtime)"
    rows = []
    for key, label, name in (("2a", "up-to-date run, `specs/`", "run"), ("2b", "up-to-date `--check`, `specs/`", "check")):
        ratio, spread = paired(times[name], times["pass"])
        lazy = not heavy["run" if name == "run" else "--check"]
        rows.append(
            Row(
                key,
                f"{label} ({n} files)",
                seconds(statistics.median(times[name])),
                f"{seconds(statistics.median(times['pass']))} (`python -c pass`)",
                ratio,
                "≤ 3×",
                ratio <= 3 and lazy,
                spread,
            )
        )
    rows[-1].notes.append(f"Imports: {verdict}.")
    return rows


# ------------------------------------------------------------------ 3. scale


def row_scale(ws: Workspace, n: int, repeats: int) -> list[Row]:
    small = n // 5
    log(f"3. scale: writing {n} synthetic specs (and {small} for the memory comparison)")
    synth.write(n, ws.path("scale", "specs"))
    synth.write(small, ws.path("small", "specs"))
    run(ws.codegen("scale/specs", "out/scale-floor-input"), ws.root)
    lines = sum(p.read_text().count("\n") - HEADER_LINES for p in ws.path("out/scale-floor-input").glob("*.py")) / n

    log(f"3a. cold run of {n} synthetic specs against the process-pool floor, {repeats} rounds")
    times = interleave(
        {
            "codegen": timed(ws.codegen("scale/specs", "out/scale-cold"), ws.root, f"{n} generated, 0 unchanged", before=fresh(ws.path("out/scale-cold"))),
            "floor": timed([PY, "-c", FLOOR_POOL, "out/scale-floor-input", str(ws.mode)], ws.root),
        },
        repeats,
    )
    ratio, spread = paired(times["codegen"], times["floor"])
    workers = os.cpu_count() or 1
    rows = [
        Row(
            "3a",
            f"cold run, {n:,} synthetic specs (mean {lines:.0f} lines each)",
            seconds(statistics.median(times["codegen"])),
            f"{seconds(statistics.median(times['floor']))} (floor: a pool of {workers} forked processes formatting the {n:,} outputs)",
            ratio,
            "≤ 1.15×",
            ratio <= 1.15,
            spread,
        )
    ]

    # One spec changed among n, against a run on that spec alone.
    index = synth.standalone(n)
    stem = synth.stem(index)
    log(f"3b. one spec changed ({stem}.json) among {n} against that spec alone, {repeats} rounds")
    target = ws.path("scale", "specs", f"{stem}.json")
    single = ws.path("single", "specs")
    single.mkdir(parents=True)
    run(ws.codegen("scale/specs", "out/scale-inc"), ws.root)  # n up-to-date files
    state = {"variant": 0}

    def change_one() -> None:
        state["variant"] ^= 1
        target.write_bytes(synth.spec_bytes(index, state["variant"]))

    def alone() -> None:
        shutil.rmtree(ws.path("out/single"), ignore_errors=True)
        (single / f"{stem}.json").write_bytes(synth.spec_bytes(index, state["variant"]))

    times = interleave(
        {
            "changed": timed(ws.codegen("scale/specs", "out/scale-inc"), ws.root, f"1 generated, {n - 1} unchanged", before=change_one),
            "alone": timed(ws.codegen("single/specs", "out/single"), ws.root, "1 generated, 0 unchanged", before=alone),
        },
        repeats,
    )
    ratio, spread = paired(times["changed"], times["alone"])
    rows.append(
        Row(
            "3b",
            f"one spec's hidden size changed among {n:,}",
            seconds(statistics.median(times["changed"])),
            f"{seconds(statistics.median(times['alone']))} (that spec alone in a folder, cold: render + black for one file)",
            ratio,
            "≤ 1.1×",
            ratio <= 1.1,
            spread,
        )
    )

    log(f"3c. peak RSS of cold runs of {n} and {small} specs, and of the floor")
    rss = {}
    for label, cmd, out in (
        ("big", ws.codegen("scale/specs", "out/rss-big"), "out/rss-big"),
        ("small", ws.codegen("small/specs", "out/rss-small"), "out/rss-small"),
        ("floor", [PY, "-c", FLOOR_POOL, "out/scale-floor-input", str(ws.mode)], None),
    ):
        samples = []
        for _ in range(2 if repeats < 5 else 3):
            if out:
                shutil.rmtree(ws.path(out), ignore_errors=True)
            samples.append(int(run([PY, "-c", RSS_WRAPPER, *cmd], ws.root).stdout.split()[-1]) / 1024)
        rss[label] = statistics.median(samples)
    growth = rss["big"] / rss["small"]
    rows.append(
        Row(
            "3c",
            f"peak RSS, cold run of {n:,} specs (largest process)",
            f"{rss['big']:.0f} MiB",
            f"{rss['small']:.0f} MiB ({small} specs); floor at {n:,}: {rss['floor']:.0f} MiB",
            growth,
            "flat (≤ 1.25×, our bound)",
            growth <= 1.25,
        )
    )
    return rows


# ------------------------------------------------------------------ the table


def table(rows: list[Row]) -> str:
    out = [
        "| # | measurement | figure | baseline | ratio | IQR of per-round ratios | target | result |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.3f}×" if row.key.startswith("4") else f"{row.ratio:.2f}×"
        result = "info" if row.ok is None else "PASS" if row.ok else "**FAIL**"
        out.append(f"| {row.key} | {row.what} | {row.figure} | {row.baseline} | {ratio} | {row.spread or '—'} | {row.target} | {result} |")
    notes = [note for row in rows for note in row.notes]
    if notes:
        out.append("")
        out.extend(f"- {note}" for note in notes)
    return "\n".join(out)


def git_state() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "codegen", "templates"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{' + uncommitted changes to codegen/ or templates/' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and 200 synthetic specs (under a minute)")
    p.add_argument("--repeats", type=int, default=None, help="rounds per process measurement (default 9, 3 with --quick)")
    p.add_argument("--scale", type=int, default=None, help="synthetic specs for row 3 (default 1000, 200 with --quick)")
    p.add_argument("--rows", default="1,2,3,4", help="which rows to run, e.g. 1,3")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    scale = args.scale or (200 if args.quick else 1000)
    wanted = set(args.rows.split(","))
    started = time.perf_counter()
    ws = Workspace(args.keep)
    rows: list[Row] = []
    try:
        if "1" in wanted:
            rows += row_cold(ws, repeats + 2)
        if "2" in wanted:
            rows += row_up_to_date(ws, repeats + 2)
        if "3" in wanted:
            rows += row_scale(ws, scale, repeats)
        if "4" in wanted:
            from . import runtime

            run(ws.codegen("specs", "generated"), ws.root)  # up to date if row 2 ran
            rows += runtime.rows(ws.path("generated"), ws.root, quick=args.quick)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        ws.close()
    elapsed = time.perf_counter() - started
    print(f"codegen benchmarks ({'--quick' if args.quick else 'full run'}, {elapsed:.0f} s; codegen at {git_state()}; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}):\n")
    print(table(rows))
    failed = [r.key for r in rows if r.ok is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
