"""Faults, races and hostile file systems: FIFOs, kills, concurrent runs, edits during a run, damaged caches.

Races are made deterministic through ``CODEGEN_TEST_PAUSE`` (codegen/faults.py,
read only when set): a run announces that it reached a point and waits
there until the test lets it go, so an edit or a kill lands exactly where
it should, never by timing.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen import cache, output
from codegen.__main__ import main

from .conftest import ROOT, SAMPLE_STEMS

MODULES = len(SAMPLE_STEMS)  # one per spec of the sample folder (conftest.sample)
OUTPUTS = MODULES + 1  # and the README.md page that lists them


def codegen(*args: str, cwd: Path, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "codegen", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120, **kwargs)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    """The visible files (staged files and the journal are looked at on their own)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")} if folder.exists() else {}


@pytest.fixture
def work(tmp_path, sample) -> Path:
    """The sample's specs/ and up-to-date generated/ in a temporary folder (cwd-relative runs use specs/ and generated/, so headers name the default command)."""
    shutil.copytree(sample / "specs", tmp_path / "specs")
    shutil.copytree(sample / "generated", tmp_path / "generated")
    return tmp_path


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name,says",
    [
        ("x\n.json", "must be <module_name>.json"),
        ("typing.json", "shadows the standard library module 'typing'|(did you mean 'typing_block.json'?)"),
        ("torch.json", "shadows torch"),
        ("__init__.json", "shadows a dunder module|(did you mean 'init_block.json'?)"),
        ("__main__.json", "shadows a dunder module"),
        ("a" * 129 + ".json", "at most 128 characters (it has 129)"),
    ],
    ids=["trailing-newline", "stdlib", "torch", "init", "main", "too-long"],
)
def test_bad_stems_are_refused_and_nothing_is_written(work, name, says):
    spec = json.loads((work / "specs" / "mlp.json").read_text())
    spec["name"] = "Renamed"
    (work / "specs" / name).write_text(json.dumps(spec))
    before = snapshot(work / "generated")
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 2 and "E332" in err and all(part in err for part in says.split("|")), err
    assert snapshot(work / "generated") == before
    assert not any("\n" in p.name for p in (work / "generated").iterdir())


def test_a_long_stem_within_the_cap_is_generated(work):
    """128 characters: the output and the staged file beside it both fit in a file name."""
    stem = "a" * 128
    spec = json.loads((work / "specs" / "mlp.json").read_text())
    spec["name"] = "Long"
    (work / "specs" / f"{stem}.json").write_text(json.dumps(spec))
    code, out, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 0, err
    assert (work / "generated" / f"{stem}.py").exists()


# ------------------------------------------------------------------ reading


def test_a_fifo_in_the_output_folder_does_not_hang(work):
    os.mkfifo(work / "generated" / "stray.py")
    for args in ([], ["--check"], ["--prune"]):
        result = codegen("specs/", "-o", "generated", *args, cwd=work)  # the timeout fails the test if it hangs
        assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO((work / "generated" / "stray.py").lstat().st_mode)  # left alone: not ours


def test_a_fifo_where_an_output_goes_is_refused(work):
    (work / "generated" / "mlp.py").unlink()
    os.mkfifo(work / "generated" / "mlp.py")
    result = codegen("specs/", "-o", "generated", cwd=work)
    assert result.returncode == 2 and "E504" in result.stderr


def test_a_fifo_read_through_read_regular_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "f")
    with pytest.raises(output.NotRegular):
        output.read_regular(str(tmp_path / "f"))


def test_an_oversized_spec_is_refused_before_it_is_read(work, monkeypatch):
    """A sparse 6 GB spec: refused as too large, and no more than the limit is ever read."""
    big = work / "specs" / "huge.json"
    with open(big, "wb") as handle:
        handle.truncate(6 * 2**30)
    reads = []
    real = os.read

    def counting_read(fd, n):
        reads.append(n)
        return real(fd, n)

    monkeypatch.setattr(os, "read", counting_read)
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"), "-j", "1", "--no-cache")
    assert code == 2 and "specs/huge.json" in err and "E100" in err and "larger than 1000000 bytes" in err, err
    assert max(reads) <= output.MAX_SPEC_BYTES + 1


