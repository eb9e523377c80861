"""The tool as another repository gets it: a wheel, installed into a fresh virtual environment.

Offline: the wheel is built without build isolation (setuptools is pinned in
requirements.txt) and installed without its dependencies, which the fresh
environment borrows from this one through a .pth file (torch alone is 1 GB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from codegen import __version__

from .conftest import GENERATED, ROOT, SPECS, STEMS


def run(command: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed: its bin/ folder."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # a copy, so that the build leaves nothing (build/, *.egg-info) in the tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for name in ("codegen", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(work / "dist"), str(source)], cwd=work)
    (wheel,) = (work / "dist").glob("codegen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in (ROOT / "templates").glob("*.jinja"):
        assert f"codegen/templates/{template.name}" in names
    assert "codegen/spec.schema.json" in names and any(n.endswith("licenses/LICENSE") for n in names)
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).stdout.strip()
    # The dependencies (torch, black, jinja2, pytest, ...), from this environment.
    (Path(site) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=work)
    return venv / "bin"


def test_installed_tool_generates_the_committed_bytes_from_an_empty_folder(installed, tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    result = run([str(installed / "codegen"), "specs/"], cwd=tmp_path)
    # Every module and the overview page, generated/README.md.
    assert result.stdout.strip() == f"{len(STEMS) + 1} generated, 0 unchanged"
    produced = sorted(p.name for p in (tmp_path / "generated").iterdir())
    assert produced == sorted([p.name for p in GENERATED.glob("*.py")] + ["README.md"])
    for name in produced:
        assert (tmp_path / "generated" / name).read_bytes() == (GENERATED / name).read_bytes(), name
    # The installed package, not this source tree.
    where = run([str(installed / "python"), "-c", "import codegen, sys; print(codegen.__file__)"], cwd=tmp_path).stdout
    assert str(ROOT) not in where and "site-packages" in where
    assert run([str(installed / "codegen"), "--version"], cwd=tmp_path).stdout.strip() == f"codegen {__version__}"
    urls = run([str(installed / "python"), "-c", "import importlib.metadata as m; print(*m.metadata('codegen').get_all('Project-URL'), sep='\\n')"], cwd=tmp_path).stdout
    assert [line.split(",")[0] for line in urls.splitlines()] == ["Homepage", "Repository", "Issues", "Documentation"], urls
    assert run([str(installed / "python"), "-m", "codegen", "specs/", "--check"], cwd=tmp_path).returncode == 0


def test_done_when_init_generate_and_pytest_in_an_empty_git_repository(installed, tmp_path):
    """The issue's "Done when": pip install <wheel>; codegen init; codegen; pytest --codegen."""
    repo = tmp_path / "theirs"
    repo.mkdir()
    run(["git", "init", "-q"], cwd=repo)
    run([str(installed / "codegen"), "init"], cwd=repo)
    result = run([str(installed / "codegen")], cwd=repo)
    assert result.stdout.strip() == "2 generated, 0 unchanged"  # mlp.py and the overview, README.md
    result = run([str(installed / "python"), "-m", "pytest", "--codegen", "-v", "-p", "no:cacheprovider"], cwd=repo)
    for check in ("shape", "gradients", "docstring", "up_to_date"):
        assert f"specs/mlp.json::{check} PASSED" in result.stdout, result.stdout
    assert "4 passed" in result.stdout
    assert run([str(installed / "codegen"), "--check"], cwd=repo).returncode == 0


def test_pre_commit_hook_fails_on_drift_in_another_repository(installed, tmp_path):
    """`pre-commit try-repo` with this repository's .pre-commit-hooks.yaml, in a fresh git repository.

    The `codegen-system` hook, whose environment is the repository's own: the `codegen` hook
    needs the network to let pre-commit build its environment (see .pre-commit-hooks.yaml).
    """
    repo = tmp_path / "theirs"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run(["git", "init", "-q"], cwd=repo)
    run([str(installed / "codegen"), "init"], cwd=repo)
    run([str(installed / "codegen")], cwd=repo)
    run([*git, "add", "-A"], cwd=repo)
    run([*git, "commit", "-qm", "start"], cwd=repo)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"  # the repository's environment, with codegen
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "codegen-system", "--all-files"]

    clean = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout

    spec = repo / "specs" / "mlp.json"
    spec.write_text(spec.read_text().replace('"out_features": 256', '"out_features": 128').replace('"in_features": 256', '"in_features": 128'))
    run([*git, "add", "-A"], cwd=repo)
    before = (repo / "generated" / "mlp.py").read_bytes()
    drift = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "Failed" in drift.stdout and "STALE: generated/mlp.py" in drift.stdout
    assert (repo / "generated" / "mlp.py").read_bytes() == before  # the hook writes nothing
