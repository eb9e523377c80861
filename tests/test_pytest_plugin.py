"""codegen's pytest plugin, run as a user's repository runs it: each check passes on good output
and fails, with a one-line reason, on output that is wrong in its way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_cli import codegen


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # The plugin from this source tree, as pyproject.toml loads it here (installed, its entry point does).
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "codegen.pytest_plugin", "-v", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True,
    )


def outcomes(result: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(re.findall(r"^(specs/\S+::\w+) (PASSED|FAILED|ERROR)", result.stdout, re.M))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """`codegen init`, four copies of its example (A good, B shape, C gradients, D docstring), `codegen`, then edits."""
    work = tmp_path_factory.mktemp("plugin")
    assert codegen("init", cwd=work).returncode == 0
    example = (work / "specs" / "mlp.json").read_text()
    (work / "specs" / "mlp.json").unlink()
    for stem, name in (("a", "GoodMLP"), ("b", "WrongShape"), ("c", "NoGradient"), ("d", "WrongTable")):
        (work / "specs" / f"{stem}.json").write_text(example.replace('"MLP"', f'"{name}"'))
    assert codegen(cwd=work).returncode == 0
    edits = {
        "b": ("nn.Linear(256, 10)", "nn.Linear(256, 12)"),
        "c": ("self.out(F.relu(self.hidden(X)))", "self.out(F.relu(self.hidden(X)).detach())"),
        "d": ("5,376", "5,377"),
    }
    for stem, (old, new) in edits.items():
        path = work / "generated" / f"{stem}.py"
        text = path.read_text()
        assert old in text, (stem, old)
        path.write_text(text.replace(old, new))
    return work


def test_each_check_fails_on_its_fault_and_only_there(repo):
    result = pytest_run(repo, "--codegen")
    assert result.returncode == 1, result.stdout[-3000:]
    got = outcomes(result)
    assert got == {
        **{f"specs/a.json::{check}": "PASSED" for check in ("shape", "gradients", "docstring", "up_to_date")},
        "specs/b.json::shape": "FAILED",
        "specs/b.json::gradients": "PASSED",
        "specs/b.json::docstring": "FAILED",
        "specs/b.json::up_to_date": "FAILED",
        "specs/c.json::shape": "PASSED",
        "specs/c.json::gradients": "FAILED",
        "specs/c.json::docstring": "PASSED",
        "specs/c.json::up_to_date": "FAILED",
        "specs/d.json::shape": "PASSED",
        "specs/d.json::gradients": "PASSED",
        "specs/d.json::docstring": "FAILED",
        "specs/d.json::up_to_date": "FAILED",
    }, result.stdout[-3000:]
    out = result.stdout
    assert "b.json (shape): output shape (2, 12), inferred (2, 10)" in out
    assert "c.json (gradients): hidden.weight got no gradient" in out
    assert "d.json (docstring): hidden: 5,377 parameters, torch counts 5,376" in out
    assert "d.json (up_to_date): edited: run `codegen`" in out
    assert "Traceback" not in out


def test_off_without_the_option_and_on_with_the_ini_option(repo, tmp_path):
    assert pytest_run(repo).returncode == 5  # no tests collected: the plugin is off
    (repo / "pytest.ini").write_text("[pytest]\ncodegen = true\n")
    try:
        result = pytest_run(repo, "-k", "a.json")
    finally:
        (repo / "pytest.ini").unlink()
    assert result.returncode == 0, result.stdout[-3000:]
    assert sorted(outcomes(result)) == [f"specs/a.json::{c}" for c in ("docstring", "gradients", "shape", "up_to_date")]


def test_a_broken_spec_fails_its_items_with_the_error_not_a_traceback(repo, tmp_path):
    import shutil

    work = tmp_path / "broken"
    shutil.copytree(repo, work)
    (work / "specs" / "a.json").write_text((work / "specs" / "a.json").read_text().replace('"in_features": 256', '"in_features": 255'))
    result = pytest_run(work, "--codegen", "-k", "a.json and shape")
    assert result.returncode == 1
    assert "E401" in result.stdout and "specs/a.json" in result.stdout and "Traceback" not in result.stdout