def test_a_lone_surrogate_is_refused_at_load(work):
    spec = (work / "specs" / "mlp.json").read_text()
    doc = json.loads(spec)
    (work / "specs" / "mlp.json").write_text(spec.replace(json.dumps(doc["doc"]), '"half a pair: \\ud800"'))
    before = snapshot(work / "generated")
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 2 and "specs/mlp.json: doc: E101" in err and "lone surrogate" in err, err
    assert snapshot(work / "generated") == before


def test_a_surrogate_pair_is_a_character_and_accepted(work):
    path = work / "specs" / "mlp.json"
    doc = json.loads(path.read_text())
    path.write_text(path.read_text().replace(json.dumps(doc["doc"]), '"a snake: \\ud83d\\udc0d"'))
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 0, err
    assert "a snake: \U0001f40d" in (work / "generated" / "mlp.py").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the stat cache


@pytest.fixture(scope="module")
def aged_cache(tmp_path_factory, sample) -> tuple[Path, Path]:
    """specs/ and outputs older than the racy window, and the cache a run then saved."""
    work = tmp_path_factory.mktemp("aged")
    shutil.copytree(sample / "specs", work / "specs")
    env = {"CODEGEN_CACHE_DIR": str(work / "cache")}
    time.sleep(cache.RACY_SECONDS + 0.2)
    assert codegen("specs/", "-o", "out", cwd=work, env=env).returncode == 0  # records the specs and their class names
    time.sleep(cache.RACY_SECONDS + 0.2)
    assert codegen("specs/", "-o", "out", "--check", cwd=work, env=env).returncode == 0  # and the outputs
    [file] = (work / "cache").glob("*.txt")
    return work, file


def test_a_truncated_cache_is_empty_at_every_length(aged_cache, tmp_path):
    work, file = aged_cache
    whole = file.read_bytes()
    full = cache._read(str(file))
    assert len(full) == MODULES + OUTPUTS  # each spec and each output
    damaged = tmp_path / "c.txt"
    for length in range(len(whole)):
        damaged.write_bytes(whole[:length])
        assert cache._read(str(damaged)) == {}, length


def test_a_flipped_byte_in_the_cache_makes_it_empty(aged_cache, tmp_path):
    work, file = aged_cache
    whole = file.read_bytes()
    damaged = tmp_path / "c.txt"
    for i in range(len(whole)):
        if whole[i : i + 1] in b"\n":
            continue
        flipped = b"0" if whole[i : i + 1] != b"0" else b"1"
        damaged.write_bytes(whole[:i] + flipped + whole[i + 1 :])
        assert cache._read(str(damaged)) == {}, i


