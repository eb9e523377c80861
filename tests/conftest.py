"""Shared helpers: where things are, and how to import a generated module by path."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import pytest

# One test process per core (pytest-xdist): torch's own thread pool in each would only make them
# contend (measured: the equivalence tests took twice as long). Subprocesses inherit the setting.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
STEMS = sorted(p.stem for p in SPECS.glob("*.json") if not p.name.endswith(".schema.json"))  # not the schema's copy
# The folder the run-level tests (faults, races, the cache) work on: the seed's and the CNN era's
# blocks, closed under what they use. Twenty specs give every race and phase those tests stage;
# the whole folder would only make each cold run four times longer.
SAMPLE_STEMS = (
    "alexnet", "centered_layer", "chimera", "dense_block", "densenet", "fixed_hidden_mlp", "googlenet",
    "inception", "lenet", "mlp", "my_linear", "my_sequential", "nest_mlp", "nin", "nin_block", "residual",
    "resnet18", "shared_mlp", "vgg11", "vgg_block",
)


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


@pytest.fixture(scope="session")
def sample(tmp_path_factory, _stat_cache) -> Path:
    """``specs/`` holding SAMPLE_STEMS (and the schema copy they name), ``generated/`` as the generator writes it now.

    Its modules are byte-equal to generated/'s (checked); its README.md lists only these blocks.
    """
    root = tmp_path_factory.mktemp("sample")
    (root / "specs").mkdir()
    shutil.copy(SPECS / "spec.schema.json", root / "specs")
    for stem in SAMPLE_STEMS:
        shutil.copy(SPECS / f"{stem}.json", root / "specs")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "codegen", "specs/"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for stem in SAMPLE_STEMS:  # closed under what they use: nothing but the page differs from generated/
        assert (root / "generated" / f"{stem}.py").read_bytes() == (GENERATED / f"{stem}.py").read_bytes(), stem
    assert sorted(p.stem for p in (root / "generated").glob("*.py")) == sorted(SAMPLE_STEMS)
    return root


@pytest.fixture(autouse=True)
def _seeded():
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield
