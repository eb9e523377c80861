"""The command line: determinism, incremental writes, --check, --diff, exit codes, start-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import GENERATED, ROOT, SPECS, STEMS


def codegen(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "codegen", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """specs/ generated into an empty folder by a separate process."""
    work = tmp_path_factory.mktemp("fresh")
    shutil.copytree(SPECS, work / "specs")
    result = codegen("specs/", "-o", str(work / "generated"), cwd=work)
    assert result.returncode == 0, result.stderr
    return work


def test_fresh_generation_is_byte_identical_to_committed(fresh):
    produced = sorted(p.name for p in (fresh / "generated").iterdir())
    committed = sorted([p.name for p in GENERATED.glob("*.py")] + ["README.md"])
    assert produced == committed
    for name in produced:
        assert (fresh / "generated" / name).read_bytes() == (GENERATED / name).read_bytes(), name


def test_second_run_writes_nothing(fresh):
    out = fresh / "generated"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}
    result = codegen("specs/", "-o", str(out), cwd=fresh)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"0 generated, {len(before)} unchanged"
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}
    assert after == before


def test_check_passes_on_committed_tree():
    result = codegen("specs/", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_missing_stale_and_extra(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(GENERATED, tmp_path / "generated")
    (tmp_path / "generated" / "mlp.py").unlink()
    spec = tmp_path / "specs" / "lenet.json"
    spec.write_text(spec.read_text().replace('"out_features": 84', '"out_features": 86').replace('"in_features": 84', '"in_features": 86'))
    old = (GENERATED / "nin.py").read_bytes().replace(b"specs/nin.json", b"specs/old_block.json")
    (tmp_path / "generated" / "old_block.py").write_bytes(old)  # its header names this spec folder
    snapshot = {p.name: p.read_bytes() for p in (tmp_path / "generated").iterdir()}
    result = codegen("specs/", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "MISSING: generated/mlp.py" in result.stdout
    assert "STALE: generated/lenet.py" in result.stdout
    assert "EXTRA" in result.stdout and "generated/old_block.py" in result.stdout
    assert {p.name: p.read_bytes() for p in (tmp_path / "generated").iterdir()} == snapshot


def test_diff_prints_and_writes_nothing(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(GENERATED, tmp_path / "generated")
    spec = tmp_path / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace("256", "128"))
    before = (tmp_path / "generated" / "mlp.py").read_bytes()
    for flags in (["--diff"], ["--check", "--diff"]):
        result = codegen("specs/", *flags, cwd=tmp_path)
        assert result.returncode == 1, flags  # drift, as under --check
        assert "-        self.hidden = nn.Linear(20, 256)" in result.stdout
        assert "+        self.hidden = nn.Linear(20, 128)" in result.stdout
        assert ("2 out of date" in result.stdout) == ("--check" in flags)  # mlp.py and README.md
        assert (tmp_path / "generated" / "mlp.py").read_bytes() == before
    spec.write_text(spec.read_text().replace("128", "256"))
    result = codegen("specs/", "--check", "--diff", cwd=tmp_path)
    assert result.returncode == 0 and "0 out of date" in result.stdout


def test_single_spec_file(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    result = codegen("specs/mlp.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "generated").iterdir()] == ["mlp.py"]
    assert (tmp_path / "generated" / "mlp.py").read_bytes() == (GENERATED / "mlp.py").read_bytes()


def test_bad_spec_is_one_clear_line_and_exit_2(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "bad.json").write_text('{"name": "Bad", "doc": "x", "forward": {"inputs": ["X"], "body": [{"return": "X"}]}, "example": {"inputs": {"X": [2]}}, "extra": 1}')
    result = codegen("specs/", "-o", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "specs/bad.json" in result.stderr and "E201" in result.stderr and "'extra'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_usage_exits_2(tmp_path):
    assert codegen("--no-such-flag").returncode == 2
    assert codegen(str(tmp_path / "nowhere")).returncode == 2


def test_generator_never_imports_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "codegen", "specs/", "--check"],
        cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "torch" not in imported


def test_cold_generation_never_imports_torch(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "codegen", "specs/", "-o", "out"],
        cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "black" in imported and "torch" not in imported


def test_up_to_date_path_imports_no_heavy_module(fresh):
    """--check and a plain run on an up-to-date tree decide from fingerprints alone.

    Nor do they import json (no spec is parsed) or pathlib (8 ms of a 50 ms run, via urllib.parse).
    """
    heavy = {"torch", "black", "jinja2", "jsonschema", "fastjsonschema", "json", "pathlib", "dataclasses"}
    baseline = interpreter_start_modules(cwd=fresh)
    for args in (["specs/", "--check"], ["specs/"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "codegen", *args],
            cwd=fresh, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "0 generated" in result.stdout or "0 out of date" in result.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert not (imported - baseline) & heavy, (imported - baseline) & heavy


def interpreter_start_modules(cwd: Path) -> set[str]:
    """What the interpreter imports before codegen runs: site hooks (an editable install's finder imports
    pathlib) are not codegen's doing."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        cwd=cwd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_readme_example_is_what_the_generator_writes(tmp_path):
    """The README shows a spec and its output: generate the spec and compare."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    spec = readme.split("```json\n", 1)[1].split("```", 1)[0]
    shown = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mlp.json").write_text(spec, encoding="utf-8")
    result = codegen("specs/", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "out" / "mlp.py").read_text(encoding="utf-8")
    assert shown in written


def test_changing_a_used_spec_makes_its_users_stale(tmp_path):
    """A file's header records the specs it was built from: their bytes are part of its fingerprint."""
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(GENERATED, tmp_path / "generated")
    spec = tmp_path / "specs" / "nest_mlp.json"
    spec.write_text(spec.read_text().replace('"out_features": 16}}', '"out_features": 16}, "doc": "changed"}'))
    result = codegen("specs/", "--check", cwd=tmp_path)
    assert result.returncode == 1
    stale = sorted(line for line in result.stdout.splitlines() if line.startswith("STALE"))
    assert stale == ["STALE: generated/README.md", "STALE: generated/chimera.py", "STALE: generated/nest_mlp.py"]
    assert "# codegen-uses=fixed_hidden_mlp,nest_mlp\n" in (GENERATED / "chimera.py").read_text()


