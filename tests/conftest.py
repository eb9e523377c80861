"""Shared helpers: where things are, and how to import a generated module by path."""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
STEMS = sorted(p.stem for p in SPECS.glob("*.json") if not p.name.endswith(".schema.json"))  # not the schema's copy


def import_generated(stem: str, folder: Path = GENERATED) -> ModuleType:
    """Import ``folder/<stem>.py`` as a plain module, the way a user would use it."""
    name = f"_generated_{stem}_{abs(hash(str(folder)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def analysed():
    """Every spec, checked and shape-inferred by the generator, keyed by stem."""
    from codegen.generate import analyse_folder

    return analyse_folder(SPECS)


@pytest.fixture(autouse=True, scope="session")
def _stat_cache(tmp_path_factory):
    """Runs under test keep codegen's stat cache in a temporary folder, not in the user's ~/.cache."""
    os.environ["CODEGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("codegen-cache"))


@pytest.fixture(autouse=True)
def _seeded():
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield
