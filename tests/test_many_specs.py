"""Folders of many specs, where the workers start while planning is still going on (generate.EARLY_START)."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import re
import shutil
import time
from pathlib import Path

import pytest

from codegen import cache, generate, output
from codegen.__main__ import main

from .conftest import SPECS

COUNT = generate.EARLY_START + 6


def write_specs(folder: Path, hidden: dict[int, int] | None = None, only: int | None = None) -> None:
    """COUNT copies of specs/mlp.json as mlp_000.json ... (classes MLP000 ...), spec ``i`` with ``hidden[i]`` units.

    With ``only``, just that one file is written.
    """
    doc = json.loads((SPECS / "mlp.json").read_text())
    doc["$schema"] = str(SPECS.parent / "codegen" / "spec.schema.json")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(COUNT) if only is None else [only]:
        units = (hidden or {}).get(i, 256)
        copy = json.loads(json.dumps(doc).replace("256", str(units)))
        copy["name"] = f"MLP{i:03d}"
        (folder / f"mlp_{i:03d}.json").write_text(json.dumps(copy, indent=2) + "\n")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def spy(monkeypatch):
    """Records each start of workers: (how many outputs planning had looked at by then, how many processes)."""
    looked, starts = [], []
    inspect, start = output.inspect_target, generate.Workers.start

    def counting_inspect(*args, **kwargs):
        looked.append(args[1])
        return inspect(*args, **kwargs)

    def recording_start(self, *args, **kwargs):
        count = self.count
        start(self, *args, **kwargs)
        if self.count != count:
            starts.append((len(looked), self.count))

    monkeypatch.setattr(output, "inspect_target", counting_inspect)
    monkeypatch.setattr(generate.Workers, "start", recording_start)
    return looked, starts


@pytest.mark.parametrize("rewrite", ["one", "all"], ids=["one-file-written", "all-files-rewritten"])
def test_one_change_among_many_starts_the_workers_first_and_rebuilds_it_exactly(tmp_path, spy, rewrite, monkeypatch):
    looked, starts = spy
    write_specs(tmp_path / "specs")
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "2")[:2] == (0, f"{COUNT + 1} generated, 0 unchanged\n")
    assert starts == [(0, 2)]  # a cold run: the outputs are missing, so even before a spec is read
    time.sleep(cache.RACY_SECONDS + 0.1)  # as a while after that run: the stat cache records the files
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"))[:2] == (0, f"0 generated, {COUNT + 1} unchanged\n")

    last = COUNT - 1  # the last in name order: found first all the same
    # "all": as after a checkout that rewrites every file, the same bytes but one.
    write_specs(tmp_path / "specs", hidden={last: 48}, only=last if rewrite == "one" else None)
    looked.clear()
    starts.clear()
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "2")[:2] == (0, f"2 generated, {COUNT - 1} unchanged\n")  # and README.md
    assert starts == [(1, 1)]  # at the first output looked at, one process for the one changed spec
    assert sorted(looked) == sorted(f"mlp_{i:03d}" for i in range(COUNT))  # and the rest was still planned

    # The same bytes as a cold run of the changed folder, file for file (laid out the same way: headers
    # name the spec and output folders).
    shutil.copytree(tmp_path / "specs", tmp_path / "again" / "specs")
    monkeypatch.chdir(tmp_path / "again")
    assert run("specs", "-o", "out", "-j", "1")[0] == 0
    # README.md too: its other sections were kept from the page, one was re-rendered.
    for path in [*sorted((tmp_path / "out").glob("*.py")), tmp_path / "out" / "README.md"]:
        assert (tmp_path / "again" / "out" / path.name).read_bytes() == path.read_bytes(), path.name
    assert "nn.Linear(20, 48)" in (tmp_path / "out" / f"mlp_{last:03d}.py").read_text()


def test_more_work_than_the_early_start_guessed_gets_every_process(tmp_path, spy):
    """One spec changed, and every other output stale too (as after a generator upgrade): one process, then two."""
    looked, starts = spy
    write_specs(tmp_path / "specs")
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "2")[0] == 0
    expected = {path.name: path.read_bytes() for path in (tmp_path / "out").glob("*.py")}
    time.sleep(cache.RACY_SECONDS + 0.1)
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"))[:2] == (0, f"0 generated, {COUNT + 1} unchanged\n")
    for path in (tmp_path / "out").glob("*.py"):
        path.write_text(re.sub("codegen-inputs=[0-9a-f]{32}", "codegen-inputs=" + "0" * 32, path.read_text(), count=1))
    write_specs(tmp_path / "specs", hidden={3: 48}, only=3)
    looked.clear()
    starts.clear()

    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "2")[:2] == (0, f"{COUNT + 1} generated, 0 unchanged\n")

    assert starts == [(1, 1), (COUNT, 2)]  # the second start replaces the first worker before any job
    after = {path.name: path.read_bytes() for path in (tmp_path / "out").glob("*.py")}
    assert after.keys() == expected.keys()
    assert [name for name in sorted(after) if after[name] != expected[name]] == ["mlp_003.py"]
    assert multiprocessing.active_children() == []


def test_one_job_means_no_worker_processes(tmp_path, spy):
    _, starts = spy
    write_specs(tmp_path / "specs")
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1")[:2] == (0, f"{COUNT + 1} generated, 0 unchanged\n")
    assert starts == []


def test_up_to_date_starts_no_workers(tmp_path, spy):
    _, starts = spy
    write_specs(tmp_path / "specs")
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"))[0] == 0
    starts.clear()
    for extra in ([], ["--check"], ["--no-cache"]):
        assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), *extra)[0] == 0
    assert starts == []


def test_a_plan_that_fails_after_starting_the_workers_changes_nothing(tmp_path, spy):
    """The workers are already importing black when planning finds a symlink where an output goes."""
    looked, starts = spy
    write_specs(tmp_path / "specs")
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"))[0] == 0
    (tmp_path / "out" / "mlp_000.py").unlink()  # missing: the workers start at once
    victim = tmp_path / "victim.py"
    victim.write_text("precious\n")
    (tmp_path / "out" / f"mlp_{COUNT - 1:03d}.py").unlink()
    (tmp_path / "out" / f"mlp_{COUNT - 1:03d}.py").symlink_to(victim)
    before = sorted((p.name, p.is_symlink(), p.read_bytes()) for p in (tmp_path / "out").iterdir())
    looked.clear()
    starts.clear()

    code, _, err = run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "2")

    assert code == 2 and "E501" in err, err
    assert starts == [(0, 1)]  # one output missing: one process, before any spec was read
    assert sorted((p.name, p.is_symlink(), p.read_bytes()) for p in (tmp_path / "out").iterdir()) == before
    assert victim.read_text() == "precious\n"
    assert multiprocessing.active_children() == []  # the workers were stopped, not left behind


def test_workers_started_while_planning_collect_their_garbage():
    """Planning turns the cycle collector off, and a fork inherits that: black's cyclic trees would pile up."""
    import gc

    with generate.Workers(2) as workers:
        gc.disable()
        try:
            workers.start(10)
        finally:
            gc.enable()
        assert workers.pool.submit(gc.isenabled).result() is True
