"""`codegen init`, and the spec folder's copy of the JSON Schema as an output."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

from codegen import load

from .conftest import SPECS
from .test_cli import codegen


def test_init_starts_a_repository_that_generates(tmp_path):
    result = codegen("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "specs").iterdir()) == ["mlp.json", "spec.schema.json"]
    assert (tmp_path / "specs" / "spec.schema.json").read_bytes() == load.SCHEMA_PATH.read_bytes()
    assert json.loads((tmp_path / "specs" / "mlp.json").read_text())["$schema"] == "spec.schema.json"
    table = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["codegen"]
    assert table == {"specs": "specs", "output": "generated"}
    result = codegen(cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "2 generated, 0 unchanged", result.stderr  # mlp.py and the overview page, README.md
    # The example is the README's, whose output the README shows.
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0]) == json.loads((tmp_path / "specs" / "mlp.json").read_text())
    assert readme.split("```python\n", 1)[1].split("```", 1)[0] in (tmp_path / "generated" / "mlp.py").read_text()
    assert codegen("--check", cwd=tmp_path).returncode == 0
    again = codegen("init", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("nothing to do")
    assert codegen("init", "--check", cwd=tmp_path).returncode == 0


def test_init_adds_the_table_to_an_existing_pyproject_and_keeps_the_specs(tmp_path):
    original = '[project]\nname = "theirs"\n\n[tool.ruff]\nline-length = 100'  # no final newline
    (tmp_path / "pyproject.toml").write_text(original)
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "specs" / "spec.schema.json").unlink()
    before = {p.name: p.read_bytes() for p in (tmp_path / "specs").iterdir()}
    result = codegen("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(original + "\n")
    doc = tomllib.loads(text)
    assert doc["tool"]["ruff"] == {"line-length": 100} and doc["tool"]["codegen"]["specs"] == "specs"
    after = {p.name: p.read_bytes() for p in (tmp_path / "specs").iterdir()}
    assert after.pop("spec.schema.json") == load.SCHEMA_PATH.read_bytes()
    assert after == before  # no example where there are specs


def test_schema_copy_is_stale_after_an_upgrade_and_a_plain_run_refreshes_it(tmp_path):
    assert codegen("init", cwd=tmp_path).returncode == 0
    assert codegen(cwd=tmp_path).returncode == 0
    copy = tmp_path / "specs" / "spec.schema.json"
    copy.write_bytes(copy.read_bytes().replace(b'"title": "Block spec"', b'"title": "Block spec (0.0.1)"'))
    for args in (["--check"], ["init", "--check"]):
        result = codegen(*args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert "STALE" in result.stdout and "specs/spec.schema.json" in result.stdout, args
    assert copy.read_bytes() != load.SCHEMA_PATH.read_bytes()  # --check wrote nothing
    result = codegen(cwd=tmp_path)
    assert result.returncode == 0 and "refreshed specs/spec.schema.json" in result.stdout
    assert copy.read_bytes() == load.SCHEMA_PATH.read_bytes()
    assert codegen("--check", cwd=tmp_path).returncode == 0


def test_a_failing_run_does_not_refresh_the_schema_copy(tmp_path):
    assert codegen("init", cwd=tmp_path).returncode == 0
    copy = tmp_path / "specs" / "spec.schema.json"
    copy.write_bytes(b"{}")
    (tmp_path / "specs" / "bad.json").write_text("{")
    assert codegen(cwd=tmp_path).returncode == 2
    assert copy.read_bytes() == b"{}"


def test_this_repository_uses_the_same_arrangement():
    assert (SPECS / "spec.schema.json").read_bytes() == load.SCHEMA_PATH.read_bytes()
    doc = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert doc["tool"]["codegen"] == {"specs": "specs", "output": "generated"}
