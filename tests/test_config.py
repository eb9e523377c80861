"""[tool.codegen], the commands headers name, and the CLI refusing what it cannot honour."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen import output

from .conftest import GENERATED, ROOT, SPECS, STEMS
from .test_cli import codegen


def header_text(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("# This file is plain PyTorch", 1)[0]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository: a pyproject.toml with the table, specs in models/specs, output in src/nets."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.codegen]\nspecs = "models/specs"\noutput = "src/nets"\njobs = 1\n')
    (tmp_path / "models").mkdir()
    shutil.copytree(SPECS, tmp_path / "models" / "specs")
    return tmp_path


def test_bare_command_uses_the_table_from_any_subfolder(repo):
    (repo / "src").mkdir()
    result = codegen(cwd=repo / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{len(STEMS) + 1} generated, 0 unchanged"
    text = header_text(repo / "src" / "nets" / "mlp.py")
    assert "from models/specs/mlp.json." in text
    assert "`python -m codegen models/specs/ -o src/nets/` from the repository root" in text
    # The same files, named the same way, from the root, from the spec folder itself, and by the header's command.
    for cwd, args in ((repo, ()), (repo / "models" / "specs", (".", "-o", "../../src/nets")), (repo, ("models/specs/", "-o", "src/nets/"))):
        result = codegen(*args, "--check", cwd=cwd)
        assert result.returncode == 0, (args, result.stdout)
    # The body is the committed one: only the header differs.
    assert output.split_header((repo / "src" / "nets" / "mlp.py").read_bytes())[3] == output.split_header((GENERATED / "mlp.py").read_bytes())[3]


def test_dot_spec_folder_names_the_folder_from_the_root(tmp_path):
    """From inside specs/, `.` is still "specs" in headers: nothing is stale (it was all of it)."""
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(GENERATED, tmp_path / "generated")
    result = codegen(".", "-o", "../generated", "--check", cwd=tmp_path / "specs")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(f"0 out of date, {len(STEMS) + 1} up to date")


def test_header_names_the_output_folder_when_not_the_default(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    assert codegen("specs/", "-o", "models", cwd=tmp_path).returncode == 0
    assert "`python -m codegen specs/ -o models/`" in header_text(tmp_path / "models" / "mlp.py")
    assert codegen("specs/", "-o", "models", "--check", cwd=tmp_path).returncode == 0
    # The same files under another folder name name the wrong command: stale.
    shutil.copytree(tmp_path / "models", tmp_path / "generated")
    result = codegen("specs/", "--check", cwd=tmp_path)
    assert result.returncode == 1 and f"{len(STEMS) + 1} out of date" in result.stdout


def test_headers_and_their_lines_fit_88_columns():
    for path in GENERATED.glob("*.py"):
        for line in header_text(path).splitlines():
            assert len(line) <= 88, (path.name, line)


@pytest.mark.parametrize(
    "table, message",
    [
        ('specs = 3', "specs must be a str"),
        ('jobs = 0', "jobs must be at least 1"),
        ('job = 2', "unknown key 'job' (did you mean 'jobs'?)"),
        ('specs = "x', "not valid TOML"),
    ],
)
def test_bad_table_is_a_clear_error(tmp_path, table, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.codegen]\n{table}\n")
    result = codegen(cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pyproject.toml" in result.stderr and "E110" in result.stderr and message in result.stderr


def test_no_spec_folder_and_no_table_is_bad_usage(tmp_path):
    result = codegen(cwd=tmp_path)
    assert result.returncode == 2 and "[tool.codegen]" in result.stderr


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_at_least_one(tmp_path, jobs):
    shutil.copytree(SPECS, tmp_path / "specs")
    result = codegen("specs/", "-j", jobs, cwd=tmp_path)
    assert result.returncode == 2 and "-j/--jobs" in result.stderr
    assert not (tmp_path / "generated").exists()


def test_paths_that_hold_no_specs_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "upper" / "mlp.JSON").write_bytes((SPECS / "mlp.json").read_bytes())
    (tmp_path / "README.md").write_text("# hello\n")
    for args, message in (
        (["README.md"], "not a spec"),
        (["empty"], "no <stem>.json specs in this folder"),
        (["upper"], "mlp.JSON: spec file names end in lower-case .json"),
    ):
        result = codegen(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert message in result.stderr and "E100" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "empty", "upper"]


def test_prune_deletes_only_this_folders_orphans(tmp_path):
    """Two spec folders share an output folder: pruning for one leaves the other's files alone."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for stem in ("mlp", "lenet"):
        shutil.copy(SPECS / f"{stem}.json", tmp_path / "a")
    shutil.copy(SPECS / "alexnet.json", tmp_path / "b")
    assert codegen("a", "-o", "out", cwd=tmp_path).returncode == 0
    assert codegen("b", "-o", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "a" / "lenet.json").unlink()
    result = codegen("a", "-o", "out", "--check", cwd=tmp_path)
    assert result.returncode == 1 and "EXTRA (its spec is gone; --prune deletes it): out/lenet.py" in result.stdout
    assert "alexnet" not in result.stdout  # b's file is not a's drift
    result = codegen("a", "-o", "out", "--prune", cwd=tmp_path)
    assert result.returncode == 0 and "1 pruned" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "alexnet.py", "mlp.py"]
    assert codegen("b", "-o", "out", "--check", cwd=tmp_path).returncode == 0


