"""The stat cache: it may spare reading a file, never hide a change to one."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen import cache, output

from .conftest import ROOT, SAMPLE_STEMS, SPECS


def run(work: Path, cache_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CODEGEN_CACHE_DIR=str(cache_dir))
    command = [sys.executable, "-m", "codegen", *(args if args and args[0].startswith("specs/") else ("specs/", *args)), "-o", "out"]
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)


def cache_lines(cache_dir: Path) -> list[str]:
    files = list(cache_dir.glob("*.txt"))
    assert len(files) == 1, files
    lines = files[0].read_text().splitlines()
    assert lines[-1].startswith(cache.CHECKSUM), lines[-1]
    return lines[:-1]


def seal(lines: list[str]) -> str:
    """A cache file's text for ``lines`` (format line and entries), with the checksum a forger would compute."""
    text = "\n".join(lines) + "\n"
    return text + cache.CHECKSUM + output.short_digest(text.encode()) + "\n"


def edit_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Change ``path``'s bytes, keeping its size and its mtime: only the ctime tells."""
    assert len(old) == len(new)
    st = path.stat()
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def forge(cache_dir: Path, dest: Path, target: Path, fingerprint: str | None = None) -> Path:
    """A copy of ``cache_dir`` at ``dest`` whose entry for ``target`` (an output) vouches for its current stat.

    The entry keeps what it said of the file (or says ``fingerprint``): it now covers whatever the file holds.
    Returns the cache file.
    """
    shutil.copytree(cache_dir, dest)
    [file] = dest.glob("*.txt")
    lines = file.read_text().splitlines()[:-1]  # without the checksum
    for i, line in enumerate(lines):
        if line.startswith(f"out/{target.name}\t"):
            name, _, recorded, uses = line.split("\t")
            lines[i] = "\t".join([name, cache._key(target.stat()), fingerprint or recorded, uses])
    file.write_text(seal(lines))
    return file


@pytest.fixture(scope="module")
def aged(tmp_path_factory, sample) -> tuple[Path, Path]:
    """The sample's specs/ and outputs, older than the racy window, and a cache that vouches for all of them."""
    work = tmp_path_factory.mktemp("aged")
    cache_dir = work / "cache"
    shutil.copytree(sample / "specs", work / "specs")
    shutil.copytree(sample / "generated", work / "out")
    assert run(work, cache_dir).returncode == 0  # the headers now name "-o out/"
    time.sleep(cache.RACY_SECONDS + 0.2)
    result = run(work, cache_dir, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    return work, cache_dir


def test_cache_vouches_for_every_file_it_read(aged):
    _, cache_dir = aged
    lines = cache_lines(cache_dir)
    assert lines[0] == cache.FORMAT
    names = {line.split("\t")[0] for line in lines[1:]}
    assert names == {f"spec/{stem}.json" for stem in SAMPLE_STEMS} | {f"out/{stem}.py" for stem in SAMPLE_STEMS} | {"out/README.md"}


def test_cache_is_consulted(aged, tmp_path):
    """A forged entry is believed: proof that a file the cache vouches for is not read.

    (So the cache must live where only its user can write: see cache.py.)
    """
    work, cache_dir = aged
    target = work / "out" / "nest_mlp.py"
    edit_in_place(target, b"self.linear = nn.Linear", b"self.linear = nn.LineaR")
    forged = tmp_path / "forged"
    forge(cache_dir, forged, target)
    assert "nest_mlp" not in run(work, forged, "--check").stdout
    assert "EDITED (changed by hand): out/nest_mlp.py" in run(work, cache_dir, "--check").stdout


def test_a_forged_entry_cannot_get_a_hand_edit_overwritten(aged, tmp_path):
    """The cache vouches for an edited file as intact but stale: the file is read before it is replaced."""
    work, cache_dir = aged
    target = work / "out" / "centered_layer.py"
    edit_in_place(target, b"X - X.mean()", b"X - X.mEan()")
    edited = target.read_bytes()
    forged = tmp_path / "forged"
    forge(cache_dir, forged, target, fingerprint="0" * 32)
    result = run(work, forged)
    assert result.returncode == 2 and "out/centered_layer.py: E503" in result.stderr, result.stderr
    assert target.read_bytes() == edited


def test_same_size_same_mtime_edit_of_an_output_is_caught(aged):
    work, cache_dir = aged
    edit_in_place(work / "out" / "my_linear.py", b"torch.matmul(X, self.weight)", b"torch.matmul(X, self.weighT)")
    result = run(work, cache_dir, "--check")
    assert result.returncode == 1 and "EDITED (changed by hand): out/my_linear.py" in result.stdout, result.stdout


def test_same_size_same_mtime_edit_of_a_spec_is_caught(aged):
    work, cache_dir = aged
    edit_in_place(work / "specs" / "lenet.json", b"LeNet-5: two", b"LeNet-6: two")
    result = run(work, cache_dir, "--check")
    assert result.returncode == 1 and "STALE: out/lenet.py" in result.stdout, result.stdout


def test_files_written_within_the_racy_window_are_not_recorded(tmp_path, sample):
    shutil.copytree(sample / "specs", tmp_path / "specs")
    result = run(tmp_path, tmp_path / "cache", "specs/mlp.json")
    assert result.returncode == 0, result.stderr
    # Just copied and just written: nothing is old enough to be vouched for.
    assert not list((tmp_path / "cache").glob("*.txt")) or cache_lines(tmp_path / "cache") == [cache.FORMAT]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\xff garbage",
        cache.FORMAT.encode() + b"\nno-tab-here\n",
        cache.FORMAT.encode() + b"\nspec/mlp.json\t1:2:3:4\n",
        b"codegen-stat-cache 0\nspec/mlp.json\t1:2:3:4\tx\t\n",
    ],
    ids=["empty", "binary", "damaged line", "no payload", "other format"],
)
def test_a_damaged_cache_counts_as_empty(aged, tmp_path, content):
    work, cache_dir = aged
    damaged = tmp_path / "damaged"
    shutil.copytree(cache_dir, damaged)
    [file] = damaged.glob("*.txt")
    file.write_bytes(content)
    result = run(work, damaged, "--check")
    assert "Traceback" not in result.stderr
    # The same verdict as without any cache.
    assert result.stdout == run(work, tmp_path / "none", "--check", "--no-cache").stdout


