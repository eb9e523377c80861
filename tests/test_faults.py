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

from .conftest import GENERATED, ROOT, SPECS


def codegen(*args: str, cwd: Path, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "codegen", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120, **kwargs)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.exists() else {}


@pytest.fixture
def work(tmp_path) -> Path:
    """specs/ and its committed outputs in a temporary folder (cwd-relative runs use specs/ and out/)."""
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(GENERATED, tmp_path / "out")
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
    before = snapshot(work / "out")
    code, _, err = run(str(work / "specs"), "-o", str(work / "out"))
    assert code == 2 and "E332" in err and all(part in err for part in says.split("|")), err
    assert snapshot(work / "out") == before
    assert not any("\n" in p.name for p in (work / "out").iterdir())


def test_a_long_stem_within_the_cap_is_generated(work):
    """128 characters: the output and the staged file beside it both fit in a file name."""
    stem = "a" * 128
    spec = json.loads((work / "specs" / "mlp.json").read_text())
    spec["name"] = "Long"
    (work / "specs" / f"{stem}.json").write_text(json.dumps(spec))
    code, out, err = run(str(work / "specs"), "-o", str(work / "out"))
    assert code == 0, err
    assert (work / "out" / f"{stem}.py").exists()


# ------------------------------------------------------------------ reading


def test_a_fifo_in_the_output_folder_does_not_hang(work):
    os.mkfifo(work / "out" / "stray.py")
    for args in ([], ["--check"], ["--prune"]):
        result = codegen("specs/", "-o", "out", *args, cwd=work)  # the timeout fails the test if it hangs
        assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO((work / "out" / "stray.py").lstat().st_mode)  # left alone: not ours


def test_a_fifo_where_an_output_goes_is_refused(work):
    (work / "out" / "mlp.py").unlink()
    os.mkfifo(work / "out" / "mlp.py")
    result = codegen("specs/", "-o", "out", cwd=work)
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
    code, _, err = run(str(work / "specs"), "-o", str(work / "out"), "-j", "1", "--no-cache")
    assert code == 2 and "specs/huge.json" in err and "E100" in err and "larger than 1000000 bytes" in err, err
    assert max(reads) <= output.MAX_SPEC_BYTES + 1


def test_a_lone_surrogate_is_refused_at_load(work):
    spec = (work / "specs" / "mlp.json").read_text()
    doc = json.loads(spec)
    (work / "specs" / "mlp.json").write_text(spec.replace(json.dumps(doc["doc"]), '"half a pair: \\ud800"'))
    before = snapshot(work / "out")
    code, _, err = run(str(work / "specs"), "-o", str(work / "out"))
    assert code == 2 and "specs/mlp.json: doc: E101" in err and "lone surrogate" in err, err
    assert snapshot(work / "out") == before


def test_a_surrogate_pair_is_a_character_and_accepted(work):
    path = work / "specs" / "mlp.json"
    doc = json.loads(path.read_text())
    path.write_text(path.read_text().replace(json.dumps(doc["doc"]), '"a snake: \\ud83d\\udc0d"'))
    code, _, err = run(str(work / "specs"), "-o", str(work / "out"))
    assert code == 0, err
    assert "a snake: \U0001f40d" in (work / "out" / "mlp.py").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the stat cache


@pytest.fixture(scope="module")
def aged_cache(tmp_path_factory) -> tuple[Path, Path]:
    """specs/ and outputs older than the racy window, and the cache a run then saved."""
    work = tmp_path_factory.mktemp("aged")
    shutil.copytree(SPECS, work / "specs")
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
    assert len(full) == 40
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
def test_a_damaged_cache_never_decides_an_outcome(tmp_path, damage):
    """The two damages of the report, end to end: every output as a --no-cache run makes it.

    The cache keys files by inode and ctime, so this needs its own folder (a copy would not match).
    """
    shutil.copytree(SPECS, tmp_path / "specs")
    env = {"CODEGEN_CACHE_DIR": str(tmp_path / "cache")}
    time.sleep(cache.RACY_SECONDS + 0.2)
    assert codegen("specs/", "-o", "out", cwd=tmp_path, env=env).returncode == 0  # records the specs and their class names
    [file] = (tmp_path / "cache").glob("*.txt")
    lines = file.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("spec/vgg_block.json\t"):
            fields = line.split("\t")
            assert fields[3] == "VGGBlock"
            if damage == "truncated class name":
                fields[3] = fields[3][:-2]
            else:
                fields[2] = ("0" if fields[2][0] != "0" else "1") + fields[2][1:]
            lines[i] = "\t".join(fields)
    file.write_text("\n".join(lines) + "\n")
    # vgg11 changes and uses vgg_block, which does not: its class name and digest would come from the cache.
    path = tmp_path / "specs" / "vgg11.json"
    path.write_text(path.read_text().replace('"doc": "', '"doc": "Changed. ', 1))
    result = codegen("specs/", "-o", "out", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    shutil.copytree(tmp_path / "specs", tmp_path / "clean" / "specs")
    assert codegen("specs/", "-o", "out", "--no-cache", cwd=tmp_path / "clean").returncode == 0
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "clean" / "out")
    assert codegen("specs/", "-o", "out", "--check", "--no-cache", cwd=tmp_path).returncode == 0
