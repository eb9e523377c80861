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
interleaved (A B, B A, A B, ... so neither side always goes first): it is
the median over rounds of each round's ratio, with a distribution-free 95 %
confidence interval. Progress goes to stderr, the table to stdout.

The generator is measured as a snapshot: codegen/ and templates/ are copied
into a temporary folder when the benchmark starts, so that edits made to
the working tree while it runs cannot mix two versions into one figure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import synth
from . import BenchError, Row, log, paired

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HEADER = r"\A(#[^\n]*\n)+"  # codegen's header: the leading comment lines (the bench reads the snapshot's files)
HEAVY = ("black", "jinja2", "torch", "jsonschema")

# The floors. Each runs in a fresh interpreter, as codegen does, and pays
# only what any generator of these files must: start Python, import black
# and jinja2, read the final outputs and black.format_str each of them with
# codegen's Mode (pickled from codegen.render.black_mode()).
_FLOOR_READ = """
import pickle, re, sys
from pathlib import Path
import black, jinja2
mode = pickle.loads(Path(sys.argv[2]).read_bytes())
bodies = [re.sub(%r, "", p.read_text(encoding="utf-8")) for p in sorted(Path(sys.argv[1]).glob("*.py"))]
""" % HEADER

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
# Chunks as codegen cuts them (at most 8 files): small enough that neither process idles long at the end.
with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
    list(pool.map(fmt, bodies, chunksize=max(1, min(8, -(-len(bodies) // (workers * 4))))))
"""

MODE_PICKLE = "import pickle, sys; from codegen.render import black_mode; sys.stdout.buffer.write(pickle.dumps(black_mode()))"


# ------------------------------------------------------------------ running and timing

# The measured commands run as on a normal install: bytecode caching on
# (this sandbox sets PYTHONDONTWRITEBYTECODE, which would make every run
# recompile codegen), nothing else changed.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Done:
    seconds: float
    stdout: str
    max_rss_kib: int  # the largest process among the command and its descendants


def spawn(cmd: list[str], cwd: Path, expect: str | None = None) -> Done:
    """Run ``cmd``, timing it from fork to reap; wait4 also gives the peak RSS of it and its children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    shown = " ".join(c if len(c) < 80 else c[:40] + "..." for c in cmd)
    if proc.returncode != 0:
        raise BenchError(f"{shown} exited {proc.returncode}:\n{stdout}{stderr[-3000:]}")
    if expect is not None and stdout.strip() != expect:
        raise BenchError(f"{shown} printed {stdout.strip()!r}, expected {expect!r}")
    return Done(elapsed, stdout, usage.ru_maxrss)


def run(cmd: list[str], cwd: Path, expect: str | None = None) -> Done:
    return spawn(cmd, cwd, expect)


def timed(cmd: list[str], cwd: Path, expect: str | None = None, before: Callable[[], None] | None = None,
          rss: list[int] | None = None) -> Callable[[], float]:
    """A measurement: run ``before`` (untimed), then ``cmd``; returns wall seconds (and appends peak RSS to ``rss``)."""

    def measure() -> float:
        if before is not None:
            before()
        done = spawn(cmd, cwd, expect)
        if rss is not None:
            rss.append(done.max_rss_kib)
        return done.seconds

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
        self.cache = self.root / "cache"  # codegen's stat cache, kept apart from the user's
        self.trash = self.root / "trash"  # what cold runs' set-up moved aside (see ``fresh``)
        self.trashed = 0
        ENV["CODEGEN_CACHE_DIR"] = str(self.cache)

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
    proc = subprocess.run([PY, "-c", MODE_PICKLE], cwd=cwd, capture_output=True, env=ENV)
    if proc.returncode:
        raise BenchError(f"cannot read codegen.render.black_mode(): {proc.stderr.decode()}")
    return proc.stdout


def fresh(ws: "Workspace", *paths: Path) -> Callable[[], None]:
    """Before a cold run: move ``paths`` (its output folder, the stat cache) out of the way.

    Moved, not deleted: on ext4 without a journal (this VM's disk) a file
    created within 30 s of a deletion makes the kernel skip every recently
    freed inode of its block group (``recently_deleted`` in
    ``find_inode_bit``), so deleting 1,000 outputs before each round made
    each file codegen then created cost ~1 ms of kernel time instead of
    ~0.2 ms: a cost of the benchmark's own clean-up, not of a cold run. What
    is moved aside is deleted when the workspace closes.
    """

    def move_aside() -> None:
        for path in paths:
            if path.exists():
                ws.trash.mkdir(exist_ok=True)
                ws.trashed += 1
                path.rename(ws.trash / f"{ws.trashed}-{path.name}")

    return move_aside


def count_py(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.py"))


PAGE = 1  # generated/README.md: every run over a whole folder writes (or keeps) it besides the modules


# ------------------------------------------------------------------ 1. cold run


def row_cold(ws: Workspace, repeats: int) -> list[Row]:
    n = sum(1 for p in ws.path("specs").glob("*.json") if not p.name.endswith(".schema.json"))  # not the schema copy the specs name
    log(f"1. cold run of specs/ ({n} specs) against the sequential floor, {repeats} rounds")
    # The floor formats the final outputs: keep one cold run's files for it to read.
    run(ws.codegen("specs", "out/floor-input"), ws.root)
    times = interleave(
        {
            "codegen": timed(ws.codegen("specs", "out/cold"), ws.root, f"{n + PAGE} generated, 0 unchanged", before=fresh(ws, ws.path("out/cold"), ws.cache)),
            "floor": timed([PY, "-c", FLOOR_SEQUENTIAL, "out/floor-input", str(ws.mode)], ws.root),
        },
        repeats,
    )
    ratio, ci = paired(times["codegen"], times["floor"])
    return [
        Row(
            "1",
            f"cold run, `specs/` ({n} specs) into an empty folder",
            seconds(statistics.median(times["codegen"])),
            f"{seconds(statistics.median(times['floor']))} (floor: import black + jinja2, format the {n} outputs sequentially)",
            ratio,
            "≤ 1.15×",
            (None, 1.15),
            ci,
        )
    ]


# ------------------------------------------------------------------ 2. up-to-date run


def imported_modules(cmd: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, capture_output=True, text=True, env=ENV)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


STDLIB_FLOOR = "import argparse, pathlib, json, re"


def row_up_to_date(ws: Workspace, repeats: int) -> list[Row]:
    log(f"2. up-to-date run and --check against `python -c pass`, {repeats} rounds")
    run(ws.codegen("specs", "generated"), ws.root)
    n = count_py(ws.path("generated")) + PAGE
    generate = ws.codegen("specs", "generated")
    check = ws.codegen("specs", "generated", "--check")
    times = interleave(
        {
            "run": timed(generate, ws.root, f"0 generated, {n} unchanged"),
            "check": timed(check, ws.root, f"0 out of date, {n} up to date"),
            "pass": timed([PY, "-c", "pass"], ws.root),
            # A fresh clone has no stat cache: every spec and output is read and hashed.
            "nocache": timed(ws.codegen("specs", "generated", "--no-cache"), ws.root, f"0 generated, {n} unchanged"),
            # What any CLI of ours pays before doing anything: the standard library it needs.
            "stdlib": timed([PY, "-c", STDLIB_FLOOR], ws.root),
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
        ratio, ci = paired(times[name], times["pass"])
        lazy = not heavy["run" if name == "run" else "--check"]
        rows.append(
            Row(
                key,
                f"{label} ({n} files)",
                seconds(statistics.median(times[name])),
                f"{seconds(statistics.median(times['pass']))} (`python -c pass`)",
                ratio,
                "≤ 3×",
                (None, 3.0),
                ci,
                failed="" if lazy else "imports a heavy module",
            )
        )
    for key, label, name in (
        ("2c", "up-to-date run, `specs/`, `--no-cache` (as on a fresh clone: every file read and hashed)", "nocache"),
        ("2d", f"control: `python -c \"{STDLIB_FLOOR}\"` (argparse, pathlib, json, re: what the CLI imports before any work)", "stdlib"),
    ):
        ratio, ci = paired(times[name], times["pass"])
        pass_time = seconds(statistics.median(times["pass"]))
        rows.append(Row(key, label, seconds(statistics.median(times[name])), f"{pass_time} (`python -c pass`)", ratio, "— (info)", None, ci))
    rows[-1].notes.append(f"Imports: {verdict}.")
    return rows


# ------------------------------------------------------------------ 3. scale


def row_scale(ws: Workspace, n: int, big_rounds: int, rounds: int, quick: bool) -> list[Row]:
    small = n // 5
    log(f"3. scale: writing {n} synthetic specs (and {small} for the memory comparison)")
    synth.write(n, ws.path("scale", "specs"))
    synth.write(small, ws.path("small", "specs"))
    # This first cold run also warms the caches for the codegen side (hence no warm-up round below).
    run(ws.codegen("scale/specs", "out/scale-floor-input"), ws.root, f"{n + PAGE} generated, 0 unchanged")
    lines = sum(re.sub(HEADER, "", p.read_text()).count("\n") for p in ws.path("out/scale-floor-input").glob("*.py")) / n

    log(f"3a. cold run of {n} synthetic specs against the process-pool floor, {big_rounds} rounds")
    rss: dict[str, list[int]] = {"codegen": [], "floor": [], "small": []}
    floor = [PY, "-c", FLOOR_POOL, "out/scale-floor-input", str(ws.mode)]
    if not quick:
        spawn(floor, ws.root)  # warm-up of the floor side (black's files are already cached by row 1)
    times = interleave(
        {
            "codegen": timed(ws.codegen("scale/specs", "out/scale-cold"), ws.root, f"{n + PAGE} generated, 0 unchanged",
                             before=fresh(ws, ws.path("out/scale-cold"), ws.cache), rss=rss["codegen"]),
            "floor": timed(floor, ws.root, rss=rss["floor"]),
        },
        big_rounds,
        warmup=0,
    )
    ratio, ci = paired(times["codegen"], times["floor"])
    workers = os.cpu_count() or 1
    rows = [
        Row(
            "3a",
            f"cold run, {n:,} synthetic specs (mean {lines:.0f} lines each) into an empty folder",
            seconds(statistics.median(times["codegen"])),
            f"{seconds(statistics.median(times['floor']))} (floor: a pool of {workers} forked processes formatting the {n:,} outputs)",
            ratio,
            "≤ 1.15×",
            (None, 1.15),
            ci,
        )
    ]

    # One spec changed among n, against a run on that spec alone.
    index = synth.standalone(n)
    stem = synth.stem(index)
    log(f"3b. one spec changed ({stem}.json) among {n} against that spec alone, {rounds} rounds")
    target = ws.path("scale", "specs", f"{stem}.json")
    single = ws.path("single", "specs")
    single.mkdir(parents=True)
    shutil.copytree(ws.path("out/scale-floor-input"), ws.path("out/scale-inc"))  # n up-to-date files
    # As after a user's earlier run: files older than the stat cache's racy window (2 s), and a run that
    # recorded them. (Without this the first rounds would read all 2,000 files, as no earlier run did.)
    time.sleep(2.5)
    run(ws.codegen("scale/specs", "out/scale-inc"), ws.root, f"0 generated, {n + PAGE} unchanged")
    state = {"variant": 0}

    def change_one() -> None:
        state["variant"] ^= 1
        target.write_bytes(synth.spec_bytes(index, state["variant"]))

    def alone() -> None:
        fresh(ws, ws.path("out/single"))()
        (single / f"{stem}.json").write_bytes(synth.spec_bytes(index, state["variant"]))

    times = interleave(
        {
            "changed": timed(ws.codegen("scale/specs", "out/scale-inc"), ws.root, f"{1 + PAGE} generated, {n - 1} unchanged", before=change_one),
            "alone": timed(ws.codegen("single/specs", "out/single"), ws.root, f"{1 + PAGE} generated, 0 unchanged", before=alone),
        },
        rounds,
    )
    ratio, ci = paired(times["changed"], times["alone"])
    rows.append(
        Row(
            "3b",
            f"one spec's hidden size changed among {n:,}: regenerates that file",
            seconds(statistics.median(times["changed"])),
            f"{seconds(statistics.median(times['alone']))} (that spec alone in a folder, cold: render + black for one file)",
            ratio,
            "≤ 1.1×",
            (None, 1.1),
            ci,
        )
    )

    log(f"3c. peak RSS: cold runs of {small} specs, against the {n}-spec runs above")
    for _ in range(1 if quick else 3):
        fresh(ws, ws.path("out/rss-small"), ws.cache)()
        rss["small"].append(spawn(ws.codegen("small/specs", "out/rss-small"), ws.root, f"{small + PAGE} generated, 0 unchanged").max_rss_kib)
    mib = {k: statistics.median(v) / 1024 for k, v in rss.items()}
    growth = mib["codegen"] / mib["small"]
    rows.append(
        Row(
            "3c",
            f"peak RSS of the cold run of {n:,} specs (largest single process)",
            f"{mib['codegen']:.0f} MiB",
            f"{mib['small']:.0f} MiB (cold run of {small} specs); the floor at {n:,}: {mib['floor']:.0f} MiB",
            growth,
            "flat: ≤ 1.25× (our bound)",
            (None, 1.25),
        )
    )
    return rows


# ------------------------------------------------------------------ the table


def table(rows: list[Row]) -> str:
    out = [
        "| # | measurement | figure | baseline | ratio | 95% CI of the ratio | target | result |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.3f}×" if row.key.startswith("4") else f"{row.ratio:.2f}×"
        digits = 3 if row.key.startswith("4") else 2
        ci = "—" if row.ci is None else f"{row.ci[0]:.{digits}f}–{row.ci[1]:.{digits}f}"
        out.append(f"| {row.key} | {row.what} | {row.figure} | {row.baseline} | {ratio} | {ci} | {row.target} | {row.result()} |")
    notes = [note for row in rows for note in row.notes]
    notes.append(
        "Ratio: the median over rounds of figure / baseline, each round timing both back to back (the order alternating). "
        "95% CI: a distribution-free interval for that median (min–max under 6 rounds). "
        "Result: PASS when the ratio meets the target, FAIL when the whole interval misses it, unclear otherwise."
    )
    out.append("")
    out.extend(f"- {note}" for note in notes)
    return "\n".join(out)


def git_state() -> str:
    """The commit, and whether codegen/ or templates/ differ from it (taken with the snapshot)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "codegen", "templates"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown commit"
    return f"{rev or 'unknown commit'}{' + uncommitted changes' if dirty else ''}"


def snapshot_digest(root: Path) -> str:
    """A digest of the snapshot's codegen/*.py, schema and templates, to tell runs of different code apart."""
    h = hashlib.sha256()
    for path in sorted(root.glob("codegen/*.py")) + sorted(root.glob("codegen/*.json")) + sorted(root.glob("templates/*")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and 200 synthetic specs (under a minute)")
    p.add_argument("--repeats", type=int, default=None,
                   help="rounds per process measurement (default 11, 4 with --quick; the cold run at scale does 6 fewer, at least 2)")
    p.add_argument("--scale", type=int, default=None, help="synthetic specs for row 3 (default 1000, 200 with --quick)")
    p.add_argument("--rows", default="1,2,3,4", help="which rows to run, e.g. 1,3")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    repeats = args.repeats or (4 if args.quick else 11)
    scale = args.scale or (200 if args.quick else 1000)
    wanted = set(args.rows.split(","))
    started = time.perf_counter()
    state = git_state()
    ws = Workspace(args.keep)
    state += f", snapshot {snapshot_digest(ws.root)} taken {time.strftime('%Y-%m-%d %H:%M %Z')}"
    rows: list[Row] = []
    try:
        if "1" in wanted:
            rows += row_cold(ws, repeats)
        if "2" in wanted:
            rows += row_up_to_date(ws, repeats + 1)
        if "3" in wanted:
            rows += row_scale(ws, scale, max(2, repeats - 6), repeats, args.quick)
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
    print(f"codegen benchmarks ({'--quick' if args.quick else 'full run'}, {elapsed:.0f} s; codegen at {state}; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}):\n")
    print(table(rows))
    failed = [r.key for r in rows if r.result() == "**FAIL**"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