@pytest.mark.parametrize("damage", ["truncated class name", "flipped digest"])
def test_a_damaged_cache_never_decides_an_outcome(tmp_path, damage, sample):
    """The two damages of the report, end to end: every output as a --no-cache run makes it.

    The cache keys files by inode and ctime, so this needs its own folder (a copy would not match).
    """
    shutil.copytree(sample / "specs", tmp_path / "specs")
    env = {"CODEGEN_CACHE_DIR": str(tmp_path / "cache")}
    time.sleep(cache.RACY_SECONDS + 0.2)
    assert codegen("specs/", "-o", "generated", cwd=tmp_path, env=env).returncode == 0  # records the specs and their class names
    [file] = (tmp_path / "cache").glob("*.txt")
    lines = file.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("spec/inception.json\t"):
            fields = line.split("\t")
            assert fields[3] == "Inception"
            if damage == "truncated class name":
                fields[3] = fields[3][:-2]
            else:
                fields[2] = ("0" if fields[2][0] != "0" else "1") + fields[2][1:]
            lines[i] = "\t".join(fields)
    file.write_text("\n".join(lines) + "\n")
    # googlenet changes and uses inception, which does not: its class name and digest would come from the cache.
    path = tmp_path / "specs" / "googlenet.json"
    path.write_text(path.read_text().replace('"doc": "', '"doc": "Changed. ', 1))
    result = codegen("specs/", "-o", "generated", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    shutil.copytree(tmp_path / "specs", tmp_path / "clean" / "specs")
    assert codegen("specs/", "-o", "generated", "--no-cache", cwd=tmp_path / "clean").returncode == 0
    assert snapshot(tmp_path / "generated") == snapshot(tmp_path / "clean" / "generated")
    assert codegen("specs/", "-o", "generated", "--check", "--no-cache", cwd=tmp_path).returncode == 0


# ------------------------------------------------------------------ runs paused at an exact point (CODEGEN_TEST_PAUSE)


class Paused:
    """A codegen process started with a pause point: ``wait`` until it is there, ``go`` to let it on."""

    def __init__(self, cwd: Path, point: str, *args: str, hooks: Path) -> None:
        hooks.mkdir(exist_ok=True)
        self.marker, self.hooks = hooks / point, hooks
        env = dict(os.environ, PYTHONPATH=str(ROOT), CODEGEN_TEST_PAUSE=f"{point}={hooks}")
        self.proc = subprocess.Popen([sys.executable, "-m", "codegen", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)

    def wait(self) -> int:
        """The pid of the process that reached the point (a worker's, for "worker")."""
        deadline = time.monotonic() + 60
        while not (self.marker.exists() and self.marker.read_text()):
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "never reached the pause point"
            time.sleep(0.01)
        return int(self.marker.read_text())

    def go(self) -> tuple[int, str, str]:
        (self.hooks / (self.marker.name + ".go")).touch()
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


def staged_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(output.STAGED_SUFFIX)) if folder.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGTERM to the group"])
def test_killing_the_parent_leaves_no_process(work, how, sample):
    """Workers busy with a job when the main process is killed: gone within 2 s; SIGTERM also removes what was staged."""
    shutil.rmtree(work / "generated")
    run_ = Paused(work, "worker", "specs/", "-o", "generated", "-j", "2", "--no-cache", hooks=work / "hooks")
    run_.wait()
    workers = children(run_.proc.pid)
    assert len(workers) == 2 and all(alive(pid) for pid in workers)
    if how == "SIGKILL":
        os.kill(run_.proc.pid, signal.SIGKILL)
    elif how == "SIGTERM":
        os.kill(run_.proc.pid, signal.SIGTERM)
    else:
        os.killpg(run_.proc.pid, signal.SIGTERM)
    code, out, err = run_.go()  # lets the workers finish their chunk, if they live
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(pid) for pid in workers), [pid for pid in workers if alive(pid)]
    if how == "SIGKILL":
        assert code == -signal.SIGKILL
    else:
        assert code == 143 and "Traceback" not in err, err
        assert not (work / "generated").exists()  # what it created, it removed; nothing staged is left
    # Whatever was left, the next run ends as a clean run does.
    assert codegen("specs/", "-o", "generated", cwd=work).returncode == 0
    assert snapshot(work / "generated") == snapshot(sample / "generated")


def test_a_hand_edit_made_while_the_run_builds_is_never_overwritten(work):
    spec = work / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace("256", "128"))
    run_ = Paused(work, "built", "specs/", "-o", "generated", hooks=work / "hooks")
    run_.wait()
    (work / "generated" / "mlp.py").write_text("# my own now\n")
    before = snapshot(work / "generated")
    code, out, err = run_.go()
    assert code == 2 and "generated/mlp.py: E505" in err, err
    assert snapshot(work / "generated") == before and staged_files(work / "generated") == []