def test_a_cold_run_reads_each_spec_once_in_planning(tmp_path, monkeypatch):
    """Planning hashes each spec, and the JSON pass for class names and the build use those bytes: one read, not two."""
    import contextlib
    import io

    from codegen import load, output
    from codegen.__main__ import main

    opened = []
    real = output.read_regular

    def counting_read(path, *args, **kwargs):
        opened.append(os.path.basename(str(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(output, "read_regular", counting_read)
    monkeypatch.setattr(load, "read_regular", counting_read)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(SPECS), "-o", str(tmp_path / "out"), "-j", "1", "--no-cache"]) == 0
    specs = sorted(f"{stem}.json" for stem in STEMS)
    assert sorted(name for name in opened if name.endswith(".json")) == specs


def test_long_stems_are_regenerated_checked_and_pruned(tmp_path):
    """Stems of 50 and of 128 characters (the most allowed): the header, its path and its uses lines
    wrapped or marked too long, is still read as ours, so re-runs, --check and --prune work."""
    from codegen import output

    from .test_lint import fits_or_marked, ruff

    stems = {
        "fixed_hidden_mlp": "a_very_long_spec_name_that_goes_on_and_on_and_on_x",  # 50: the path leaves the first line
        "nest_mlp": ("nest_mlp_" + "n" * 128)[:128],
        "chimera": ("chimera_" + "c" * 128)[:128],  # uses both: uses lines of 128-character stems
    }
    assert [len(s) for s in stems.values()] == [50, 128, 128]
    (tmp_path / "specs").mkdir()
    for old, new in stems.items():
        shutil.copy(SPECS / f"{old}.json", tmp_path / "specs" / f"{new}.json")
    result = codegen("specs/", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "4 generated, 0 unchanged", result.stdout + result.stderr
    result = codegen("specs/", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "0 generated, 4 unchanged", result.stdout + result.stderr
    result = codegen("specs/", "-o", "out", "--check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    out = tmp_path / "out"
    chimera = (out / f"{stems['chimera']}.py").read_bytes()
    assert output.split_header(chimera)[2] == ",".join(sorted([stems["fixed_hidden_mlp"], stems["nest_mlp"]]))
    assert output.header_source(chimera) == f"specs/{stems['chimera']}.json"
    for old, new in stems.items():  # the same module as the short stem's, below the header
        assert output.split_header((out / f"{new}.py").read_bytes())[3] == output.split_header((GENERATED / f"{old}.py").read_bytes())[3]
    lines = [line for stem in stems.values() for line in (out / f"{stem}.py").read_text().splitlines()]
    assert all(fits_or_marked(line) for line in lines)
    assert sum(line.endswith(output.NOQA) for line in lines) == 3  # two 128-character paths, one such stem in uses
    result = ruff([f"{stem}.py" for stem in stems.values()], out)
    assert result.returncode == 0, result.stdout + result.stderr

    for old in ("chimera", "fixed_hidden_mlp"):
        (tmp_path / "specs" / f"{stems[old]}.json").unlink()
    result = codegen("specs/", "-o", "out", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert sorted(line for line in result.stdout.splitlines() if line.startswith("EXTRA")) == sorted(
        f"EXTRA (its spec is gone; --prune deletes it): out/{stems[old]}.py" for old in ("chimera", "fixed_hidden_mlp")
    ), result.stdout
    result = codegen("specs/", "-o", "out", "--prune", cwd=tmp_path)
    assert result.returncode == 0 and "2 pruned" in result.stdout, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", f"{stems['nest_mlp']}.py"]
    assert codegen("specs/", "-o", "out", "--check", cwd=tmp_path).returncode == 0
