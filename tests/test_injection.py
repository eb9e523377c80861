"""Injection through every string field of every spec.

For each spec in specs/ and each string value in it (found by walking the
JSON), four payloads are injected, replacing the string and appended to it:

    '\"\"\"\\nimport os\\n\"\"\"'   '\\rimport os'   "'); import os; ('"   '{{ 7*7 }}'

Each run (the generator in process, on a folder holding the spec and the
specs it uses, with their up-to-date outputs) must end in either

* a clean error: exit 2, no E900 (the AST gate is the last line of defence,
  not the first), no traceback, the spec named, and no file changed; or
* exit 0 with output whose syntax tree holds no ``import os``, no name
  ``os``, no call the original output did not make, and no ``49`` that was
  not there before; and where the field is prose (a doc), the docstring or
  comment holds the injected text verbatim: it was carried as data.

What CI sweeps: every *kind* of string field (its JSON path with list
indices and the spec's own names, such as layer or parameter names, taken
out: ``layers.*.args.padding``, ``forward.body[].value``), each at its two
instances in the smallest specs, and the probe specs whole: about 2,700 runs.
``test_every_kind_of_field_is_swept`` holds CI to that. The full sweep, every
string of every spec (about 15,000 runs, 10 minutes on two cores), is a
stress run for hand and release: ``CODEGEN_FULL_SWEEP=1 python -m pytest
tests/test_injection.py`` (docs/benchmarks.md records the last one).

The sweeps are computed per spec in worker processes; the tests then judge
each (spec, payload, mode) from the results.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import tokenize
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from codegen import output

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
# Specs swept besides specs/: constructs no spec in specs/ uses yet (subscripts and
# subscript assignment, masks, dtypes, math, lazy layers, int/round in arithmetic; strings in forward).
PROBES = {
    "attention_probe": {
        "name": "AttentionProbe",
        "doc": "Masked scaled dot-product scores: a probe of the attention constructs.",
        "args": {"num_hiddens": {"type": "int", "doc": "query size"}, "ratio": {"type": "float", "default": 0.5}},
        "layers": {
            "W_q": {"type": "LazyLinear", "args": {"out_features": "num_hiddens"}, "doc": "query projection"},
            "W_k": {"type": "Linear", "args": {"in_features": "int(math.sqrt(num_hiddens * 4))", "out_features": "round(num_hiddens * ratio) * 2"}},
        },
        "forward": {
            "inputs": ["queries", "keys"],
            "body": [
                {"assign": "queries", "value": "self.W_q(queries)"},
                {"assign": "scores", "value": "torch.bmm(queries, self.W_k(keys).transpose(1, 2)) / math.sqrt(queries.shape[-1])"},
                {"assign": "valid_lens", "value": "torch.arange(1, scores.shape[0] + 1)"},
                {"assign": "mask", "value": "torch.arange(scores.shape[-1], dtype=torch.float32)[None, :] < valid_lens[:, None]"},
                {"assign": "mask", "value": "mask[:, None, :] & ~(scores[..., :1] > 100) | (scores < -100)"},
                {"assign": "scores[~mask]", "value": "-1e6"},
                {"return": "F.softmax(scores, dim=-1)[:, 0]"},
            ],
        },
        "example": {"args": {"num_hiddens": 4}, "inputs": {"queries": [2, 3, 5], "keys": [2, 6, 4]}},
    },
    # Strings in forward: compared with a str argument, and a catalogued keyword's value.
    "string_probe": {
        "name": "StringProbe",
        "doc": "Pooling chosen by a string: a probe of strings in forward.",
        "args": {"mode": {"type": "str", "default": "avg", "choices": ["avg", "sum"]}},
        "forward": {"inputs": ["X"], "body": [
            {"if": "self.mode == 'avg'", "then": [{"return": "F.gelu(X.mean(dim=1), approximate='tanh')"}],
             "else": [{"return": "X.sum(dim=1)"}]},
        ]},
        "examples": [{"inputs": {"X": [2, 3]}}, {"args": {"mode": "sum"}, "inputs": {"X": [2, 3]}}],
    },
}
ALL_STEMS = sorted([p.stem for p in SPECS.glob("*.json") if not p.name.endswith(".schema.json")] + list(PROBES))  # not the schema's copy


def spec_doc(stem: str) -> Any:
    return PROBES[stem] if stem in PROBES else json.loads((SPECS / f"{stem}.json").read_text(encoding="utf-8"))


PAYLOADS = {
    "triple_quotes": '"""\nimport os\n"""',
    "carriage_return": "\rimport os",
    "quote_escape": "'); import os; ('",
    "template": "{{ 7*7 }}",
}
MODES = ("replace", "append")
ALLOWED_IMPORTS = {
    "import math", "import torch", "from torch import nn", "from torch.nn import functional as F",
    "from collections.abc import Callable",
    "from functools import partial",
}


# ---------------------------------------------------------------------------- the sweep (runs in workers)


def string_fields(doc: Any, path: tuple = ()) -> list[tuple]:
    """The path of every string value in ``doc``."""
    if isinstance(doc, dict):
        return [p for key, value in doc.items() for p in string_fields(value, path + (key,))]
    if isinstance(doc, list):
        return [p for index, value in enumerate(doc) for p in string_fields(value, path + (index,))]
    return [path] if isinstance(doc, str) else []


# Mappings whose keys the spec's author chooses (layer, parameter, argument names): one kind of field.
NAMED = {"layers", "parameters", "buffers", "constants", "derived", "methods"}
FULL_SWEEP = os.environ.get("CODEGEN_FULL_SWEEP") == "1"
INSTANCES_PER_KIND = 2


def field_kind(path: tuple) -> tuple:
    """``path`` with list indices and author-chosen names replaced: the generator treats all alike."""
    kind: list = []
    for i, key in enumerate(path):
        parent = path[i - 1] if i else None
        author_named = parent in NAMED or (
            parent in ("args", "inputs")
            and (i == 1 or path[i - 2] == "example" or (i >= 3 and path[i - 3] == "examples"))
        )  # the block's own arguments and an example's inputs; a layer's args keep torch's names
        kind.append("[]" if isinstance(key, int) else "*" if author_named else key)
    return tuple(kind)


def swept_fields() -> dict[str, list[tuple]]:
    """stem -> the string fields swept: all of them with FULL_SWEEP, else each kind's first instances.

    Instances come from the smallest specs first (cheapest to rebuild), in name order; the
    probe specs, written for the sweep, are swept whole.
    """
    every = {stem: string_fields(spec_doc(stem)) for stem in ALL_STEMS}
    if FULL_SWEEP:
        return every
    chosen: dict[str, list[tuple]] = {stem: list(every[stem]) if stem in PROBES else [] for stem in ALL_STEMS}
    taken: dict[tuple, int] = {}
    for stem in sorted(ALL_STEMS, key=lambda s: (len(json.dumps(spec_doc(s))), s)):
        for path in every[stem]:
            kind = field_kind(path)
            if taken.get(kind, 0) < INSTANCES_PER_KIND and stem not in PROBES:
                taken[kind] = taken.get(kind, 0) + 1
                chosen[stem].append(path)
    return {stem: paths for stem, paths in chosen.items() if paths}


SWEPT = swept_fields()
STEMS = sorted(SWEPT)


def tree_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sweep(stem: str, base: str, fields: list[tuple]) -> list[dict]:
    """Inject every payload into each of ``fields`` of specs/<stem>.json, one generator run each."""
    from codegen import analyse, generate
    from codegen.__main__ import main

    base_dir = Path(base)
    blocks = generate.analyse_folder(base_dir / "specs")
    by_name = {b.name: b for b in blocks.values()}
    chain = [b.raw.stem for b in analyse.dependencies(blocks[stem], by_name)]
    work = Path(tempfile.mkdtemp(prefix=f"inject-{stem}-"))
    try:
        (work / "specs").mkdir()
        (work / "out").mkdir()
        for used in chain:  # the spec and the specs it uses, with their up-to-date outputs
            shutil.copy(base_dir / "specs" / f"{used}.json", work / "specs")
            shutil.copy(base_dir / "out" / f"{used}.py", work / "out")
        spec = work / "specs" / f"{stem}.json"
        original = json.loads(spec.read_text(encoding="utf-8"))
        records = []
        for path in fields:
            for payload_id, payload in PAYLOADS.items():
                for mode in MODES:
                    doc = copy.deepcopy(original)
                    holder = doc
                    for key in path[:-1]:
                        holder = holder[key]
                    value = payload if mode == "replace" else holder[path[-1]] + payload
                    holder[path[-1]] = value
                    spec.write_text(json.dumps(doc, indent=1), encoding="utf-8")
                    before = tree_state(work)
                    out, err = io.StringIO(), io.StringIO()
                    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                        code = main([str(work / "specs"), "-o", str(work / "out"), "-j", "1"])
                    after = tree_state(work)
                    records.append({
                        "path": path,
                        "payload": payload_id,
                        "mode": mode,
                        "value": value,
                        "name": doc.get("name"),
                        "code": code,
                        "stderr": err.getvalue(),
                        "unchanged": before == after,
                        "source": (work / "out" / f"{stem}.py").read_text(encoding="utf-8") if code == 0 else None,
                    })
        return records
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def injection_baseline(tmp_path_factory) -> Path:
    """specs/ and out/: a copy of generated/, brought up to date by the generator as it is now."""
    base = tmp_path_factory.mktemp("injection_baseline")
    shutil.copytree(SPECS, base / "specs")
    for stem, doc in PROBES.items():
        (base / "specs" / f"{stem}.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    shutil.copytree(GENERATED, base / "out")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "codegen", "specs/", "-o", "out"], cwd=base, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return base


@pytest.fixture(scope="session")
def sweeps(request, injection_baseline) -> dict[str, list[dict]]:
    """The sweep of every selected spec, largest first, in worker processes."""
    wanted = {
        item.callspec.params["stem"]
        for item in request.session.items
        if getattr(item, "originalname", "") in ("test_injection", "test_sweep_covers_its_fields")
    }
    order = sorted(wanted, key=lambda s: -len(SWEPT[s]))
    if not order:
        return {}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of pytest's or torch's state
    workers = max(1, min(len(order), os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return dict(zip(order, pool.map(sweep, order, [str(injection_baseline)] * len(order), [SWEPT[s] for s in order])))


# ---------------------------------------------------------------------------- judging


def body(source: str) -> str:
    return output.split_header(source.encode())[3].decode()  # below the header


def calls(tree: ast.AST) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def class_doc(tree: ast.Module, name: str) -> str:
    """The class (or function spec's) docstring's value with the indentation removed (tabs and all else kept)."""
    cls = next(n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == name)
    raw = ast.get_docstring(cls, clean=False) or ""
    return "\n".join(line[4:] if line.startswith("    ") else line for line in raw.split("\n"))


def comments(source: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def problems_of(record: dict, stem: str, reference: str) -> list[str]:
    """What is wrong with one run; [] if it is fine."""
    where = f"{'.'.join(map(str, record['path']))} = {record['value']!r}"
    code, stderr = record["code"], record["stderr"]
    if code not in (0, 2):
        return [f"{where}: exit {code}: {stderr.strip()}"]
    if "E900" in stderr or "Traceback" in stderr:
        return [f"{where}: {stderr.strip()}"]
    if code == 2:
        found = []
        if not record["unchanged"]:
            found.append(f"{where}: a failing run changed files")
        if f"{stem}.json" not in stderr or not all(line.startswith("error: ") for line in stderr.splitlines()):
            found.append(f"{where}: unclear error: {stderr.strip()}")
        return found

    source = record["source"]
    found = []
    tree = ast.parse(source)
    imports = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
    if not imports <= ALLOWED_IMPORTS:
        found.append(f"{where}: imports {imports - ALLOWED_IMPORTS}")
    if any(isinstance(n, ast.Name) and n.id == "os" for n in ast.walk(tree)):
        found.append(f"{where}: the name os is used")
    new_calls = calls(tree) - calls(ast.parse(reference))
    if new_calls:
        found.append(f"{where}: new calls {new_calls}")
    if any(isinstance(n, ast.Constant) and n.value == 49 and type(n.value) is int for n in ast.walk(tree)) or body(
        source
    ).count("49") > body(reference).count("49"):
        found.append(f"{where}: 49 appeared: a template was evaluated")

    path, value = record["path"], record["value"]
    if path[-1] == "doc":
        doc = class_doc(tree, record["name"])
        flat = " ".join(doc.split())  # lines too long for 88 columns are wrapped at spaces
        if path == ("doc",):
            expected = [line.rstrip() for line in value.strip().split("\n")]
            if " ".join(" ".join(expected).split()) not in flat or not all(
                line in doc.split("\n") for line in expected if len(line) <= 80
            ):
                found.append(f"{where}: the class docstring does not hold the text")
        elif path[0] == "args":
            if f"{path[1]}: {' '.join(value.split())}" not in flat:
                found.append(f"{where}: the Args section does not hold the text")
        elif "# " + " ".join(value.split()) not in comments(source):
            found.append(f"{where}: no comment holds the text: {comments(source)}")
    elif path[0] == "checks" and path[-1] == "message":  # a raise or assert message: one string literal, verbatim
        literals = [
            n.msg.value if isinstance(n, ast.Assert) else n.exc.args[0].value
            for n in ast.walk(tree) if isinstance(n, (ast.Assert, ast.Raise)) and not (isinstance(n, ast.Raise) and n.exc.func.id == "RuntimeError")
        ]
        if value not in literals:
            found.append(f"{where}: no raise or assert holds the message as a literal: {literals}")
    elif path == ("$schema",) and body(source) != body(reference):
        found.append(f"{where}: $schema changed the code")
    return found


# ---------------------------------------------------------------------------- tests


def test_every_kind_of_field_is_swept():
    every = {field_kind(path) for stem in ALL_STEMS for path in string_fields(spec_doc(stem))}
    swept = {field_kind(path) for paths in SWEPT.values() for path in paths}
    assert swept == every
    assert all(set(SWEPT[stem]) == set(string_fields(PROBES[stem])) for stem in PROBES)


def test_field_kinds_keep_what_the_generator_tells_apart():
    assert field_kind(("layers", "net", "layers", 2, "args", "padding")) == ("layers", "*", "layers", "[]", "args", "padding")
    assert field_kind(("args", "num_hiddens", "doc")) == ("args", "*", "doc")
    assert field_kind(("examples", 1, "inputs", "X", "dtype")) == ("examples", "[]", "inputs", "*", "dtype")
    assert field_kind(("forward", "inputs", 0, "name")) == ("forward", "inputs", "[]", "name")
    assert field_kind(("name",)) != field_kind(("doc",))


@pytest.mark.parametrize("stem", STEMS)
def test_sweep_covers_its_fields(stem, sweeps):
    records = sweeps[stem]
    assert len(records) == len(SWEPT[stem]) * len(PAYLOADS) * len(MODES)
    assert {r["path"] for r in records} == set(SWEPT[stem])


def test_sweep_reaches_named_sequential_children():
    """A Sequential child's 'name' (emitted as add_module's literal) is a string field the sweep injects into."""
    fields = string_fields(spec_doc("regnetx32"))
    assert {("layers", "net", "layers", i, "name") for i in (1, 2, 3)} <= set(fields)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("stem", STEMS)
def test_injection(stem, payload, mode, sweeps, injection_baseline):
    reference = (injection_baseline / "out" / f"{stem}.py").read_text(encoding="utf-8")
    records = [r for r in sweeps[stem] if r["payload"] == payload and r["mode"] == mode]
    assert records
    problems = [p for record in records for p in problems_of(record, stem, reference)]
    assert not problems, "\n".join(problems)
    # Prose fields were accepted and carried; everything else was refused or, at least, harmless.
    docs = [r for r in records if r["path"][-1] in ("doc", "message")]
    assert docs == [] or all(r["code"] == 0 for r in docs), [r["stderr"] for r in docs if r["code"]]


def test_unparse_shortcut_matches_ast_unparse():
    """expressions.unparse writes names and numbers itself; it must print exactly what ast.unparse prints."""
    import ast
    import sys

    from codegen import expressions

    values = [0, 1, -1, 2**31, -(2**31), True, False, None, 0.0, -0.0, 0.5, 1e-7, 1e16, 1.5e300, -2.5, 3.0, 1 / 3,
              sys.float_info.max, sys.float_info.min, 5e-324]
    trees = [ast.Constant(v) for v in values] + [ast.Name(n, ast.Load()) for n in ("X", "in_channels", "_x1")]
    for text in ("a + 1", "(1, 2)", "-3", "x[0]", "'s'", "f(1, k=2)", "a if b else c"):  # not shortcut: unchanged
        trees.append(ast.parse(text, mode="eval").body)
    for tree in trees:
        assert expressions.unparse(tree) == ast.unparse(tree), ast.dump(tree)


# ---------------------------------------------------------------------------- places the sweep of values cannot reach

KEYS_SPEC = {
    "$schema": "../codegen/spec.schema.json",
    "name": "Keys",
    "doc": "ModuleDict keys, an optional input, enumerate, a function spec and a public method, for the injection sweep.",
    "args": {"num_heads": {"type": "int"}},
    "functions": ["transpose_qkv"],
    "layers": {
        "heads": {"type": "ModuleDict", "layers": {"q": {"type": "Linear", "args": {"in_features": 8, "out_features": 8}}}},
        "blks": {"type": "ModuleList", "layers": [{"type": "ReLU"}, {"type": "Tanh"}]},
    },
    "methods": {"init_state": {"inputs": [{"name": "pair", "type": "tuple[torch.Tensor, torch.Tensor]"}], "body": [{"return": "pair"}]}},
    "forward": {"inputs": ["X", {"name": "mask", "default": None}], "body": [
        {"if": "mask is not None", "then": [{"assign": "X", "value": "X * mask"}]},
        {"for": ["i", "blk"], "in": "enumerate(self.blks)", "body": [{"assign": "X", "value": "blk(X)"}]},
        {"return": "transpose_qkv(self.heads['q'](X), self.num_heads)"},
    ]},
    "examples": [
        {"args": {"num_heads": 2}, "inputs": {"X": [2, 3, 8], "mask": None}, "methods": {"init_state": {"pair": [[2, 3], [2, 3]]}}},
        {"args": {"num_heads": 2}, "inputs": {"X": [2, 3, 8], "mask": [2, 3, 8]}},
    ],
}


def _rename_key(mapping: dict, old: str, new: str) -> None:
    items = list(mapping.items())
    mapping.clear()
    mapping.update((new if k == old else k, v) for k, v in items)


# (where, how the payload goes in): keys and the strings that stand for keys.
KEY_TARGETS = {
    "moduledict_key": lambda d, p: _rename_key(d["layers"]["heads"]["layers"], "q", p),
    "moduledict_subscript": lambda d, p: d["forward"]["body"][2].update({"return": f"transpose_qkv(self.heads[{p!r}](X), self.num_heads)"}),
    "optional_input_name": lambda d, p: d["forward"]["inputs"][1].update(name=p),
    "function_name_listed": lambda d, p: d.update(functions=[p]),
    "enumerate_index": lambda d, p: d["forward"]["body"][1].update({"for": [p, "blk"]}),
    "example_input_key": lambda d, p: _rename_key(d["examples"][1]["inputs"], "mask", p),
    # A public method's name (also where the example runs it), its input's name, the example's keys for them.
    "public_method_name": lambda d, p: (_rename_key(d["methods"], "init_state", p), _rename_key(d["examples"][0]["methods"], "init_state", p)),
    "method_input_name": lambda d, p: d["methods"]["init_state"]["inputs"][0].update(name=p),
    "example_method_key": lambda d, p: _rename_key(d["examples"][0]["methods"], "init_state", p),
    "example_method_input_key": lambda d, p: _rename_key(d["examples"][0]["methods"]["init_state"], "pair", p),
}


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("target", sorted(KEY_TARGETS))
def test_injection_through_keys_and_new_constructs(target, payload, tmp_path):
    from codegen.__main__ import main

    text = PAYLOADS[payload]
    (tmp_path / "specs").mkdir()
    shutil.copy(SPECS / "transpose_qkv.json", tmp_path / "specs")
    spec = tmp_path / "specs" / "keys.json"
    spec.write_text(json.dumps(KEYS_SPEC, indent=1), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1"]) == 0
    reference = (tmp_path / "out" / "keys.py").read_text(encoding="utf-8")
    for mode in MODES:
        doc = copy.deepcopy(KEYS_SPEC)
        KEY_TARGETS[target](doc, text if mode == "replace" else "q" + text)
        spec.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        before = tree_state(tmp_path)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main([str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1"])
        record = {
            "path": ("keys", target), "value": text, "payload": payload, "mode": mode, "name": "Keys", "code": code,
            "stderr": err.getvalue(), "unchanged": before == tree_state(tmp_path),
            "source": (tmp_path / "out" / "keys.py").read_text(encoding="utf-8") if code == 0 else None,
        }
        assert problems_of(record, "keys", reference) == []
        assert code == 2, f"{target} accepted {text!r}"  # none of these places can hold such text