def test_a_spec_edited_while_the_run_builds_never_mixes_versions(work):
    """The header and the body come from the same bytes: those planning hashed."""
    spec = work / "specs" / "mlp.json"
    original = spec.read_bytes()
    spec.write_bytes(original.replace(b"256", b"128"))
    run_ = Paused(work, "planned", "specs/", "-o", "generated", "--no-cache", hooks=work / "hooks")
    run_.wait()
    spec.write_bytes(original.replace(b"256", b"64"))
    code, out, err = run_.go()
    assert code == 0, err
    assert "nn.Linear(20, 128)" in (work / "generated" / "mlp.py").read_text()
    result = codegen("specs/", "-o", "generated", "--check", cwd=work)
    assert result.returncode == 1 and "STALE: generated/mlp.py" in result.stdout
    spec.write_bytes(original.replace(b"256", b"128"))  # back to what the run built: up to date, and truly so
    assert codegen("specs/", "-o", "generated", "--check", cwd=work).returncode == 0
    shutil.copytree(work / "specs", work / "clean" / "specs")
    assert codegen("specs/", "-o", "generated", "--no-cache", cwd=work / "clean").returncode == 0
    assert snapshot(work / "generated") == snapshot(work / "clean" / "generated")


def test_a_cached_spec_edited_during_the_run_is_refused(work, monkeypatch):
    """A spec the stat cache vouched for is read only when building: its bytes must still have the digest."""
    from codegen import generate

    p = generate.plan(str(work / "specs"), str(work / "generated"), use_cache=False)
    source = p.sources["mlp"]
    source.data = None  # as if the cache had vouched for it
    (work / "specs" / "mlp.json").write_text((work / "specs" / "mlp.json").read_text().replace("256", "64"))
    with pytest.raises(Exception) as caught:
        source.read()
    assert getattr(caught.value, "code", "") == "E505"


@pytest.mark.parametrize("when", ["before the journal", "after 3 replaces"])
def test_a_kill_in_the_write_phase_is_recovered_by_the_next_run(work, when, sample):
    shutil.rmtree(work / "generated")
    point = "built" if when == "before the journal" else "replaced-3"
    run_ = Paused(work, point, "specs/", "-o", "generated", "-j", "2", hooks=work / "hooks")
    run_.wait()
    os.killpg(run_.proc.pid, signal.SIGKILL)
    run_.go()
    check = codegen("specs/", "-o", "generated", "--check", cwd=work)
    assert check.returncode == 1
    assert staged_files(work / "generated")
    assert "LEFT OVER: generated/." in check.stdout
    if when == "after 3 replaces":
        assert "INTERRUPTED WRITE: generated" in check.stdout
        assert len(list((work / "generated").glob("*.py"))) == 3
    else:
        assert "INTERRUPTED" not in check.stdout and list((work / "generated").glob("*.py")) == []
    result = codegen("specs/", "-o", "generated", cwd=work)
    assert result.returncode == 0, result.stderr
    assert ("rolled forward" if when == "after 3 replaces" else "rolled back") in result.stdout
    assert snapshot(work / "generated") == snapshot(sample / "generated")
    assert staged_files(work / "generated") == [] and not (work / "generated" / ".codegen-journal").exists()
    if when == "after 3 replaces":
        assert f"{OUTPUTS - 3} more file(s) put in place" in result.stdout and f"0 generated, {OUTPUTS} unchanged" in result.stdout


def test_another_live_runs_staged_files_are_untouched(work):
    spec = work / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace("256", "128"))
    first = Paused(work, "built", "specs/", "-o", "generated", "-j", "1", hooks=work / "hooks")
    first.wait()
    staged = staged_files(work / "generated")
    assert len(staged) == 1
    check = codegen("specs/", "-o", "generated", "--check", cwd=work)
    assert check.returncode == 1 and "LEFT OVER" not in check.stdout  # a live run's, not left over
    second = subprocess.Popen([sys.executable, "-m", "codegen", "specs/", "-o", "generated"], cwd=work, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)  # no timing is needed for what follows: this only gives a wrong second run time to do harm
    assert second.poll() is None  # waiting for the lock
    assert staged_files(work / "generated") == staged
    code, out, err = first.go()
    assert code == 0 and out == f"2 generated, {OUTPUTS - 2} unchanged\n", err  # mlp.py and README.md
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == 0 and "waiting for another run writing generated" in err2
    assert out2 == f"0 generated, {OUTPUTS} unchanged\n"