def test_no_cache_neither_reads_nor_writes_one(aged, tmp_path):
    work, cache_dir = aged
    # Reads none: a forged entry that would hide this edit (see test_cache_is_consulted) is not believed.
    target = work / "out" / "my_sequential.py"
    edit_in_place(target, b"for block in", b"for bloCk in")
    forged = tmp_path / "forged"
    file = forge(cache_dir, forged, target)
    assert "my_sequential" not in run(work, forged, "--check").stdout  # the forgery works with the cache...
    before = file.read_bytes()
    result = run(work, forged, "--check", "--no-cache")
    assert "EDITED (changed by hand): out/my_sequential.py" in result.stdout, result.stdout  # ...and not without
    assert file.read_bytes() == before
    # Writes none.
    result = run(work, tmp_path / "cache", "--check", "--no-cache")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert not (tmp_path / "cache").exists()


def test_an_unusable_cache_folder_is_ignored(aged, tmp_path):
    work, _ = aged
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    result = run(work, blocker, "--check")
    assert "Traceback" not in result.stderr and result.returncode in (0, 1), result.stderr
    assert blocker.read_text() == "a file where the cache folder would go"


def test_a_cache_folder_others_can_write_is_not_used(aged, tmp_path):
    work, _ = aged
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = run(work, shared, "--check")
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    assert list(shared.iterdir()) == []


def test_a_file_name_that_is_not_utf8_does_not_break_the_cache(tmp_path, sample):
    """Single-file mode sees its neighbours; an undecodable neighbour's name is never written to the cache."""
    shutil.copytree(sample / "specs", tmp_path / "specs")
    odd = os.path.join(os.fsencode(tmp_path / "specs"), b"\xff.json")
    with open(odd, "wb") as handle:
        handle.write((SPECS / "mlp.json").read_bytes().replace(b'"MLP"', b'"Odd"'))
    time.sleep(cache.RACY_SECONDS + 0.2)  # old enough to be recorded, were its name storable
    result = run(tmp_path, tmp_path / "cache", "specs/mlp.json")
    assert result.returncode == 0 and "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_the_generator_digest_is_read_back_only_while_its_files_are_unchanged(tmp_path, monkeypatch):
    """Hashing codegen's own sources is a fifth of an up-to-date run: the digest is kept under the
    sources' stats, recomputed when one changes, and a damaged record is never believed."""
    from codegen import output

    code, templates = tmp_path / "codegen", tmp_path / "templates"
    shutil.copytree(output.GENERATOR_ROOT, code, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(output.TEMPLATES, templates)
    monkeypatch.setattr(output, "GENERATOR_ROOT", str(code))
    monkeypatch.setattr(output, "TEMPLATES", str(templates))
    monkeypatch.setenv("CODEGEN_CACHE_DIR", str(tmp_path / "cache"))
    digest = output.generator_digest.__wrapped__

    def hashed() -> bytes:
        monkeypatch.setattr(cache, "enabled", False)
        try:
            return digest()
        finally:
            monkeypatch.setattr(cache, "enabled", True)

    time.sleep(cache.RACY_SECONDS + 0.2)
    first = digest()
    assert first == hashed() and (tmp_path / "cache" / cache.GENERATOR_FILE).exists()
    record = tmp_path / "cache" / cache.GENERATOR_FILE
    key = record.read_bytes().split(b"\n")[1].split(b"\0")[0].decode()
    cache.remember_generator(key, "ab" * 32)  # a forged record is believed: proof that it is read back
    assert digest() == bytes.fromhex("ab" * 32)
    record.write_bytes(record.read_bytes().replace(b"abab", b"abac", 1))  # damaged: the checksum fails
    assert digest() == first
    with open(code / "render.py", "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    time.sleep(cache.RACY_SECONDS + 0.2)
    changed = digest()
    assert changed != first and changed == hashed()


def test_no_cache_is_for_its_own_run(tmp_path, monkeypatch):
    """An in-process caller's --no-cache run leaves the next run's caches on."""
    from codegen.__main__ import main

    shutil.copy(SPECS / "mlp.json", tmp_path)
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([".", "-o", "out", "--no-cache", "-j", "1"]) == 0
    assert cache.enabled