def test_version():
    from codegen import __version__

    result = codegen("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"codegen {__version__}"


def test_an_upgrade_replaces_old_headers_as_stale(tmp_path):
    """Files with codegen 0.1's three-line header are recognised as generated, not refused as foreign."""
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "generated").mkdir()
    body = output.split_header((GENERATED / "mlp.py").read_bytes())[3]
    old = (
        b"# Generated by codegen from specs/mlp.json. Do not edit: change the spec and run `python -m codegen specs/`.\n"
        b"# This file is plain PyTorch and needs nothing of codegen at run time.\n"
        b"# codegen-fingerprint: inputs=7d75c29c9c7ee31901b7128aa1f48e7a body=" + output.short_digest(body).encode() + b"\n"
    )
    (tmp_path / "generated" / "mlp.py").write_bytes(old + body)
    result = codegen("specs/mlp.json", "--check", cwd=tmp_path)
    assert result.returncode == 1 and "STALE: generated/mlp.py" in result.stdout
    assert codegen("specs/mlp.json", cwd=tmp_path).returncode == 0
    assert (tmp_path / "generated" / "mlp.py").read_bytes() == (GENERATED / "mlp.py").read_bytes()


def _imports(cwd: Path, *args: str, cache_dir: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CODEGEN_CACHE_DIR=str(cache_dir))
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "codegen", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, check=False)
    return result, {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_the_table_is_parsed_once_per_content(tmp_path):
    """tomllib is the largest import of an up-to-date run: the table is read back from the cache folder
    while pyproject.toml's bytes stay the same, parsed again when they change, the cache is damaged or
    --no-cache is given, and always checked."""
    (tmp_path / "nets").mkdir()
    shutil.copy(SPECS / "mlp.json", tmp_path / "nets")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.codegen]\nspecs = "nets"\noutput = "out"\n')
    cache_dir = tmp_path / "cache"
    result, imported = _imports(tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0 and "tomllib" in imported, result.stderr[-500:]
    result, imported = _imports(tmp_path, "--check", cache_dir=cache_dir)
    assert result.returncode == 0 and "tomllib" not in imported, result.stdout
    _, imported = _imports(tmp_path, "--check", "--no-cache", cache_dir=cache_dir)
    assert "tomllib" in imported
    settings = cache_dir / "settings.facts"
    settings.write_bytes(settings.read_bytes().replace(b"out", b"elsewhere"))  # damaged: the checksum fails
    result, imported = _imports(tmp_path, "--check", cache_dir=cache_dir)
    assert result.returncode == 0 and "tomllib" in imported and "0 out of date" in result.stdout, result.stdout
    pyproject.write_text('[tool.codegen]\nspecs = "nets"\noutput = "moved"\n')
    result, imported = _imports(tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0 and "tomllib" in imported and (tmp_path / "moved" / "mlp.py").exists()
    pyproject.write_text('[tool.codegen]\nspecs = "nets"\noutput = "moved"\njobs = 0\n')
    result, _ = _imports(tmp_path, "--check", cache_dir=cache_dir)
    assert result.returncode == 2 and "E110" in result.stderr