@pytest.mark.parametrize("runs", [2, 4])
@pytest.mark.parametrize("what", ["cold", "prune"])
def test_concurrent_runs_all_succeed_and_agree(work, runs, what, sample):
    if what == "cold":
        shutil.rmtree(work / "generated")
        args = ["specs/", "-o", "generated", "-j", "1"]
    else:
        for name in ("old_a", "old_b", "old_c"):
            # An orphan: generated earlier from a spec of this folder that is gone (its header names it).
            text = (sample / "generated" / "nin.py").read_text().replace("specs/nin.json", f"specs/{name}.json", 1)
            (work / "generated" / f"{name}.py").write_text(text)
        args = ["specs/", "-o", "generated", "-j", "1", "--prune"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "codegen", *args], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(runs)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    folder = work / "generated"  # the default folder: headers name `python -m codegen specs/`, as the committed ones
    assert snapshot(folder) == snapshot(sample / "generated")
    assert staged_files(folder) == []
    assert sum(out.startswith(f"{OUTPUTS} generated") for _, out, _ in results) == (1 if what == "cold" else 0)
    if what == "prune":
        assert sum(", 3 pruned" in out for _, out, _ in results) == 1


def test_a_failed_run_removes_only_the_folders_it_made(tmp_path, monkeypatch):
    from codegen import journal

    (tmp_path / "a").mkdir()
    made = journal.make_folders(str(tmp_path / "a" / "b" / "c"))
    assert made == [str(tmp_path / "a" / "b" / "c"), str(tmp_path / "a" / "b")]
    assert journal.make_folders(str(tmp_path / "a" / "b" / "c")) == []  # made by someone else: not ours
    real = os.mkdir

    def raced(path, *args):  # another run creates the folder between our look and our mkdir
        real(path, *args)
        raise FileExistsError(errno.EEXIST, "exists", path)

    monkeypatch.setattr(os, "mkdir", raced)
    assert journal.make_folders(str(tmp_path / "x" / "y")) == []


# ------------------------------------------------------------------ the environment: exit 2, naming the path


def test_a_folder_name_too_long_is_exit_2_naming_it(work):
    result = codegen("specs/", "-o", "o" * 300, cwd=work)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "o" * 300 in result.stderr and "E600 File name too long" in result.stderr


def test_permission_denied_is_exit_2_naming_the_path(work, monkeypatch):
    """As in a read-only output folder (simulated: the suite may run as root, whom permissions do not stop)."""
    import tempfile

    spec = work / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace("256", "128"))
    before = snapshot(work / "generated")

    def refused(*args, dir=None, prefix="", suffix=""):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "xyz" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"), "-j", "1")
    assert code == 2 and err == f"error: {work}/generated: E600 Permission denied\n", err
    assert snapshot(work / "generated") == before and staged_files(work / "generated") == []


