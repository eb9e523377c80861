"""Soak test: kills, concurrent runs and edits on 500 synthetic specs, each outcome compared with a clean run.

    python -m bench.soak                  # 300 trials (about 10-15 minutes on two busy cores)
    python -m bench.soak --trials 40 --seed 7 --keep

Not part of the test suite (tests/test_faults.py holds the fast, deterministic
versions). Every trial sets the spec folder to one state and the output
folder to the clean outputs of another (or to nothing: a cold run), does its
damage, and then checks what codegen promises:

* ``kill``  SIGKILL to the main process at a random moment; ``kill-group``
  SIGKILL to the whole process group; ``term`` SIGTERM, ``int`` SIGINT to
  the main process; ``kill-write`` SIGKILL right after the n-th replace of
  the write phase (through the test hook). Within 2 s no process of the run
  is left; every visible file is whole (the old or the new bytes, nothing
  else); after SIGTERM or SIGINT the folder is exactly as before or exactly
  as after and nothing staged is left; ``--check`` then exits 0 or 1; the next
  run exits 0 and leaves exactly the clean outputs, no staged file, no journal.
* ``concurrent``  2-4 writing runs at once (random -j, --no-cache, --prune),
  with a ``--check`` beside them: every writer exits 0, the check 0 or 1, and
  the folder is exactly the clean outputs.
* ``spec-edit``  a spec changed at a random moment of a run: each file is
  then the clean output of the old or of the new specs (never a header of
  one over a body of the other), and the next run gives the new clean outputs.
* ``hand-edit``  an output that the run rebuilds edited by hand at a random
  moment: the edit is never lost (the run refuses, or the edit lands after).

The clean outputs come from codegen runs with ``--no-cache`` into empty
folders, one per spec state. States differ only in groups of standalone MLPs
(they use no spec and none uses them), so the clean output of any state is
composed file by file from the runs of the single-group states.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import synth

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
N_SPECS = 500
GROUPS = 3
GROUP_SIZE = 3
KINDS = ["kill", "kill-group", "term", "int", "kill-write", "concurrent", "spec-edit", "hand-edit"]
STAGED = ".codegen.tmp"


class Soak:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.specs = root / "specs"
        self.out = root / "out"
        # A snapshot of the generator: editing the working tree during a soak must not change what it tests.
        for folder in ("codegen", "templates"):
            shutil.copytree(ROOT / folder, root / "snapshot" / folder, ignore=shutil.ignore_patterns("__pycache__"))
        self.env = dict(os.environ, PYTHONPATH=str(root / "snapshot"), CODEGEN_CACHE_DIR=str(root / "cache"))
        synth.write(N_SPECS, self.specs)
        used = {synth.used_by_stack(i) for i in range(N_SPECS) if synth.kind(i) == "stack"}
        standalone = [i for i in range(N_SPECS) if synth.kind(i) == "mlp" and i not in used]
        picked = self.rng.sample(standalone, GROUPS * GROUP_SIZE)
        self.groups = [picked[g * GROUP_SIZE : (g + 1) * GROUP_SIZE] for g in range(GROUPS)]
        self.refs: dict[int, dict[str, bytes]] = {}  # the clean outputs with only group g changed (-1: none)
        for g in [-1, *range(GROUPS)]:
            self.set_specs(frozenset() if g < 0 else frozenset([g]))
            folder = root / f"ref{g}"
            self.codegen(["specs", "-o", folder.name, "--no-cache"], check=True)
            self.refs[g] = snapshot(folder)
            shutil.rmtree(folder)
        self.state: frozenset[int] = frozenset()
        self.set_specs(self.state)

    # -- states

    def set_specs(self, state: frozenset) -> None:
        """Write the spec files of the groups whose state changes (group g in ``state``: variant 1)."""
        for g, members in enumerate(self.groups):
            for i in members:
                data = synth.spec_bytes(i, 1 if g in state else 0)
                path = self.specs / f"{synth.stem(i)}.json"
                if not path.exists() or path.read_bytes() != data:
                    path.write_bytes(data)
        self.state = state

    def reference(self, state: frozenset) -> dict[str, bytes]:
        """The clean outputs of ``state``, composed from the single-group clean runs."""
        files = dict(self.refs[-1])
        for g in state:
            for i in self.groups[g]:
                name = f"{synth.stem(i)}.py"
                files[name] = self.refs[g][name]
        return files

    def set_outputs(self, files: dict[str, bytes] | None) -> None:
        """Make the output folder hold exactly ``files`` (None: no folder), rewriting only the files that differ.

        Files left as they are keep their inode and ctime: the stat cache still vouches for them, as it
        would in a user's folder between two runs.
        """
        if files is None:
            if self.out.exists():
                shutil.rmtree(self.out)
            return
        self.out.mkdir(exist_ok=True)
        for path in self.out.iterdir():
            if path.name not in files or path.name.startswith(".") or not path.is_file():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        for name, data in files.items():
            path = self.out / name
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)

    def random_state(self) -> frozenset:
        return frozenset(g for g in range(GROUPS) if self.rng.random() < 0.5)

    # -- running codegen

    def codegen(self, args: list[str], check: bool = False, pause: str | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env, CODEGEN_TEST_PAUSE=pause) if pause else self.env
        proc = subprocess.run([PY, "-m", "codegen", *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise RuntimeError(f"codegen {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}")
        return proc

    def start(self, args: list[str], pause: str | None = None) -> subprocess.Popen:
        env = dict(self.env, CODEGEN_TEST_PAUSE=pause) if pause else self.env
        return subprocess.Popen([PY, "-m", "codegen", *args], cwd=self.root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def writer_args(self) -> list[str]:
        args = ["specs", "-o", "out"]
        if self.rng.random() < 0.5:
            args += ["-j", self.rng.choice(["1", "2"])]
        if self.rng.random() < 0.3:
            args.append("--no-cache")
        return args

    # -- checks

    def recovered(self, expected: dict[str, bytes], problems: list[str], check: bool = True) -> None:
        """``--check`` answers 0 or 1; the next run exits 0 and leaves exactly ``expected``."""
        if check:
            checked = self.codegen(["specs", "-o", "out", "--check"])
            if checked.returncode not in (0, 1):
                problems.append(f"--check after the damage exited {checked.returncode}: {checked.stderr[-500:]}")
        again = self.codegen(["specs", "-o", "out"])
        if again.returncode != 0:
            problems.append(f"the next run exited {again.returncode}: {again.stderr[-500:]}")
        self.same(expected, problems, "after the next run")
        hidden = sorted(p.name for p in self.out.iterdir() if p.name.startswith(".")) if self.out.exists() else []
        if hidden:
            problems.append(f"left after the next run: {hidden[:3]}")

    def same(self, expected: dict[str, bytes], problems: list[str], when: str) -> None:
        found = snapshot(self.out)
        if found != expected:
            wrong = sorted(n for n in expected.keys() | found.keys() if found.get(n) != expected.get(n))
            problems.append(f"{when}: {len(wrong)} file(s) differ from the clean run, e.g. {wrong[:3]}")

    def whole(self, before: dict[str, bytes], after: dict[str, bytes], problems: list[str], when: str) -> None:
        """Every visible file holds the old or the new bytes of its name, nothing else."""
        for name, data in snapshot(self.out).items():
            if data != before.get(name) and data != after.get(name):
                problems.append(f"{when}: {name} is neither the old nor the new output")
                return

    def no_process_left(self, session: int, problems: list[str]) -> None:
        deadline = time.monotonic() + 2
        while True:
            left = session_members(session)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if left:
            problems.append(f"processes left 2 s after the kill: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- trials

    def trial(self, kind: str) -> list[str]:
        problems: list[str] = []
        before_state, after_state = self.random_state(), self.random_state()
        if after_state == before_state and kind not in ("concurrent",):
            after_state = before_state ^ {self.rng.randrange(GROUPS)}
        cold = self.rng.random() < 0.03  # a cold run of 500 specs costs ten incremental ones
        before = {} if cold else self.reference(before_state)
        self.set_outputs(None if cold else before)
        self.set_specs(after_state)
        after = self.reference(after_state)
        getattr(self, "trial_" + kind.replace("-", "_"))(before, after, problems)
        return problems

    def killed(self, before, after, problems, sig: int, group: bool) -> None:
        proc = self.start(self.writer_args())
        time.sleep(self.rng.uniform(0.0, 1.2))
        try:
            (os.killpg if group else os.kill)(proc.pid, sig)
        except ProcessLookupError:
            pass
        _, err = proc.communicate(timeout=300)
        self.no_process_left(proc.pid, problems)
        self.whole(before, after, problems, "after the kill")
        if sig in (signal.SIGTERM, signal.SIGINT):
            # -2/-15: the signal came before Python set up its handlers; 1 with a bare KeyboardInterrupt:
            # during the interpreter's own start-up (site, runpy), before any code of codegen ran.
            startup = proc.returncode == 1 and err.endswith("KeyboardInterrupt\n") and "codegen/__main__.py\", line" not in err.split("main(")[-1]
            if proc.returncode not in (0, 130, 143, -signal.SIGINT, -signal.SIGTERM) and not startup:
                problems.append(f"exit {proc.returncode} after {signal.Signals(sig).name}: {err[-400:]}")
            found = snapshot(self.out)
            if found != before and found != after:
                problems.append(f"after {signal.Signals(sig).name}: the folder is neither as before nor as after")
            if self.out.exists() and any(p.name.endswith(STAGED) for p in self.out.iterdir()):
                problems.append(f"staged files left after {signal.Signals(sig).name}")
        self.recovered(after, problems)

    def trial_kill(self, before, after, problems):
        self.killed(before, after, problems, signal.SIGKILL, group=False)

    def trial_kill_group(self, before, after, problems):
        self.killed(before, after, problems, signal.SIGKILL, group=True)

    def trial_term(self, before, after, problems):
        self.killed(before, after, problems, signal.SIGTERM, group=False)

    def trial_int(self, before, after, problems):
        self.killed(before, after, problems, signal.SIGINT, group=False)

    def trial_kill_write(self, before, after, problems):
        changed = sum(1 for name in after if before.get(name) != after[name])
        hooks = Path(tempfile.mkdtemp(dir=self.root))
        point = f"replaced-{self.rng.randint(1, max(1, changed))}"
        proc = self.start(self.writer_args(), pause=f"{point}={hooks}")
        deadline = time.monotonic() + 120
        while not (hooks / point).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:
            problems.append(f"the run ended (exit {proc.returncode}) before {point}: {proc.stderr.read()[-300:]}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        self.no_process_left(proc.pid, problems)
        self.whole(before, after, problems, "after the kill")
        check = self.codegen(["specs", "-o", "out", "--check"])
        if "INTERRUPTED WRITE" not in check.stdout or check.returncode != 1:
            problems.append(f"--check did not report the interrupted write (exit {check.returncode})")
        self.recovered(after, problems, check=False)

    def trial_concurrent(self, before, after, problems):
        extras = self.rng.random() < 0.5 and self.out.exists()
        if extras:
            for k in range(3):
                (self.out / f"gone_{k}.py").write_bytes(next(iter(self.refs[-1].values())))
        writers = [self.writer_args() + (["--prune"] if extras else []) for _ in range(self.rng.randint(2, 4))]
        procs = [self.start(args) for args in writers]
        check = self.start(["specs", "-o", "out", "--check"])
        for proc in procs:
            proc.communicate(timeout=300)
            if proc.returncode != 0:
                problems.append(f"a concurrent run exited {proc.returncode}: {proc.stderr[-300:]}")
        check.communicate(timeout=300)
        if check.returncode not in (0, 1):
            problems.append(f"a concurrent --check exited {check.returncode}")
        self.same(after, problems, "after the concurrent runs")
        self.recovered(after, problems, check=False)

    def trial_spec_edit(self, before, after, problems):
        proc = self.start(self.writer_args())
        time.sleep(self.rng.uniform(0.0, 1.0))
        g = self.rng.randrange(GROUPS)
        edited_state = self.state ^ {g}
        self.set_specs(edited_state)
        proc.communicate(timeout=300)
        if proc.returncode not in (0, 2):
            problems.append(f"exit {proc.returncode} with a spec edited during the run")
        edited = self.reference(edited_state)
        for name, data in snapshot(self.out).items():
            if data != after.get(name) and data != edited.get(name) and data != before.get(name):
                problems.append(f"{name} is the clean output of neither spec version (mixed header and body?)")
                break
        self.recovered(edited, problems, check=False)

    def trial_hand_edit(self, before, after, problems):
        rebuilt = sorted(name for name in after if before.get(name) != after[name] and name in before)
        if not rebuilt:
            return self.trial_concurrent(before, after, problems)
        victim = self.out / self.rng.choice(rebuilt)
        proc = self.start(self.writer_args())
        time.sleep(self.rng.uniform(0.0, 1.0))
        with open(victim, "ab") as handle:
            handle.write(b"# my hand edit\n")
        proc.communicate(timeout=300)
        if proc.returncode not in (0, 2):
            problems.append(f"exit {proc.returncode} with a hand edit during the run")
        if not victim.read_bytes().endswith(b"# my hand edit\n"):
            problems.append(f"the hand edit of {victim.name} was lost (exit {proc.returncode})")
        self.codegen(["specs", "-o", "out", "--force"])
        self.recovered(after, problems, check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def session_members(session: int) -> list[int]:
    """Live processes of a session (a run started with start_new_session: its id is the main process's pid)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="codegen-soak-"))
    started = time.monotonic()
    try:
        soak = Soak(root, args.seed)
        print(f"set up {N_SPECS} specs and {GROUPS + 1} clean runs in {time.monotonic() - started:.0f} s", flush=True)
        trials, failures = Counter(), Counter()
        for t in range(args.trials):
            kind = KINDS[t % len(KINDS)]
            problems = soak.trial(kind)
            trials[kind] += 1
            if problems:
                failures[kind] += 1
                print(f"trial {t} ({kind}) FAILED: " + "; ".join(problems), flush=True)
            if (t + 1) % 20 == 0:
                print(f"{t + 1} trials, {sum(failures.values())} failed, {time.monotonic() - started:.0f} s", flush=True)
        print()
        print("| trial | what | trials | failures |")
        print("|---|---|---|---|")
        what = {
            "kill": "SIGKILL to the main process at a random moment",
            "kill-group": "SIGKILL to the whole process group at a random moment",
            "term": "SIGTERM to the main process at a random moment",
            "int": "SIGINT (Ctrl-C) to the main process at a random moment",
            "kill-write": "SIGKILL to the group after the n-th replace of the write phase",
            "concurrent": "2-4 writing runs at once, and a --check",
            "spec-edit": "a spec edited at a random moment of a run",
            "hand-edit": "an output being rebuilt edited by hand at a random moment",
        }
        for kind in KINDS:
            print(f"| {kind} | {what[kind]} | {trials[kind]} | {failures[kind]} |")
        print(f"| **all** | | **{sum(trials.values())}** | **{sum(failures.values())}** |")
        print(f"\n{N_SPECS} synthetic specs, seed {args.seed}, {time.monotonic() - started:.0f} s")
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