def test_a_failure_after_the_journal_is_rolled_forward(work, monkeypatch):
    """Once the journal is published the write is committed: what failed is finished by the next run."""
    spec = work / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace("256", "128"))
    (work / "generated" / "lenet.py").unlink()
    real = os.replace

    def failing(src, dst):
        if str(dst).endswith("mlp.py"):
            raise OSError(errno.EIO, "Input/output error", dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"), "-j", "1")
    assert code == 2 and "generated/mlp.py: E600 Input/output error" in err, err
    monkeypatch.undo()
    assert (work / "generated" / ".codegen-journal").exists()
    code, out, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 0 and "rolled forward" in out and "2 more file(s) put in place" in out, out + err  # mlp.py and the README.md page after it
    assert "nn.Linear(20, 128)" in (work / "generated" / "mlp.py").read_text()
    assert staged_files(work / "generated") == [] and not (work / "generated" / ".codegen-journal").exists()


def test_an_unreadable_spec_and_an_unlistable_folder_are_exit_2(work, monkeypatch):
    real_read = output.read_regular

    def unreadable(path, *args):
        if path.endswith("lenet.json"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_read(path, *args)

    monkeypatch.setattr(output, "read_regular", unreadable)
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"), "--no-cache")
    assert code == 2 and "lenet.json: E100 cannot read: Permission denied" in err, err
    monkeypatch.undo()

    real_scandir = os.scandir

    def unlistable(path="."):
        if str(path).endswith("specs"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", unlistable)
    code, _, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 2 and "specs: E600 Permission denied" in err, err


def test_stdout_to_dev_full_is_exit_2(work):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "codegen", "specs/", "-o", "generated", "--check"], cwd=work, stdout=full,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 2 and "<stdout>: E600 cannot write: No space left on device" in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr


def test_a_closed_stdout_keeps_the_exit_status(work):
    """``--check | head -1`` in CI with pipefail: drift stays 1, and nothing is printed about the pipe."""
    (work / "generated" / "mlp.py").unlink()
    proc = subprocess.Popen([sys.executable, "-m", "codegen", "specs/", "-o", "generated", "--check"], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1 and err == "", err


def test_a_non_ascii_name_on_an_ascii_stdout(work):
    env = {"PYTHONIOENCODING": "ascii"}
    result = codegen("specs/", "-o", "ouț", "--check", cwd=work, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "MISSING: ou\\u021b/mlp.py" in result.stdout


def test_a_planted_or_damaged_journal_touches_nothing(work):
    """A journal naming a file outside the folder, or failing its checksum, is removed and nothing else is done."""
    from codegen import journal

    victim = work / "victim.py"
    victim.write_text("precious\n")
    staged = work / "generated" / ".mlp.1-abcd.x.codegen.tmp"
    staged.write_text("evil\n")
    digest = output.short_digest(b"precious\n")
    lines = f"{journal.FORMAT}\ntoken 1-abcd\nreplace ../victim.py {staged.name} {digest} {digest}\n"
    (work / "generated" / journal.JOURNAL).write_text(lines + f"checksum {output.short_digest(lines.encode())}\n")
    before = snapshot(work / "generated")
    code, out, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 0 and "removed a damaged write journal" in out, out + err
    assert victim.read_text() == "precious\n" and snapshot(work / "generated") == before
    assert staged_files(work / "generated") == [] and not (work / "generated" / journal.JOURNAL).exists()


def test_recovery_never_overwrites_a_file_changed_since_the_kill(work):
    """The killed run's journal says mlp.py goes from old to new bytes; it was edited by hand since: rolled back."""
    from codegen import journal

    target = work / "generated" / "mlp.py"
    old = target.read_bytes()
    staged = work / "generated" / ".mlp.1-abcd.x.codegen.tmp"
    staged.write_bytes(old.replace(b"256", b"128"))
    journal.publish(str(work / "generated"), "1-abcd", [("mlp.py", staged.name, output.short_digest(old), output.short_digest(staged.read_bytes()))], [])
    target.write_bytes(old + b"# mine\n")
    check = codegen("specs/", "-o", "generated", "--check", cwd=work)
    assert check.returncode == 1 and "INTERRUPTED WRITE: generated" in check.stdout and "EDITED" in check.stdout
    code, out, err = run(str(work / "specs"), "-o", str(work / "generated"))
    assert code == 2 and "rolled back" in out and "E503" in err, out + err
    assert target.read_bytes() == old + b"# mine\n"
    assert staged_files(work / "generated") == [] and not (work / "generated" / journal.JOURNAL).exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_replaces_takes_effect_once_the_folder_is_whole(work, sig, sample):
    shutil.rmtree(work / "generated")
    run_ = Paused(work, "replaced-1", "specs/", "-o", "generated", "-j", "1", hooks=work / "hooks")
    run_.wait()
    os.kill(run_.proc.pid, sig)
    code, out, err = run_.go()
    assert code == (143 if sig == signal.SIGTERM else 130), err
    assert snapshot(work / "generated") == snapshot(sample / "generated")
    assert staged_files(work / "generated") == [] and not (work / "generated" / ".codegen-journal").exists()
