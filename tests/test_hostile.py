"""Hostile and broken specs: the threat model, tested.

A spec may come from a pull request. It must never put code of its own into
the output, write outside the output folder, or destroy anyone's work; a
broken spec gets a clear error (the file, the JSON path, a stable code),
exit 2, no traceback, and no file changes.

* ``test_corpus``: one hostile or broken spec (or filesystem trap) per case,
  dropped among the real specs with ``out/`` holding an up-to-date copy of
  ``generated/``; the CLI runs in a subprocess and must exit 2 with the exact
  code, file and JSON path, and leave every file (specs, outputs, anything
  beside them) byte-identical.
* ``test_accepted``: hostile text where it is allowed (docs, $schema, look-alike
  letters) is carried as data: exit 0, and the output holds no code of it.
* Hand edits: refused without ``--force``, reported by ``--check``, never
  pruned; a failing batch writes nothing.
* ``test_mutated_specs``: a bounded, derandomised property test mutating the
  real specs in process: every run ends in a clean exit 2 with nothing
  changed, or in exit 0 with output that parses, passes the AST gate,
  imports, builds from its example and gives the inferred shape. Exit 3 is a
  failure.

The corpus runs a few cases at a time from one fixture (only the selected
cases). The first case of each family of error codes, and each case with
options of its own, runs the real command in a subprocess; the rest call the same
``main`` (with ``-j 1``, building in process) in two long-lived worker
processes, which pay the generator's imports once rather than 300 times.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from codegen import output

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
STEMS = sorted(p.stem for p in SPECS.glob("*.json") if not p.name.endswith(".schema.json"))  # not the schema's copy

PAYLOADS = [
    '"""\nimport os\n"""',
    "\rimport os",
    "'); import os; ('",
    "{{ 7*7 }}",
    "__import__('os').system('x')",
    "X.__class__",
    "(lambda: 1)()",
    "[x for x in X]",
    "getattr(X, 'abs')",
    "self.__dict__",
    "open('f')",
    "torch.load('x')",
    "nn.Module",
]
NAMES = ["class", "match", "self", "forward", "training", "to", "torch", "F", "nn", "super", "__init__", "X"]
ERROR_LINE = re.compile(r"^error: (?P<file>.+?): (?:(?P<path>\S+): )?(?P<code>E\d{3}) (?P<message>.*)$")
# Codes whose JSON path may name a key that is missing (the place where it belongs).
MISSING_OK = {"E202", "E322", "E403", "E405"}


# ---------------------------------------------------------------------------- helpers


def cli(work: Path, *args: str, specs: str = "specs/", out: str = "out") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "codegen", specs, "-o", out, *args],
        cwd=work, env=env, capture_output=True, encoding="utf-8", errors="replace", timeout=120,
    )


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``, by relative name: files with their bytes and mode, links with their target."""
    found: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes(), path.stat().st_mode)
    return found


def changed(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def make_work(baseline: Path, dest: Path) -> Path:
    shutil.copytree(baseline / "specs", dest / "specs", symlinks=True)
    shutil.copytree(baseline / "out", dest / "out", symlinks=True)
    return dest


def error_lines(stderr: str) -> list[re.Match]:
    """Every stderr line, parsed; a line that is not ``error: FILE: [PATH: ]CODE message`` fails."""
    parsed = []
    for line in stderr.splitlines():
        match = ERROR_LINE.match(line)
        assert match, f"stderr line is not a clear error: {line!r}\n{stderr}"
        parsed.append(match)
    return parsed


def resolve(doc: Any, path: str) -> bool:
    """Does the JSON path ``layers.net.layers[2].args`` name something in ``doc``?"""
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if key and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif index and isinstance(doc, list) and int(index) < len(doc):
            doc = doc[int(index)]
        else:
            return False
    return True


def assert_paths_exist(lines: list[re.Match], work: Path) -> None:
    """An error's JSON path must exist in the spec it names (or its parent, for a missing key)."""
    for line in lines:
        file, path, code = line["file"], line["path"], line["code"]
        spec = work / file
        if not path or not file.endswith(".json") or not spec.is_file() or spec.is_symlink():
            continue
        try:
            doc = json.loads(spec.read_bytes())
        except ValueError:
            continue
        parent = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
        ok = resolve(doc, path) or (code in MISSING_OK and resolve(doc, parent))
        assert ok, f"{file}: {path} does not exist in that spec: {line.group(0)}"


def set_at(doc: Any, path: list, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def get_at(doc: Any, path: list) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def rename_key(mapping: dict, old: str, new: str) -> None:
    """Rename a key in place, keeping the order of the others."""
    items = list(mapping.items())
    mapping.clear()
    for key, value in items:
        mapping[new if key == old else key] = value


def dump(doc: Any) -> str:
    return json.dumps(doc, indent=1)  # ASCII with \u escapes: a lone surrogate survives the trip


# ---------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    file: str  # as the error line names it
    path: str  # the JSON path the error line names; "" for the whole file
    fragment: str  # a key part of the message
    setup: Callable[[Path], None]
    also: frozenset = frozenset()  # codes the same run may report as consequences
    args: tuple = ()
    out: str = "out"


def edit(stem: str, *changes: Callable[[Any], Any]) -> Callable[[Path], None]:
    """Load specs/<stem>.json, apply ``changes`` in order, write it back."""

    def setup(work: Path) -> None:
        path = work / "specs" / f"{stem}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for change in changes:
            result = change(doc)
            doc = doc if result is None else result
        path.write_text(dump(doc), encoding="utf-8")

    return setup


def put(path: list, value: Any) -> Callable[[Any], None]:
    return lambda doc: set_at(doc, path, value)


def rename(path: list, old: str, new: str) -> Callable[[Any], None]:
    return lambda doc: rename_key(get_at(doc, path), old, new)


def delete(path: list) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        del get_at(doc, path[:-1])[path[-1]]

    return change


def raw(name: str, make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Write specs/<name> as ``make(bytes of the real mlp.json)``."""

    def setup(work: Path) -> None:
        (work / "specs" / name).write_bytes(make((SPECS / "mlp.json").read_bytes()))

    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        for step in setups:
            step(work)

    return setup


def nested_sequentials(depth: int) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        layer: dict = {"type": "Linear", "args": {"in_features": 20, "out_features": 256}}
        for _ in range(depth):
            layer = {"type": "Sequential", "layers": [layer]}
        doc["layers"]["hidden"] = layer

    return change


def trailing_comma_case() -> Case:
    text = (SPECS / "mlp.json").read_text(encoding="utf-8")
    anchor = '"output": [2, 10]}'
    assert anchor in text
    bad = text.replace(anchor, '"output": [2, 10],}')
    index = bad.index('"output": [2, 10],}') + len('"output": [2, 10],')
    line, column = bad.count("\n", 0, index) + 1, index - bad.rfind("\n", 0, index)
    return Case("trailing_comma", "E103", "specs/mlp.json", "", f"malformed JSON at line {line}, column {column}",
                raw("mlp.json", lambda _: bad.encode()))


def non_utf8_case() -> Case:
    data = (SPECS / "mlp.json").read_bytes()
    offset = data.index(b"multilayer") + len(b"multi")
    return Case("non_utf8", "E101", "specs/mlp.json", "", f"byte 0xff at offset {offset}",
                raw("mlp.json", lambda d: d.replace(b"multilayer", b"multi\xfflayer")))


def outside_symlink(work: Path) -> None:
    (work / "outside.py").write_bytes(b"# someone's precious file\n")
    (work / "out" / "mlp.py").unlink()
    (work / "out" / "mlp.py").symlink_to(work / "outside.py")


def inside_symlink(work: Path) -> None:
    (work / "out" / "mlp.py").unlink()
    (work / "out" / "mlp.py").symlink_to("nin.py")


def symlinked_out(work: Path) -> None:
    (work / "out").rename(work / "real_out")
    (work / "out_link").symlink_to("real_out")


def folder_at_target(work: Path) -> None:
    (work / "out" / "mlp.py").unlink()
    (work / "out" / "mlp.py").mkdir()
    (work / "out" / "mlp.py" / "notes.txt").write_text("kept\n")


def spec_symlink(work: Path) -> None:
    (work / "elsewhere.json").write_bytes((SPECS / "mlp.json").read_bytes().replace(b'"MLP"', b'"Elsewhere"'))
    (work / "specs" / "zz.json").symlink_to(work / "elsewhere.json")


def output_is_file(work: Path) -> None:
    (work / "plain.txt").write_text("not a folder\n")


MLP = "specs/mlp.json"
REG = "specs/regnetx32.json"
REG_CHILD = ["layers", "net", "layers"]  # 0: the stem, 1 and 2: the stages (named), 3: the head (named)
MYL = "specs/my_linear.json"
W_INIT = ["parameters", "weight", "init"]
FIXED = "specs/fixed_hidden_mlp.json"  # forward: X = linear(X); X = relu(mm(X, rand_weight) + 1); X = linear(X); while; return
STACKED = "specs/stacked_rnn_scratch.json"  # one RNNScratch per layer, a list of states Hs
DECODER = "specs/seq2seq_decoder.json"  # init_state, a pair state, context.repeat(...)


def insert_statement(index: int, statement: dict) -> Callable[[Any], None]:
    return lambda doc: doc["forward"]["body"].insert(index, statement)
FWD = ["forward", "body", 0, "return"]
BODY = ["forward", "body"]


def item_body(target: str, value: str = "1.0") -> list:
    """mlp's forward with ``target = value`` (a subscript assignment) first."""
    return [{"assign": target, "value": value}, {"return": "self.out(F.relu(self.hidden(X)))"}]


OUT_FEATURES = ["layers", "hidden", "args", "out_features"]
E305 = frozenset({"E305"})

CORPUS = [
    # -- injection through names ------------------------------------------------------------
    Case("class_name_payload", "E204", MLP, "name", "is not a valid name", edit("mlp", put(["name"], PAYLOADS[0]))),
    Case("class_name_F", "E310", MLP, "name", "class name 'F' is reserved", edit("mlp", put(["name"], "F"))),
    Case("class_name_torch_layer", "E312", MLP, "name", "'Linear' is a torch.nn layer", edit("mlp", put(["name"], "Linear"))),
    Case("layer_name_payload", "E204", MLP, "layers", "\"x'); import os; ('\" is not a valid name",
         edit("mlp", rename(["layers"], "hidden", "x'); import os; ('"))),
    Case("layer_name_class", "E310", MLP, "layers.class", "member 'class' is a Python keyword",
         edit("mlp", rename(["layers"], "hidden", "class")), E305),
    Case("layer_name_match_soft_keyword", "E310", MLP, "layers.match", "member 'match' is a Python keyword",
         edit("mlp", rename(["layers"], "hidden", "match")), E305),
    Case("layer_name_forward", "E310", MLP, "layers.forward", "member 'forward' is reserved",
         edit("mlp", rename(["layers"], "hidden", "forward")), E305),
    Case("layer_name_training", "E310", MLP, "layers.training", "member 'training' is reserved",
         edit("mlp", rename(["layers"], "hidden", "training")), E305),
    Case("layer_name_to", "E310", MLP, "layers.to", "member 'to' is reserved", edit("mlp", rename(["layers"], "hidden", "to")), E305),
    Case("layer_name_dunder", "E310", MLP, "layers.__dict__", "member '__dict__' is reserved",
         edit("mlp", rename(["layers"], "hidden", "__dict__")), E305),
    Case("parameter_name_self", "E310", "specs/my_linear.json", "parameters.self", "member 'self' is reserved",
         edit("my_linear", rename(["parameters"], "weight", "self")), E305),
    Case("buffer_name_torch", "E310", "specs/fixed_hidden_mlp.json", "buffers.torch", "buffer 'torch' is reserved",
         edit("fixed_hidden_mlp", rename(["buffers"], "rand_weight", "torch")), E305),
    Case("buffer_name_payload", "E204", "specs/fixed_hidden_mlp.json", "buffers", "'\\rimport os' is not a valid name",
         edit("fixed_hidden_mlp", rename(["buffers"], "rand_weight", "\rimport os"))),
    Case("arg_name_F", "E310", "specs/my_linear.json", "args.F", "argument 'F' is reserved",
         edit("my_linear", rename(["args"], "units", "F")), frozenset({"E303", "E405"})),
    Case("arg_name_payload", "E204", "specs/my_linear.json", "args", "'{{ 7*7 }}' is not a valid name",
         edit("my_linear", rename(["args"], "units", "{{ 7*7 }}"))),
    Case("input_name_self", "E310", MLP, "forward.inputs[0]", "input 'self' is reserved",
         edit("mlp", put(["forward", "inputs"], ["self"])), frozenset({"E303", "E405"})),
    Case("input_name_payload", "E204", MLP, "forward.inputs[0]", "'\\rimport os' is not a valid name",
         edit("mlp", put(["forward", "inputs"], ["\rimport os"]))),
    Case("assign_target_payload", "E204", "specs/my_linear.json", "forward.body[0].assign", "is not a valid name",
         edit("my_linear", put(["forward", "body", 0, "assign"], "x'); import os; ('"))),
    Case("assign_target_dunder", "E310", "specs/my_linear.json", "forward.body[0].assign", "variable '__class__' is reserved",
         edit("my_linear", put(["forward", "body", 0, "assign"], "__class__")), frozenset({"E303"})),
    Case("assign_targets_torch", "E310", "specs/my_linear.json", "forward.body[0].assign", "variable 'torch' is reserved",
         edit("my_linear", put(["forward", "body", 0, "assign"], ["linear", "torch"])), frozenset({"E401"})),
    Case("repeat_variable_class", "E310", "specs/vgg_block.json", "sequential[0].for", "loop variable 'class' is a Python keyword",
         edit("vgg_block", put(["sequential", 0, "for"], "class"))),
    Case("repeat_variable_payload", "E204", "specs/vgg_block.json", "sequential[0].for", "'i; import os' is not a valid name",
         edit("vgg_block", put(["sequential", 0, "for"], "i; import os"))),
    Case("forward_loop_variable_match", "E310", "specs/my_sequential.json", "forward.body[0].for", "loop variable 'match' is a Python keyword",
         edit("my_sequential", put(["forward", "body", 0, "for"], "match"))),
    # -- names that read like 1 and 0 (l, O, I): ruff's E741 would flag the generated code --
    Case("assign_target_ambiguous_l", "E319", "specs/my_linear.json", "forward.body[0].assign", "variable 'l' is ambiguous",
         edit("my_linear", put(["forward", "body", 0, "assign"], "l")), frozenset({"E303"})),
    Case("input_name_ambiguous_I", "E319", MLP, "forward.inputs[0]", "input 'I' is ambiguous",
         edit("mlp", put(["forward", "inputs"], ["I"])), frozenset({"E303", "E405"})),
    Case("arg_name_ambiguous_O", "E319", "specs/my_linear.json", "args.O", "argument 'O' is ambiguous",
         edit("my_linear", rename(["args"], "units", "O")), frozenset({"E303", "E405"})),
    Case("repeat_variable_ambiguous_I", "E319", "specs/vgg_block.json", "sequential[0].for", "loop variable 'I' is ambiguous",
         edit("vgg_block", put(["sequential", 0, "for"], "I")), frozenset({"E303"})),
    Case("forward_loop_variable_ambiguous_l", "E319", "specs/my_sequential.json", "forward.body[0].for", "loop variable 'l' is ambiguous",
         edit("my_sequential", put(["forward", "body", 0, "for"], "l")), frozenset({"E303"})),
    # A buffer is annotated in the class body (`l: torch.Tensor`), where E741 reads it as a variable.
    Case("buffer_name_ambiguous_l", "E319", "specs/fixed_hidden_mlp.json", "buffers.l", "buffer 'l' is ambiguous",
         edit("fixed_hidden_mlp", rename(["buffers"], "rand_weight", "l")), frozenset({"E305"})),
    Case("layer_type_dotted", "E204", MLP, "layers.hidden.type", "'nn.Module' is not a valid name",
         edit("mlp", put(["layers", "hidden", "type"], "nn.Module"))),
    Case("layer_type_module", "E320", MLP, "layers.hidden.type", "unknown layer type 'Module' (did you mean 'ModuleList'?)",
         edit("mlp", put(["layers", "hidden", "type"], "Module"))),
    Case("layer_type_payload", "E204", MLP, "layers.hidden.type", "is not a valid name",
         edit("mlp", put(["layers", "hidden", "type"], "Linear'); import os; ('"))),
    # -- injection through constructor arithmetic (layer args, shapes, if, repeat in) ---------
    Case("kwarg_import", "E304", MLP, "layers.hidden.args.out_features", "is not allowed in constructor arithmetic",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[4]))),
    Case("kwarg_quote_escape", "E323", MLP, "layers.hidden.args.out_features", "out_features must be an int, found '); import os; ('",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[2]))),
    Case("kwarg_template", "E302", MLP, "layers.hidden.args.out_features", "Set is not allowed in an expression",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[3]))),
    Case("kwarg_carriage_return", "E301", MLP, "layers.hidden.args.out_features", "not a valid expression: '\\rimport os'",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[1]))),
    Case("kwarg_triple_quotes", "E302", MLP, "layers.hidden.args.out_features", "string literals must be short and printable",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[0]))),
    Case("kwarg_lambda", "E304", MLP, "layers.hidden.args.out_features", "call of 'lambda: 1' is not allowed in constructor arithmetic",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[6]))),
    Case("kwarg_comprehension", "E302", MLP, "layers.hidden.args.out_features", "ListComp is not allowed",
         edit("mlp", put(OUT_FEATURES, PAYLOADS[7]))),
    Case("shape_dunder", "E302", "specs/my_linear.json", "parameters.weight.shape[0]", "private attribute '__class__' is not allowed",
         edit("my_linear", put(["parameters", "weight", "shape", 0], "in_units.__class__"))),
    Case("layer_if_import", "E304", "specs/residual.json", "layers.conv3.if", "call of '__import__' is not allowed",
         edit("residual", put(["layers", "conv3", "if"], "use_1x1conv or __import__('os')"))),
    Case("repeat_in_escape", "E301", "specs/vgg_block.json", "sequential[0].in", "not a valid expression",
         edit("vgg_block", put(["sequential", 0, "in"], "range(num_convs)); import os; (("))),
    Case("repeat_in_open", "E304", "specs/vgg_block.json", "sequential[0].in", "call of 'open' is not allowed",
         edit("vgg_block", put(["sequential", 0, "in"], "open('x')"))),
    # -- injection through forward expressions ---------------------------------------------------
    Case("forward_import", "E302", MLP, "forward.body[0].return", "literal 'x' is not allowed here", edit("mlp", put(FWD, PAYLOADS[4]))),
    Case("forward_dunder_class", "E302", MLP, "forward.body[0].return", "private attribute '__class__'", edit("mlp", put(FWD, PAYLOADS[5]))),
    Case("forward_lambda", "E302", MLP, "forward.body[0].return", "call of 'lambda: 1' is not allowed", edit("mlp", put(FWD, PAYLOADS[6]))),
    Case("forward_comprehension", "E302", MLP, "forward.body[0].return", "ListComp is not allowed", edit("mlp", put(FWD, PAYLOADS[7]))),
    Case("forward_getattr", "E302", MLP, "forward.body[0].return", "literal 'abs' is not allowed here", edit("mlp", put(FWD, PAYLOADS[8]))),
    Case("forward_getattr_name", "E303", MLP, "forward.body[0].return", "unknown name 'getattr'", edit("mlp", put(FWD, "getattr(X, X)"))),
    Case("forward_self_dict", "E302", MLP, "forward.body[0].return", "private attribute '__dict__'", edit("mlp", put(FWD, PAYLOADS[9]))),
    Case("forward_open_literal", "E302", MLP, "forward.body[0].return", "literal 'f' is not allowed here", edit("mlp", put(FWD, PAYLOADS[10]))),
    Case("forward_open", "E303", MLP, "forward.body[0].return", "unknown name 'open'", edit("mlp", put(FWD, "open(X)"))),
    Case("forward_torch_load_literal", "E302", MLP, "forward.body[0].return", "literal 'x' is not allowed here", edit("mlp", put(FWD, PAYLOADS[11]))),
    Case("forward_torch_load", "E304", MLP, "forward.body[0].return", "unknown function torch.load", edit("mlp", put(FWD, "torch.load(X)"))),
    Case("forward_unknown_member", "E305", MLP, "forward.body[0].return", "unknown member self.hiden (did you mean 'hidden'?)",
         edit("mlp", put(FWD, "self.out(F.relu(self.hiden(X)))"))),
    Case("forward_walrus", "E302", MLP, "forward.body[0].return", "NamedExpr is not allowed", edit("mlp", put(FWD, "(y := X)"))),
    Case("forward_fstring", "E302", MLP, "forward.body[0].return", "JoinedStr is not allowed", edit("mlp", put(FWD, "f'{X}'"))),
    Case("forward_cyrillic_lookalike", "E303", MLP, "forward.body[0].return", "unknown name '\u0425'",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(\u0425)))"))),
    # A lone surrogate has no UTF-8: refused when the spec is loaded, wherever it is (issue 13).
    Case("forward_lone_surrogate", "E101", MLP, "forward.body[0].return", "lone surrogate",
         raw("mlp.json", lambda d: d.replace(b"self.out(F.relu", b"self.out(\\ud800 + F.relu"))),
    Case("doc_lone_surrogate", "E101", MLP, "doc", "lone surrogate", raw("mlp.json", lambda d: d.replace(b'"doc": "', b'"doc": "\\udc00', 1))),
    Case("forward_if_import", "E302", "specs/residual.json", "forward.body[2].if", "literal 'os' is not allowed here",
         edit("residual", put(["forward", "body", 2, "if"], "__import__('os')"))),
    Case("forward_while_open", "E303", "specs/fixed_hidden_mlp.json", "forward.body[3].while", "unknown name 'open'",
         edit("fixed_hidden_mlp", put(["forward", "body", 3, "while"], "open(X)"))),
    Case("unicode_lookalike_member", "E204", MLP, "layers", "is not a valid name",
         edit("mlp", rename(["layers"], "hidden", "hidd\u0435n"))),  # Cyrillic 'е'
    # -- injection through subscripts, subscript assignment, masks, dtypes and math ---------------------
    Case("item_target_statement", "E301", MLP, "forward.body[0].assign", "not a valid expression: 'X[0]; import os'",
         edit("mlp", put(BODY, item_body("X[0]; import os")))),
    Case("item_target_newline", "E301", MLP, "forward.body[0].assign", "not a valid expression: 'X[0]\\nimport os'",
         edit("mlp", put(BODY, item_body("X[0]\nimport os")))),
    Case("item_target_import", "E302", MLP, "forward.body[0].assign", "literal 'os' is not allowed here",
         edit("mlp", put(BODY, item_body("X[__import__('os')]")))),
    # A string subscript in forward is read as a ModuleDict key (merged construct): checked as an identifier first.
    Case("item_target_triple_quotes", "E310", MLP, "forward.body[0].assign", "'\\nimport os\\n' is not an ASCII Python identifier",
         edit("mlp", put(BODY, item_body('X["""\nimport os\n"""]')))),
    Case("item_target_dunder", "E302", MLP, "forward.body[0].assign", "private attribute '__class__' is not allowed",
         edit("mlp", put(BODY, item_body("X[0].__class__")))),
    Case("item_target_self", "E303", MLP, "forward.body[0].assign", "unknown name 'self'", edit("mlp", put(BODY, item_body("self[0]")))),
    Case("item_target_member", "E204", MLP, "forward.body[0].assign", "'self.hidden[0]' is not a valid name",
         edit("mlp", put(BODY, item_body("self.hidden[0]")))),
    Case("item_target_twice", "E315", MLP, "forward.body[0].assign", "a local variable indexed once, as in X[mask], found 'X[0][0]'",
         edit("mlp", put(BODY, item_body("X[0][0]")))),
    Case("item_value_import", "E302", MLP, "forward.body[0].value", "literal 'os' is not allowed here",
         edit("mlp", put(BODY, item_body("X[0]", "__import__('os')")))),
    Case("item_float_index", "E401", MLP, "forward.body[0]", "expected index tensors of dtype long or bool",
         edit("mlp", put(BODY, item_body("X[X[0]]")))),
    Case("slice_lambda", "E302", MLP, "forward.body[0].return", "Lambda is not allowed", edit("mlp", put(FWD, "X[lambda: 0]"))),
    Case("slice_dunder_method", "E304", MLP, "forward.body[0].return", "unknown tensor method .__len__()",
         edit("mlp", put(FWD, "X[:, X.__len__()]"))),
    Case("ellipsis_template", "E302", MLP, "forward.body[0].return", "literal '{{ 7*7 }}' is not allowed here",
         edit("mlp", put(FWD, "X[..., '{{ 7*7 }}']"))),
    Case("torch_builtins", "E302", MLP, "forward.body[0].return", "private attribute '__builtins__'",
         edit("mlp", put(FWD, "X.to(torch.__builtins__)"))),
    Case("torch_load_as_dtype", "E303", MLP, "forward.body[0].return", "unknown name torch.load", edit("mlp", put(FWD, "X.to(torch.load)"))),
    Case("math_loader", "E302", MLP, "forward.body[0].return", "private attribute '__loader__'", edit("mlp", put(FWD, "X * math.__loader__"))),
    Case("math_system", "E304", MLP, "forward.body[0].return", "unknown function math.system", edit("mlp", put(FWD, "math.system(X)"))),
    Case("T_dunder", "E302", MLP, "forward.body[0].return", "private attribute '__class__'", edit("mlp", put(FWD, "X.T.__class__"))),
    # A string in forward only as a keyword's value or compared (== / !=) with a name or self.<attribute>.
    Case("forward_string_operand", "E302", MLP, "forward.body[0].return", "literal 'a' is not allowed here",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))) * len('a')"))),
    Case("forward_string_compared_with_a_call", "E302", MLP, "forward.body[0].return", "literal 'a' is not allowed here",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))) if X.sum() == 'a' else X"))),
    Case("forward_string_keyword_too_long", "E302", MLP, "forward.body[0].return", "string literals must be short and printable",
         edit("mlp", put(FWD, "self.out(F.gelu(self.hidden(X), approximate='" + "x" * 65 + "'))"))),
    Case("forward_string_keyword_newline", "E302", MLP, "forward.body[0].return", "string literals must be short and printable",
         edit("mlp", put(FWD, "self.out(F.gelu(self.hidden(X), approximate='\\nimport os'))"))),
    Case("forward_string_keyword_not_a_choice", "E323", MLP, "forward.body[0].return", "F.gelu's approximate must be 'none' or 'tanh', found 'fast'",
         edit("mlp", put(FWD, "self.out(F.gelu(self.hidden(X), approximate='fast'))"))),
    # nanoGPT's attention: x.split and F.scaled_dot_product_attention, checked statically.
    Case("split_sizes_do_not_sum", "E401", "specs/causal_self_attention.json", "forward.body[1]", "expected split sizes that sum to 48",
         edit("causal_self_attention", put(["forward", "body", 1, "value"], "self.c_attn(x).split((16, 16, 8), dim=2)"))),
    Case("split_into_too_many", "E401", "specs/causal_self_attention.json", "forward.body[1]", "",
         edit("causal_self_attention", put(["forward", "body", 1, "value"], "self.c_attn(x).split(self.n_embd // 2, dim=2)"))),
    Case("split_returned_whole", "E401", "specs/causal_self_attention.json", "forward.body", "returns the chunks of .split(), whose number depends on the input",
         edit("causal_self_attention", put(["forward", "body", 8, "return"], "self.c_attn(x).split(self.n_embd, dim=2)"))),
    Case("split_times_two", "E401", "specs/causal_self_attention.json", "forward.body[8].return", "a tuple of tensors is not a tensor",
         edit("causal_self_attention", put(["forward", "body", 8, "return"], "self.c_attn(x).split(self.n_embd, dim=2) * 2"))),
    Case("sdpa_mask_and_causal", "E401", "specs/causal_self_attention.json", "forward.body[5]", "attn_mask=None with is_causal=True",
         edit("causal_self_attention", put(["forward", "body", 5, "value"], "F.scaled_dot_product_attention(q, k, v, attn_mask=q[..., 0] > 0, is_causal=True)"))),
    # Sizes are ints however they are given (x.flip(0.5) and x.flip(dims='a') reached torch, or exit 3).
    Case("sizes_float", "E323", MLP, "forward.body[0].return", "Tensor.flip's dims must be a tuple of ints, found (0.5,)",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))).flip(0.5)"))),
    Case("sizes_by_keyword_string", "E323", MLP, "forward.body[0].return", "Tensor.flip's dims must be a tuple of ints, found 'a'",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))).flip(dims='a')"))),
    Case("sizes_by_keyword_int", "E323", MLP, "forward.body[0].return", "Tensor.permute's dims must be a tuple of ints, found 1",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))).permute(dims=1)"))),
    Case("device_called", "E302", MLP, "forward.body[0].return", "literal 'cuda' is not allowed here", edit("mlp", put(FWD, "X.device('cuda')"))),
    Case("invert_float", "E401", MLP, "forward.body[0].return", "expected a bool tensor for ~", edit("mlp", put(FWD, "self.out(F.relu(self.hidden(~X)))"))),
    Case("bitor_dict", "E302", MLP, "forward.body[0].return", "Dict is not allowed", edit("mlp", put(FWD, "X | {}"))),
    Case("mask_read", "E401", MLP, "forward.body[0].return", "expected no bool mask when reading", edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X[X > 0])))"))),
    Case("len_getattr", "E302", MLP, "forward.body[0].return", "literal 'shape' is not allowed here", edit("mlp", put(FWD, "X * len(getattr(X, 'shape'))"))),
    Case("init_round_import", "E304", MLP, "layers.hidden.args.out_features", "call of '__import__' is not allowed in constructor arithmetic",
         edit("mlp", put(OUT_FEATURES, "round(__import__('os'))"))),
    Case("init_math_dict", "E302", MLP, "layers.hidden.args.out_features", "private attribute '__dict__'", edit("mlp", put(OUT_FEATURES, "math.__dict__"))),
    Case("init_int_payload", "E306", MLP, "layers.hidden.args.out_features", "int() takes numbers here",
         edit("mlp", put(OUT_FEATURES, "int('); import os; (')"))),
    Case("init_invert", "E302", MLP, "layers.hidden.args.out_features", "~ is only allowed in forward", edit("mlp", put(OUT_FEATURES, "~256"))),
    Case("init_torch_dtype", "E302", MLP, "layers.hidden.args.out_features", "attribute .long is not allowed here", edit("mlp", put(OUT_FEATURES, "torch.long"))),
    # -- numbers ------------------------------------------------------------------------------------
    Case("json_1e400", "E105", MLP, "layers.hidden.args.out_features", "inf is not a finite number",
         raw("mlp.json", lambda d: d.replace(b'"out_features": 256', b'"out_features": 1e400'))),
    Case("json_nan", "E105", MLP, "", "NaN is not valid JSON", raw("mlp.json", lambda d: d.replace(b'"out_features": 256', b'"out_features": NaN'))),
    Case("json_minus_infinity", "E105", MLP, "", "-Infinity is not valid JSON",
         raw("mlp.json", lambda d: d.replace(b'"out_features": 256', b'"out_features": -Infinity'))),
    Case("json_30_digits", "E105", MLP, "", "integer 12345678901234567890... is too large",
         raw("mlp.json", lambda d: d.replace(b'"out_features": 256', b'"out_features": 123456789012345678901234567890'))),
    Case("expression_30_digits", "E324", MLP, "layers.hidden.args.out_features", "123456789012345678901234567890 is out of range",
         edit("mlp", put(OUT_FEATURES, "123456789012345678901234567890"))),
    Case("expression_10_pow_100", "E324", MLP, "layers.hidden.args.out_features", "exponent 100 is too large",
         edit("mlp", put(OUT_FEATURES, "10**100"))),
    Case("expression_2_pow_64_pow_64", "E324", MLP, "layers.hidden.args.out_features", "is out of range (at most 2147483648",
         edit("mlp", put(OUT_FEATURES, "2**64**64"))),
    Case("negative_out_features", "E324", MLP, "layers.hidden.args.out_features", "out_features must be at least 1, found -5",
         edit("mlp", put(OUT_FEATURES, -5))),
    Case("float_dimension", "E203", MLP, "example.inputs.X[0]", "2.0 is not of type 'integer'",
         edit("mlp", put(["example", "inputs", "X"], [2.0, 20]))),
    Case("zero_dimension", "E200", MLP, "example.inputs.X[0]", "0 is less than the minimum of 1",
         edit("mlp", put(["example", "inputs", "X"], [0, 20]))),
    Case("max_iterations_zero", "E200", "specs/fixed_hidden_mlp.json", "forward.body[3].max_iterations", "less than the minimum of 1",
         edit("fixed_hidden_mlp", put(["forward", "body", 3, "max_iterations"], 0))),
    Case("division_by_zero", "E306", "specs/my_linear.json", "parameters.weight.shape[0]", "integer division or modulo by zero",
         edit("my_linear", put(["parameters", "weight", "shape", 0], "in_units // 0"))),
    # -- nesting -------------------------------------------------------------------------------------
    Case("json_nested_1000", "E105", MLP, "", "maximum recursion depth exceeded",
         raw("mlp.json", lambda d: b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}")),
    Case("sequentials_nested_100", "E106", MLP, "", "nesting deeper than 32 levels", edit("mlp", nested_sequentials(100))),
    Case("expression_nested_unary", "E301", MLP, "layers.hidden.args.out_features", "nested more than 50 levels deep",
         edit("mlp", put(OUT_FEATURES, "-" * 998 + "1"))),
    Case("expression_nested_sum", "E301", MLP, "forward.body[0].return", "nested more than 50 levels deep",
         edit("mlp", put(FWD, "X+" * 499 + "X"))),
    # -- between specs -------------------------------------------------------------------------------
    Case("cycle_between_specs", "E330", "specs/nest_mlp.json", "layers", "blocks use each other in a cycle: NestMLP -> MLP -> NestMLP",
         both(edit("mlp", lambda d: d["layers"].update(loop={"type": "NestMLP"})),
              edit("nest_mlp", lambda d: d["layers"].update(loop={"type": "MLP"})))),
    Case("cycle_self", "E330", MLP, "layers", "cycle: MLP -> MLP", edit("mlp", lambda d: d["layers"].update(loop={"type": "MLP"}))),
    Case("duplicate_class_name", "E331", "specs/mlp2.json", "name", "class 'MLP' is also defined by specs/mlp.json",
         raw("mlp2.json", lambda d: d)),
    Case("duplicate_member_layer_parameter", "E311", "specs/my_linear.json", "layers.weight", "member 'weight' is already declared at parameters.weight",
         edit("my_linear", lambda d: d.setdefault("layers", {}).update(weight={"type": "ReLU"}))),
    Case("duplicate_member_parameter_buffer", "E311", "specs/my_linear.json", "buffers.bias", "member 'bias' is already declared at parameters.bias",
         edit("my_linear", lambda d: d.setdefault("buffers", {}).update(bias={"shape": [3], "init": "zeros"}))),
    Case("local_shadows_member", "E311", MLP, "forward", "local name 'hidden' is also a member",
         edit("mlp", put(["forward", "inputs"], ["hidden"])), frozenset({"E303", "E405"})),
    # -- JSON ------------------------------------------------------------------------------------------
    Case("empty_file", "E100", MLP, "", "the file is empty", raw("mlp.json", lambda d: b"")),
    Case("whitespace_file", "E100", MLP, "", "the file is empty", raw("mlp.json", lambda d: b" \n\t\n")),
    Case("too_large_file", "E100", MLP, "", "larger than 1000000 bytes",
         raw("mlp.json", lambda d: d.replace(b'"A multilayer', b'"' + b"a" * 1_000_001 + b" multilayer"))),
    non_utf8_case(),
    Case("utf16", "E101", MLP, "", "byte 0xff at offset 0", raw("mlp.json", lambda d: d.decode().encode("utf-16"))),
    Case("byte_order_mark", "E102", MLP, "", "byte order mark", raw("mlp.json", lambda d: b"\xef\xbb\xbf" + d)),
    trailing_comma_case(),
    Case("nul_byte", "E103", MLP, "", "Invalid control character", raw("mlp.json", lambda d: d.replace(b"multilayer", b"multi\x00layer"))),
    Case("duplicate_key", "E104", MLP, "", "duplicate key 'name' (as a key on lines 3, 4)",
         raw("mlp.json", lambda d: d.replace(b'"name": "MLP",\n', b'"name": "MLP",\n  "name": "Evil",\n'))),
    Case("duplicate_key_nested", "E104", MLP, "", "duplicate key 'out_features'",
         raw("mlp.json", lambda d: d.replace(b'"out_features": 256}', b'"out_features": 256, "out_features": 1}'))),
    Case("top_level_array", "E203", MLP, "", "is not of type 'object'", raw("mlp.json", lambda d: b"[1, 2]")),
    # -- schema ----------------------------------------------------------------------------------------
    Case("unknown_key_top", "E201", MLP, "", "unknown key 'layer' (did you mean 'layers'?)", edit("mlp", lambda d: d.update(layer={}))),
    Case("unknown_key_layer", "E201", MLP, "layers.hidden", "unknown key 'arg' (did you mean 'args'?)",
         edit("mlp", lambda d: d["layers"]["hidden"].update(arg={}))),
    Case("unknown_key_forward", "E201", MLP, "forward", "unknown key 'input' (did you mean 'inputs'?)",
         edit("mlp", lambda d: d["forward"].update(input=["X"]))),
    Case("unknown_key_example", "E201", MLP, "example", "unknown key 'outputs' (did you mean 'output'?)",
         edit("mlp", lambda d: d["example"].update(outputs=[2, 10]))),
    Case("unknown_key_tensor", "E201", "specs/my_linear.json", "parameters.weight", "unknown key 'inits' (did you mean 'init'?)",
         edit("my_linear", lambda d: d["parameters"]["weight"].update(inits="rand"))),
    Case("unknown_key_statement", "E201", MLP, "forward.body[0]", "unknown key 'retrun' (did you mean 'return'?); allowed: return",
         edit("mlp", lambda d: d["forward"]["body"][0].update(retrun="X"))),
    Case("unknown_key_repeat", "E201", "specs/vgg_block.json", "sequential[0]", "unknown key 'fro' (did you mean 'for'?)",
         edit("vgg_block", lambda d: d["sequential"][0].update(fro="j"))),
    Case("unknown_key_nested_child", "E201", "specs/nest_mlp.json", "layers.net.layers[0]", "unknown key 'arg' (did you mean 'args'?)",
         edit("nest_mlp", lambda d: d["layers"]["net"]["layers"][0].update(arg={}))),
    Case("missing_forward", "E202", MLP, "", "'forward' is a required property", edit("mlp", delete(["forward"]))),
    Case("missing_layer_type", "E202", MLP, "layers.hidden", "'type' is a required property", edit("mlp", delete(["layers", "hidden", "type"]))),
    Case("missing_tensor_init", "E202", "specs/my_linear.json", "parameters.weight", "'init' is a required property",
         edit("my_linear", delete(["parameters", "weight", "init"]))),
    Case("missing_repeat_in", "E202", "specs/vgg_block.json", "sequential[0]", "'in' is a required property",
         edit("vgg_block", delete(["sequential", 0, "in"]))),
    Case("wrong_type_doc", "E203", MLP, "doc", "5 is not of type 'string'", edit("mlp", put(["doc"], 5))),
    Case("wrong_type_layers", "E203", MLP, "layers", "[] is not of type 'object'", edit("mlp", put(["layers"], []))),
    Case("wrong_type_inputs", "E203", MLP, "forward.inputs", "'X' is not of type 'array'", edit("mlp", put(["forward", "inputs"], "X"))),
    Case("wrong_type_return", "E203", MLP, "forward.body[0].return", "5 is not of type 'string'", edit("mlp", put(FWD, 5))),
    Case("init_import", "E340", "specs/my_linear.json", "parameters.weight.init", "unknown init '__import__'",
         edit("my_linear", put(["parameters", "weight", "init"], "__import__('os')"))),
    Case("enum_op", "E205", "specs/residual.json", "forward.body[3].op", "'+= 1; import os' is not one of",
         edit("residual", put(["forward", "body", 3, "op"], "+= 1; import os"))),
    Case("doc_too_long", "E200", MLP, "doc", "is too long (maxLength 10000)", edit("mlp", put(["doc"], "a" * 10_001))),
    # -- analysis -----------------------------------------------------------------------------------------
    Case("variadic_misuse", "E313", "specs/my_linear.json", "args.units", "only a variadic argument may have type nn.Module",
         edit("my_linear", put(["args", "units", "type"], "nn.Module")), frozenset({"E303", "E405"})),
    # A direct child of a block's own Sequential may have 'if' (issue 14); one level deeper may not.
    Case("if_on_nested_layer", "E314", "specs/nest_mlp.json", "layers.net.layers[1].layers[0].if", "'if' is only allowed on a block's own layers",
         edit("nest_mlp", put(["layers", "net", "layers", 1], {"type": "Sequential", "layers": [{"type": "ReLU", "if": "True"}]}))),
    Case("augmented_two_targets", "E315", "specs/residual.json", "forward.body[3].op", "+= takes one target",
         edit("residual", put(["forward", "body", 3, "assign"], ["Y", "X"]))),
    Case("loop_over_expression", "E316", "specs/my_sequential.json", "forward.body[0].in", "a for loop runs over",
         edit("my_sequential", put(["forward", "body", 0, "in"], "X.shape"))),
    Case("loop_over_tuple_name", "E316", FIXED, "forward.body[4]", "runs over a tensor or a list, found (2, 20)",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "n", "value": "X.shape"}), insert_statement(4, {"for": "d", "in": "n", "body": []}))),
    # Loops over a tensor's first dimension: one symbolic pass must decide every later one.
    Case("loop_changes_shape", "E410", FIXED, "forward.body[3]", "changes X from a tensor of shape (2, 20) to a tensor of shape (2, 40)",
         edit("fixed_hidden_mlp", insert_statement(3, {"for": "row", "in": "X", "body": [{"assign": "X", "value": "torch.cat((X, X), dim=1)"}]}))),
    Case("loop_return_inside", "E410", FIXED, "forward.body[3]", "a return inside a loop",
         edit("fixed_hidden_mlp", insert_statement(3, {"for": "row", "in": "X", "body": [{"return": "row"}]}))),
    Case("loop_over_ragged_list", "E410", FIXED, "forward.body[4]", "its items have different shapes",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "parts", "value": "[X, self.rand_weight]"}),
              insert_statement(4, {"for": "part", "in": "parts", "body": []}))),
    Case("loop_over_0d", "E401", FIXED, "forward.body[4]", "it is a 0-d tensor",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "total", "value": "X.sum()"}), insert_statement(4, {"for": "t", "in": "total", "body": []}))),
    # Builder functions (kind "builder") against function specs and blocks.
    Case("builder_with_forward", "E318", "specs/vgg_block.json", "forward", "a builder has no forward",
         edit("vgg_block", lambda d: d.update(forward={"inputs": ["X"], "body": [{"return": "X"}]}))),
    Case("builder_without_sequential", "E202", "specs/vgg_block.json", "", "'sequential' is a required property",
         edit("vgg_block", delete(["sequential"]))),
    Case("block_with_sequential", "E318", MLP, "sequential", "only a builder",
         edit("mlp", lambda d: d.update(sequential=[{"type": "ReLU"}]))),
    Case("builder_called_as_function", "E320", MLP, "functions[0]", "vgg_block is a builder, not a function forward can call",
         edit("mlp", lambda d: d.update(functions=["vgg_block"]))),
    Case("builder_class_name", "E204", "specs/vgg_block.json", "name", "is not a valid name",
         edit("vgg_block", put(["name"], "VggBlock")), frozenset({"E320"})),
    Case("builder_unknown_arg", "E321", "specs/vgg11.json", "sequential[0].args.num_conv", "vgg_block has no argument 'num_conv' (did you mean 'num_convs'?)",
         edit("vgg11", rename(["sequential", 0, "args"], "num_convs", "num_conv"))),
    Case("builder_layer_payload", "E204", "specs/vgg11.json", "sequential[0].type", "is not a valid name",
         edit("vgg11", put(["sequential", 0, "type"], "vgg_block(1, 1, 64); import os"))),
    # Pair inputs (an LSTM's state) and recurrent blocks.
    Case("pair_input_given_one_shape", "E405", "specs/lstm_scratch.json", "examples[1].inputs.H_C", "takes a pair of shapes",
         edit("lstm_scratch", put(["examples", 1, "inputs", "H_C"], [2, 32]))),
    Case("tensor_input_given_a_pair", "E405", "specs/gru_scratch.json", "examples[1].inputs.H", "takes one shape",
         edit("gru_scratch", put(["examples", 1, "inputs", "H"], [[2, 32], [2, 32]]))),
    Case("pair_input_type_payload", "E205", "specs/lstm_scratch.json", "forward.inputs[1].type", "is not one of",
         edit("lstm_scratch", put(["forward", "inputs", 1, "type"], "tuple[torch.Tensor, os.system]")), frozenset({"E200"})),
    Case("pair_state_wrong_shape", "E410", "specs/lstm_scratch.json", "forward.body[2]", "changes H from a tensor of shape (2, 32) to a tensor of shape (2, 2, 32)",
         edit("lstm_scratch", put(["examples", 1, "inputs", "H_C"], [[2, 32], [2, 1, 32]]))),
    # List inputs (one state per layer, specs/stacked_rnn_scratch.json).
    Case("list_input_given_one_shape", "E405", STACKED, "examples[1].inputs.Hs", 'takes a list of shapes, {"list": [[...], ...]}',
         edit("stacked_rnn_scratch", put(["examples", 1, "inputs", "Hs"], [2, 32]))),
    Case("pair_input_given_a_list", "E405", DECODER, "example.inputs.state", "takes a pair of shapes",
         edit("seq2seq_decoder", put(["example", "inputs", "state"], {"list": [[9, 4, 16], [2, 4, 16]]}))),
    Case("list_input_shorter_than_indexed", "E401", STACKED, "forward.body[2].body[0]", "index 2 is out of range for Hs, a list of 2 tensors",
         edit("stacked_rnn_scratch", put(["examples", 1, "inputs", "Hs"], {"list": [[2, 32], [2, 32]]}))),
    Case("list_input_item_wrong_shape", "E401", "specs/rnn_scratch.json", "forward.body[2].body[0]", "expected the second operand's dim -2",
         edit("stacked_rnn_scratch", put(["examples", 1, "inputs", "Hs"], {"list": [[2, 32], [2, 31], [2, 32]]}))),
    Case("list_input_indexed_by_tensor", "E401", STACKED, "forward.body[2].body[0]", "cannot index a list of tensors [3 x (2, 32)] by a tensor",
         edit("stacked_rnn_scratch", put(["forward", "body", 2, "body", 0, "value"], "None if Hs is None else Hs[outputs]"))),
    Case("list_input_example_payload", "E203", STACKED, "examples[1].inputs.Hs.list[0]", "is not of type 'array'",
         edit("stacked_rnn_scratch", put(["examples", 1, "inputs", "Hs"], {"list": ["__import__('os')"]})), frozenset({"E200"})),
    Case("list_input_type_payload", "E205", STACKED, "forward.inputs[1].type", "is not one of",
         edit("stacked_rnn_scratch", put(["forward", "inputs", 1, "type"], "list[os.system]")), frozenset({"E200"})),
    # Public methods (d2l's init_state, specs/seq2seq_decoder.json) and Tensor.repeat.
    Case("method_named_like_module_attribute", "E310", DECODER, "methods.train", "method 'train' is reserved",
         edit("seq2seq_decoder", lambda d: d.update(methods={"train": d["methods"]["init_state"]})), frozenset({"E405"})),
    Case("public_method_never_run", "E405", DECODER, "example", "no example gives the inputs of method 'init_state'",
         edit("seq2seq_decoder", delete(["example", "methods"]))),
    Case("example_runs_unknown_method", "E405", DECODER, "example.methods.init_stat", "not a public method of this spec (did you mean 'init_state'?)",
         edit("seq2seq_decoder", put(["example", "methods", "init_stat"], {"enc_all_outputs": [[9, 4, 16], [2, 4, 16]]}))),
    Case("method_pair_input_given_one_shape", "E405", DECODER, "example.methods.init_state.enc_all_outputs", "takes a pair of shapes",
         edit("seq2seq_decoder", put(["example", "methods", "init_state", "enc_all_outputs"], [9, 4, 16]))),
    # A method refused for its own fault: its example inputs are not also reported (E405) as unknown.
    Case("method_body_payload", "E302", DECODER, "methods.init_state.body[0].return", "",
         edit("seq2seq_decoder", put(["methods", "init_state", "body", 0, "return"], "enc_all_outputs.__class__"))),
    Case("method_name_payload", "E204", DECODER, "methods", "is not a valid name",
         edit("seq2seq_decoder", lambda d: d.update(methods={"init_state(self): import os\n    def x": d["methods"]["init_state"]})), frozenset({"E200", "E405"})),
    Case("method_input_type_payload", "E205", DECODER, "methods.init_state.inputs[0].type", "is not one of",
         edit("seq2seq_decoder", put(["methods", "init_state", "inputs", 0, "type"], "os.system")), frozenset({"E200"})),
    Case("public_method_returns_a_shape", "E401", DECODER, "methods.init_state", "must return a tensor or a tuple of tensors",
         edit("seq2seq_decoder", put(["methods", "init_state", "body", 0], {"return": "enc_all_outputs[0].shape"}))),
    Case("repeat_too_few_counts", "E401", DECODER, "forward.body[3]", "repeat: expected at least 2 repeat counts",
         edit("seq2seq_decoder", put(["forward", "body", 3, "value"], "context.repeat(embs.shape[0])"))),
    Case("repeat_negative_count", "E401", DECODER, "forward.body[3]", "repeat: expected repeat counts of at least 0",
         edit("seq2seq_decoder", put(["forward", "body", 3, "value"], "context.repeat(embs.shape[0], -1, 1)"))),
    Case("repeat_starred_payload", "E302", DECODER, "forward.body[3].value", "*args in a call is not allowed",
         edit("seq2seq_decoder", put(["forward", "body", 3, "value"], "context.repeat(*embs.shape)"))),
    Case("one_hot_of_floats", "E401", "specs/rnn_lm_scratch.json", "forward.body[0]", "expected an integer (long) tensor",
         edit("rnn_lm_scratch", put(["examples", 0, "inputs", "X"], [2, 10]))),
    Case("one_hot_without_classes", "E322", "specs/rnn_lm_scratch.json", "forward.body[0]", "needs argument 'num_classes'",
         edit("rnn_lm_scratch", put(["forward", "body", 0, "value"], "F.one_hot(X.t()).float()"))),
    Case("grad_mode_with_argument", "E302", "specs/batch_norm.json", "forward.body[0].if", "torch.is_grad_enabled() takes no arguments",
         edit("batch_norm", put(["forward", "body", 0, "if"], "not torch.is_grad_enabled(X)"))),
    # A string may be a keyword's value in forward, but a device is the input's, never a literal.
    Case("rand_with_string_device", "E323", FIXED, "forward.body[3]", "torch.rand's device must be a device (X.device) or None, found 'cuda'",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "noise", "value": "torch.rand(X.shape, device='cuda')"}))),
    # Lists built in forward.
    Case("append_to_tensor", "E401", FIXED, "forward.body[3]", "X.append() needs a list built with X = []",
         edit("fixed_hidden_mlp", insert_statement(3, {"append": "X", "value": "X"}))),
    Case("append_unknown_list", "E303", FIXED, "forward.body[3].append", "unknown list 'outs'",
         edit("fixed_hidden_mlp", insert_statement(3, {"append": "outs", "value": "X"}))),
    Case("append_non_tensor", "E401", FIXED, "forward.body[4]", "only tensors may be appended",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "outs", "value": "[]"}), insert_statement(4, {"append": "outs", "value": "X.shape"}))),
    Case("append_payload", "E204", FIXED, "forward.body[3].append", "is not a valid name",
         edit("fixed_hidden_mlp", insert_statement(3, {"append": "outs.x; import os", "value": "X"})), frozenset({"E200"})),
    Case("list_of_numbers", "E401", FIXED, "forward.body[3]", "a list in forward holds tensors only",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "outs", "value": "[1, 2]"}))),
    # Assignment to self in forward: only a declared buffer, whole, with its shape.
    Case("forward_assigns_layer", "E411", FIXED, "forward.body[3].assign", "self.linear is not one",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.linear", "value": "X"}))),
    Case("forward_assigns_dunder", "E411", FIXED, "forward.body[3].assign", "self.__class__ is not one",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.__class__", "value": "X"}))),
    Case("forward_assigns_buffer_attribute", "E204", FIXED, "forward.body[3].assign", "is not a valid name",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.rand_weight.data", "value": "X"})), frozenset({"E200"})),
    Case("forward_buffer_new_shape", "E401", FIXED, "forward.body[3]", "self.rand_weight is a buffer of shape (20, 20)",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.rand_weight", "value": "X"}))),
    Case("forward_buffer_augmented", "E411", FIXED, "forward.body[3].op", "with '=', not +=",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.rand_weight", "op": "+=", "value": "1"}))),
    Case("forward_buffer_unpacked_into_layer", "E411", FIXED, "forward.body[3].assign", "self.linear is not one",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": ["self.rand_weight", "self.linear"], "value": "(X, X)"}))),
    Case("forward_assigns_training", "E411", FIXED, "forward.body[3].assign", "is not one",
         edit("fixed_hidden_mlp", insert_statement(3, {"assign": "self.training", "value": "X"}))),
    Case("repeat_over_int", "E317", MLP, "layers.extra.layers[0].in", "a repeat runs over range(...) or a tuple, found 3",
         edit("mlp", lambda d: d["layers"].update(extra={"type": "Sequential", "layers": [{"for": "i", "in": "3", "layers": [{"type": "ReLU"}]}]}))),
    Case("unknown_kwarg", "E321", MLP, "layers.hidden.args.out_feature", "nn.Linear has no argument 'out_feature' (did you mean 'out_features'?)",
         edit("mlp", rename(["layers", "hidden", "args"], "out_features", "out_feature"))),
    Case("missing_kwarg", "E322", MLP, "layers.hidden.args", "nn.Linear needs argument 'out_features'",
         edit("mlp", delete(OUT_FEATURES))),
    Case("inferred_size_with_args", "E403", "specs/my_linear.json", "layers.extra.args", "in_features can only be left out",
         edit("my_linear", lambda d: d.update(layers={"extra": {"type": "Linear", "args": {"out_features": 3}}}))),
    Case("no_return", "E404", MLP, "forward.body", "forward must end with a return statement",
         edit("mlp", put(["forward", "body"], [{"assign": "Y", "value": "self.hidden(X)"}]))),
    Case("example_missing_arg", "E405", "specs/my_linear.json", "example.args", "example must give required argument 'units'",
         edit("my_linear", delete(["example", "args", "units"]))),
    Case("call_of_none_layer", "E406", "specs/my_linear.json", "forward.body[0]", "self.maybe is None in this configuration",
         edit("my_linear", lambda d: d.update(layers={"maybe": {"type": "ReLU", "if": "in_units > 100"}}),
              put(["forward", "body", 0, "value"], "torch.matmul(self.maybe(X), self.weight) + self.bias"))),
    Case("while_without_data", "E407", MLP, "forward.body[0]", "a while loop must depend on tensor data",
         edit("mlp", lambda d: d["forward"]["body"].insert(0, {"while": "X.shape[0] > 1", "body": [{"assign": "X", "op": "/=", "value": "2"}]}))),
    Case("shape_mismatch", "E401", MLP, "layers.out", "nn.Linear: expected 255 input features (last dim), found 256",
         edit("mlp", put(["layers", "out", "args", "in_features"], 255))),
    Case("output_mismatch", "E402", MLP, "example.output", "declared as (2, 11) but the layers give (2, 10)",
         edit("mlp", put(["example", "output"], [2, 11]))),
    # -- configurable blocks (issue 14) -----------------------------------------------------------------
    Case("class_arg_outside_catalogue", "E320", "specs/mlp_timm.json", "examples[1].args.act_layer", "unknown layer class nn.Bogus",
         edit("mlp_timm", put(["examples", 1, "args", "act_layer"], "nn.Bogus"))),
    Case("class_arg_nn_module", "E320", "specs/mlp_timm.json", "args.act_layer.default", "unknown layer class nn.Module",
         edit("mlp_timm", put(["args", "act_layer", "default"], "nn.Module"))),
    Case("class_arg_code", "E304", "specs/mlp_timm.json", "args.act_layer.default", "is not allowed in constructor arithmetic",
         edit("mlp_timm", put(["args", "act_layer", "default"], PAYLOADS[4]))),
    Case("class_arg_not_a_class", "E323", "specs/mlp_timm.json", "examples[0].args.act_layer", "a layer class is written as an expression",
         edit("mlp_timm", put(["examples", 0, "args", "act_layer"], 3))),
    Case("class_arg_partial_for_type", "E323", "specs/mlp_timm.json", "examples[1].args.act_layer", "act_layer must be type[nn.Module]",
         edit("mlp_timm", put(["examples", 1, "args", "act_layer"], "partial(nn.ReLU, inplace=True)"))),
    Case("partial_unknown_keyword", "E321", "specs/mlp_timm.json", "examples[1].args.norm_layer", "nn.LayerNorm has no argument 'epsilon'",
         edit("mlp_timm", put(["examples", 1, "args", "norm_layer"], "partial(nn.LayerNorm, epsilon=1e-6)"))),
    # partial with positional arguments (partial(nn.GroupNorm, 4)): counted and checked where the class is called.
    Case("partial_too_many_positional", "E406", "specs/basic_block.json", "layers.bn1.positional", "nn.GroupNorm takes at most 4 positional arguments, given 7",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm, 4, 16, 1e-05, True, 9, 9)"))),
    # GroupNorm's bias comes after device and dtype, by keyword only: a fifth positional argument is refused.
    Case("partial_positional_keyword_only", "E406", "specs/basic_block.json", "layers.bn1.positional", "nn.GroupNorm takes at most 4 positional arguments, given 6 (with partial(nn.GroupNorm, 4, 16, 1e-05, True, False)",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm, 4, 16, 1e-05, True, False)"))),
    # A bad value a partial binds by position is reported where the class comes from, as a partial's keyword is.
    Case("partial_positional_bad_value", "E324", "specs/basic_block.json", "layers.bn1.type", "num_groups must be at least 1, found -4",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm, -4)"))),
    Case("partial_positional_and_keyword", "E406", "specs/basic_block.json", "layers.bn1.positional", "got 'num_groups' twice",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm, 4, num_groups=2)"))),
    Case("partial_without_arguments", "E302", "specs/basic_block.json", "examples[2].args.norm_layer", "partial() takes one layer class and arguments for it",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm)"))),
    Case("partial_positional_payload", "E304", "specs/basic_block.json", "examples[2].args.norm_layer", "is not allowed in constructor arithmetic",
         edit("basic_block", put(["examples", 2, "args", "norm_layer"], "partial(nn.GroupNorm, __import__('os').system('x'))"))),
    Case("partial_of_a_function", "E302", "specs/mlp_timm.json", "derived.linear_layer", "attribute .relu is not allowed here",
         edit("mlp_timm", put(["derived", "linear_layer"], "partial(F.relu, inplace=True)"))),
    Case("partial_keyword_wrong_kind", "E323", "specs/mlp_timm.json", "layers.fc1.type", "nn.Conv2d's kernel_size must be",
         edit("mlp_timm", put(["derived", "linear_layer"], "partial(nn.Conv2d, kernel_size='x') if use_conv else nn.Linear"))),
    Case("class_layer_unknown_keyword", "E321", "specs/squeeze_excitation.json", "layers.activation.args.inplace", "nn.Sigmoid (chosen by scale_activation here) has no argument",
         edit("squeeze_excitation", put(["layers", "activation"], {"type": "scale_activation", "args": {"inplace": True}}))),
    Case("positional_on_catalogued_layer", "E321", "specs/mlp_timm.json", "layers.drop1.positional", "only a layer whose type is a layer-class argument",
         edit("mlp_timm", put(["layers", "drop1", "positional"], [0.5]))),
    Case("else_without_if", "E314", "specs/conv_mlp.json", "layers.fc1.else", "'else' needs an 'if'",
         edit("conv_mlp", put(["layers", "fc1", "else"], {"type": "Identity"}))),
    Case("conditional_layer_never_built", "E409", "specs/conv_mlp.json", "layers.norm.if", "is never shape-checked",
         edit("conv_mlp", delete(["examples", 1, "args", "norm_layer"]))),
    Case("optional_child_never_left_out", "E409", "specs/inverted_residual.json", "layers.conv.layers[0].if", "the else branch of 'if expand_ratio != 1'",
         edit("inverted_residual", put(["examples", 1, "args", "expand_ratio"], 2))),
    Case("derived_choice_never_taken", "E409", "specs/mlp_timm.json", "derived.linear_layer", "the then branch of 'if use_conv'",
         edit("mlp_timm", delete(["examples", 2]))),
    Case("optional_parameter_never_left_out", "E409", "specs/layer_norm.json", "parameters.bias.if", "is never shape-checked",
         edit("layer_norm", put(["examples", 1, "args", "bias"], True))),
    Case("check_refuses_example", "E412", "specs/basic_block.json", "checks[0]", "the constructor refuses this configuration: 'BasicBlock only supports",
         edit("basic_block", put(["examples", 0, "args", "groups"], 2))),
    Case("raise_unknown_error", "E205", "specs/basic_block.json", "checks[0].raise", "'SystemExit' is not one of",
         edit("basic_block", put(["checks", 0, "raise"], "SystemExit"))),
    Case("raise_message_not_text", "E203", "specs/basic_block.json", "checks[0].message", "is not of type 'string'",
         edit("basic_block", put(["checks", 0, "message"], ["import os"]))),
    Case("check_condition_code", "E304", "specs/basic_block.json", "checks[1].if", "is not allowed in constructor arithmetic",
         edit("basic_block", put(["checks", 1, "if"], "__import__('os').system('x')"))),
    Case("helper_method_dunder", "E204", "specs/squeeze_excitation.json", "methods", "'__call__' is not a valid name",
         edit("squeeze_excitation", rename(["methods"], "_scale", "__call__"))),
    # A public name makes a public method: callers may use it, so an example must run it on its own inputs.
    Case("helper_method_public", "E405", "specs/squeeze_excitation.json", "examples", "no example gives the inputs of method 'rescale'",
         edit("squeeze_excitation", rename(["methods"], "_scale", "rescale"), put(["forward", "body", 0, "value"], "self.rescale(input)"))),
    # "Z" and {"name": "Z", ...} pass the schema's uniqueItems; a def with two Z would not compile.
    Case("method_input_twice", "E311", "specs/squeeze_excitation.json", "methods._scale.inputs[1]", "input 'input' is declared twice",
         edit("squeeze_excitation", put(["methods", "_scale", "inputs"], ["input", {"name": "input", "type": "torch.Tensor"}]))),
    Case("function_with_methods", "E318", "specs/transpose_qkv.json", "methods", "a function spec has no methods",
         edit("transpose_qkv", lambda d: d.update(methods={"_twice": {"inputs": ["X"], "body": [{"return": "X + X"}]}}))),
    Case("builder_with_methods", "E318", "specs/vgg_block.json", "methods", "a builder has no methods",
         edit("vgg_block", lambda d: d.update(methods={"_twice": {"inputs": ["X"], "body": [{"return": "X + X"}]}}))),
    Case("helper_method_recursion", "E302", "specs/squeeze_excitation.json", "methods._scale.body[0].value", "private attribute '_scale' is not allowed",
         edit("squeeze_excitation", put(["methods", "_scale", "body", 0, "value"], "self._scale(input)"))),
    Case("str_default_outside_choices", "E323", "specs/patch_embed.json", "args.mode.default", "default 'zz' is not a str in ['row', 'batch']",
         edit("patch_embed", put(["args", "mode"], {"type": "str", "default": "zz", "choices": ["row", "batch"]}))),
    Case("str_without_choices", "E313", "specs/patch_embed.json", "args.mode", "lists its allowed values under 'choices'",
         edit("patch_embed", put(["args", "mode"], {"type": "str", "default": "row"}))),
    Case("or_on_required_type", "E313", "specs/mlp_timm.json", "args.in_features.or", "only an argument that may be None takes 'or'",
         edit("mlp_timm", put(["args", "in_features", "or"], "1"))),
    Case("in_operator_in_forward", "E302", "specs/conv_mlp.json", "forward.body[0].value", "comparison In is not allowed",
         edit("conv_mlp", put(["forward", "body", 0, "value"], "self.fc1(x) if 1 in (1, 2) else x"))),
    Case("derived_shadows_argument", "E311", "specs/inverted_residual.json", "derived.stride", "derived value 'stride' is already an argument",
         edit("inverted_residual", put(["derived", "stride"], "1"))),
    Case("spec_and_torch_layer_in_one_file", "E312", "specs/layer_norm.json", "name", "'LayerNorm' is a torch.nn layer that this file also uses",
         edit("layer_norm", put(["layers"], {"ln": {"type": "LayerNorm", "args": {"normalized_shape": "ndim"}}}))),
    # -- spec language II: optional inputs, examples, branches, hyperparameters, containers, functions ----
    Case("optional_input_first", "E318", MLP, "forward.inputs[1]", "input 'X' without a default follows an optional one",
         edit("mlp", put(["forward", "inputs"], [{"name": "M", "default": None}, "X"])), frozenset({"E405"})),
    Case("optional_input_payload", "E204", MLP, "forward.inputs[0].name", "is not a valid name",
         edit("mlp", put(["forward", "inputs"], [{"name": PAYLOADS[2], "default": None}]))),
    Case("optional_input_default_not_none", "E203", MLP, "forward.inputs[0].default", "is not of type 'null'",
         edit("mlp", put(["forward", "inputs"], [{"name": "X", "default": "__import__('os')"}]))),
    Case("none_for_required_input", "E405", MLP, "example.inputs.X", "input 'X' is not optional",
         edit("mlp", put(["example", "inputs", "X"], None))),
    Case("example_and_examples", "E405", MLP, "", "give either 'example' or 'examples'",
         edit("mlp", lambda d: d.update(examples=[d["example"]]))),
    Case("no_example", "E405", MLP, "", "'example' (or 'examples', a list) is required", edit("mlp", delete(["example"]))),
    Case("branch_never_taken", "E409", "specs/residual.json", "forward.body[2]",
         "the else branch of 'if self.conv3 is not None' is never shape-checked",
         edit("residual", lambda d: d.update(examples=d["examples"][:1]))),
    Case("conditional_arm_never_taken", "E409", MLP, "forward.body[0].return",
         "the else branch of 'if X.shape[0] == 2' is never shape-checked",
         edit("mlp", put(FWD, "self.out(F.relu(self.hidden(X))) if X.shape[0] == 2 else X"))),
    Case("hyperparameter_variadic", "E305", "specs/my_sequential.json", "forward.body[0].in", "unknown member self.args",
         edit("my_sequential", put(["forward", "body", 0, "in"], "self.args"))),
    Case("hyperparameter_dunder", "E302", "specs/add_norm.json", "forward.body[0].return", "private attribute '__dict__'",
         edit("add_norm", put(["forward", "body", 0, "return"], "self.ln(X) * self.__dict__"))),
    Case("moduledict_key_keyword", "E310", MLP, "layers.heads.layers.class", "ModuleDict key 'class' is a Python keyword",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": {"class": {"type": "ReLU"}}}))),
    Case("moduledict_key_payload", "E204", MLP, "layers.heads.layers", "is not a valid name",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": {PAYLOADS[1]: {"type": "ReLU"}}}))),
    Case("moduledict_forward_key_payload", "E310", MLP, "forward.body[0].return", "is not an ASCII Python identifier",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": {"a": {"type": "ReLU"}}}),
              put(FWD, "self.heads[\"'); import os; ('\"](X)"))),
    Case("moduledict_missing_key", "E401", MLP, "forward.body[0].return", "the ModuleDict at layers.heads has no key 'b'",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": {"a": {"type": "ReLU"}}}),
              put(FWD, "self.heads['b'](X)"))),
    Case("moduledict_as_list", "E203", MLP, "layers.heads.layers", "the layers of a ModuleDict are an object of named layers",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": [{"type": "ReLU"}]}))),
    Case("container_index_out_of_range", "E401", "specs/nest_mlp.json", "forward.body[0].return", "index 5 is out of range",
         edit("nest_mlp", put(["forward", "body", 0, "return"], "self.linear(self.net[5](X))"))),
    Case("for_over_moduledict", "E316", MLP, "forward.body[0]", "a for loop runs over a Sequential or ModuleList",
         edit("mlp", lambda d: d["layers"].update(heads={"type": "ModuleDict", "layers": {"a": {"type": "ReLU"}}}),
              lambda d: d["forward"]["body"].insert(0, {"for": "h", "in": "self.heads", "body": [{"assign": "X", "value": "h(X)"}]}))),
    Case("enumerate_into_one_name", "E316", "specs/my_sequential.json", "forward.body[0].in", "write enumerate over one container",
         edit("my_sequential", put(["forward", "body", 0, "in"], "enumerate(args)"))),
    Case("enumerate_tensor", "E316", "specs/my_sequential.json", "forward.body[0].in", "a for loop runs over",
         edit("my_sequential", put(["forward", "body", 0, "for"], ["i", "block"]), put(["forward", "body", 0, "in"], "enumerate(X)"))),
    Case("function_with_layers", "E318", "specs/transpose_qkv.json", "layers", "a function spec has no layers",
         edit("transpose_qkv", lambda d: d.update(layers={"relu": {"type": "ReLU"}}))),
    Case("function_name_capitalised", "E204", "specs/transpose_qkv.json", "name", "is not a valid name",
         edit("transpose_qkv", put(["name"], "TransposeQKV")),
         also=frozenset({"E320"})),  # multi_head_attention names transpose_qkv: it is unknown then
    Case("function_name_payload", "E204", "specs/transpose_qkv.json", "name", "is not a valid name",
         edit("transpose_qkv", put(["name"], "f(); import os")),
         also=frozenset({"E320"})),  # multi_head_attention names transpose_qkv: it is unknown then
    Case("function_name_catalogued", "E312", "specs/transpose_qkv.json", "name", "is a catalogued function",
         edit("transpose_qkv", put(["name"], "relu")),
         also=frozenset({"E320"})),  # multi_head_attention names transpose_qkv: it is unknown then
    Case("function_unknown", "E320", "specs/add_norm.json", "functions[0]", "unknown function spec 'transpose_qvk' (did you mean 'transpose_qkv'?)",
         edit("add_norm", lambda d: d.update(functions=["transpose_qvk"]))),
    Case("function_not_listed", "E303", "specs/add_norm.json", "forward.body[0].return", "unknown name 'transpose_qkv'",
         edit("add_norm", put(["forward", "body", 0, "return"], "transpose_qkv(X, 2)"))),
    Case("function_wrong_argument", "E323", "specs/add_norm.json", "forward.body[0].return", "transpose_qkv's num_heads must be int, found 2.5",
         edit("add_norm", lambda d: d.update(functions=["transpose_qkv"]), put(["forward", "body", 0, "return"], "transpose_qkv(X, 2.5)"))),
    Case("function_shape_mismatch", "E401", "specs/transpose_qkv.json", "forward.body[0]", "",
         both(edit("add_norm", lambda d: d.update(functions=["transpose_qkv"]), put(["forward", "body", 0, "return"], "transpose_qkv(X, 3)")))),
    Case("persistent_parameter", "E318", "specs/my_linear.json", "parameters.weight.persistent", "only a buffer can be non-persistent",
         edit("my_linear", lambda d: d["parameters"]["weight"].update(persistent=False))),
    Case("returns_ints", "E401", MLP, "forward.body", "it must return a tensor or a tuple of tensors",
         edit("mlp", put(FWD, "X.shape"))),
    Case("constructor_assigns_attribute", "E302", "specs/fixed_hidden_mlp.json", "constructor[0].assign", "assigns a local name or self.<buffer>[...]",
         edit("fixed_hidden_mlp", lambda d: d.update(constructor=[{"assign": "self.rand_weight", "value": "self.rand_weight.t()"}]))),
    Case("constructor_assigns_into_layer", "E305", "specs/fixed_hidden_mlp.json", "constructor[0].assign", "self.linear is not one",
         edit("fixed_hidden_mlp", lambda d: d.update(constructor=[{"assign": "self.linear[0]", "value": "1"}]))),
    Case("constructor_randomness", "E304", "specs/fixed_hidden_mlp.json", "constructor[0].value", "unknown function torch.randn",
         edit("fixed_hidden_mlp", lambda d: d.update(constructor=[{"assign": "W", "value": "torch.randn(3)"}]))),
    Case("constructor_import", "E302", "specs/fixed_hidden_mlp.json", "constructor[0].value", "literal 'os' is not allowed here",
         edit("fixed_hidden_mlp", lambda d: d.update(constructor=[{"assign": "W", "value": "__import__('os')"}]))),
    Case("constructor_target_payload", "E302", "specs/fixed_hidden_mlp.json", "constructor[0].assign", "assigns a local name or self.<buffer>[...]",
         edit("fixed_hidden_mlp", lambda d: d.update(constructor=[{"assign": PAYLOADS[2], "value": "1"}]))),
    Case("constructor_shadows_argument", "E311", "specs/my_linear.json", "constructor[0].assign", "'units' is a constructor argument",
         edit("my_linear", lambda d: d.update(constructor=[{"assign": "units", "value": "units * 2"}]))),
    Case("constructor_in_function", "E318", "specs/transpose_qkv.json", "constructor", "a function spec has no constructor",
         edit("transpose_qkv", lambda d: d.update(constructor=[{"assign": "k", "value": "num_heads * 2"}]))),
    Case("constructor_too_long", "E200", "specs/my_linear.json", "constructor", "is too long",
         edit("my_linear", lambda d: d.update(constructor=[{"assign": "k", "value": "units * 2"}] * 17))),
    # -- a tensor registered after a layer ("after": ConvNeXt's gamma) ---------------------------------
    Case("tensor_after_unknown_layer", "E307", "specs/convnext_block.json", "parameters.gamma.after", "'pwconv3' is not one (did you mean 'pwconv2'?)",
         edit("convnext_block", lambda d: d["parameters"]["gamma"].update(after="pwconv3"))),
    Case("tensor_after_a_parameter", "E307", "specs/my_linear.json", "parameters.bias.after", "'after' must name a layer of this block; 'weight' is not one",
         edit("my_linear", lambda d: d["parameters"]["bias"].update(after="weight"))),
    Case("tensor_after_payload", "E204", "specs/convnext_block.json", "parameters.gamma.after", "is not a valid name",
         edit("convnext_block", lambda d: d["parameters"]["gamma"].update(after=PAYLOADS[2]))),
    Case("tensor_after_dunder", "E204", "specs/convnext_block.json", "parameters.gamma.after", "is not a valid name",
         edit("convnext_block", lambda d: d["parameters"]["gamma"].update(after="__class__.__init__"))),
    Case("constructor_uses_late_buffer", "E307", "specs/positional_encoding.json", "constructor[1]", "cannot use self.P, which is registered after layer 'dropout'",
         edit("positional_encoding", lambda d: d["buffers"]["P"].update(after="dropout"))),
    # -- initialisation, whole-shape expressions, integer inputs (issue 11) ----------------------------
    Case("init_unknown_form", "E340", MYL, "parameters.weight.init", "unknown init 'orthogonal'", edit("my_linear", put(W_INIT, "orthogonal"))),
    Case("init_argument_import", "E304", MYL, "parameters.weight.init", "call of '__import__' is not allowed",
         edit("my_linear", put(W_INIT, "normal(std=__import__('os'))"))),
    Case("init_argument_dunder", "E302", MYL, "parameters.weight.init", "private attribute '__class__'",
         edit("my_linear", put(W_INIT, "uniform(in_units.__class__)"))),
    Case("init_form_semicolon", "E301", MYL, "parameters.weight.init", "not a valid expression",
         edit("my_linear", put(W_INIT, "zeros; import os"))),
    Case("init_form_attribute", "E340", MYL, "parameters.weight.init", "an init is a name or a call",
         edit("my_linear", put(W_INIT, "nn.init.normal_"))),
    Case("init_normal_positional", "E406", MYL, "parameters.weight.init", "normal takes mean, std by keyword only",
         edit("my_linear", put(W_INIT, "normal(0.01)"))),
    Case("init_unknown_keyword", "E321", MYL, "parameters.weight.init", "uniform has no argument 'low'",
         edit("my_linear", put(W_INIT, "uniform(low=0)"))),
    Case("init_kwargs", "E302", MYL, "parameters.weight.init", "**kwargs in a call is not allowed",
         edit("my_linear", put(W_INIT, "normal(**{'std': 1})"))),
    Case("init_update_first", "E341", MYL, "parameters.weight.init[0]", "an init starts with a form",
         edit("my_linear", put(W_INIT, ["weight *= 2"]))),
    Case("init_update_other_tensor", "E341", MYL, "parameters.weight.init[1]", "it may only update the tensor it initialises, 'weight'",
         edit("my_linear", put(W_INIT, ["randn", "bias *= 0"]))),
    Case("init_update_dunder", "E302", MYL, "parameters.weight.init[1]", "private attribute '__class__'",
         edit("my_linear", put(W_INIT, ["randn", "weight *= weight.__class__"]))),
    Case("init_update_open", "E302", MYL, "parameters.weight.init[1]", "literal 'x' is not allowed here",
         edit("my_linear", put(W_INIT, ["randn", "weight *= open('x')"]))),
    Case("init_update_semicolon", "E301", MYL, "parameters.weight.init[1]", "not a valid expression",
         edit("my_linear", put(W_INIT, ["randn", "weight *= 2; import os"]))),
    Case("init_update_assignment", "E341", MYL, "parameters.weight.init[1]", "a later step updates the tensor in place",
         edit("my_linear", put(W_INIT, ["randn", "weight = weight.abs()"]))),
    Case("init_update_member", "E305", MYL, "parameters.weight.init[1]", "unknown member self.bias",
         edit("my_linear", put(W_INIT, ["randn", "weight *= self.bias"]))),
    Case("init_update_shape", "E401", MYL, "parameters.weight.init[1]", "in-place *= would change weight's shape from (5, 3) to (1, 5, 3)",
         edit("my_linear", put(W_INIT, ["randn", "weight *= weight.unsqueeze(0)"]))),
    Case("init_second_form", "E341", MYL, "parameters.weight.init[1]", "a later step updates the tensor in place",
         edit("my_linear", put(W_INIT, ["randn", "zeros"]))),
    Case("init_too_many_steps", "E200", MYL, "parameters.weight.init", "is too long", edit("my_linear", put(W_INIT, ["randn"] + ["weight *= 2"] * 8))),
    Case("init_number", "E203", MYL, "parameters.weight.init", "5 is not of type", edit("my_linear", put(W_INIT, 5))),
    Case("init_negative_std", "E324", MYL, "parameters.weight.init", "normal's std must be at least 0, found -1",
         edit("my_linear", put(W_INIT, "normal(std=-1)"))),
    Case("init_uniform_reversed", "E324", MYL, "parameters.weight.init", "uniform needs a <= b, found a=10 > b=-10",
         edit("my_linear", put(W_INIT, "uniform(10, -10)"))),
    Case("init_xavier_on_a_vector", "E401", MYL, "parameters.bias.init", "xavier_uniform computes fan in and fan out",
         edit("my_linear", put(["parameters", "bias", "init"], "xavier_uniform"))),
    Case("init_kaiming_mode", "E323", MYL, "parameters.weight.init", "kaiming_uniform's mode must be 'fan_in' or 'fan_out', found 'fan'",
         edit("my_linear", put(W_INIT, "kaiming_uniform(mode='fan')"))),
    Case("init_scale_string", "E323", MYL, "parameters.weight.init", "the scale of randn must be a number, found 'x'",
         edit("my_linear", put(W_INIT, "randn * 'x'"))),
    Case("init_scale_call", "E304", MYL, "parameters.weight.init", "call of 'open' is not allowed",
         edit("my_linear", put(W_INIT, "randn * open('x')"))),
    Case("layer_init_randn", "E341", MLP, "layers.hidden.init.weight", "randn creates a tensor",
         edit("mlp", put(["layers", "hidden", "init"], {"weight": "randn"}))),
    Case("layer_init_payload", "E304", MLP, "layers.hidden.init.weight", "call of '__import__' is not allowed",
         edit("mlp", put(["layers", "hidden", "init"], {"weight": "constant(__import__('os'))"}))),
    Case("layer_init_unknown_tensor", "E201", MLP, "layers.hidden.init", "unknown key 'weights'",
         edit("mlp", put(["layers", "hidden", "init"], {"weights": "zeros"}))),
    Case("layer_init_no_tensors", "E342", "specs/lenet.json", "layers.net.layers[1].init", "Sigmoid has no weight or bias to initialise",
         edit("lenet", put(["layers", "net", "layers", 1, "init"], {"weight": "zeros"}))),
    Case("layer_init_in_repeat", "E342", "specs/dense_block.json", "layers.net.layers[0].layers[0].layers[0].init", "use a rule in the block's 'init'",
         edit("dense_block", put(["layers", "net", "layers", 0, "layers", 0, "layers", 0, "init"], {"weight": "ones"}))),
    # After an optional sibling a child is self.conv[1] or self.conv[2]: no fixed name for its init.
    Case("layer_init_after_optional_child", "E342", "specs/inverted_residual.json", "layers.conv.layers[2].init", "no optional child before them",
         edit("inverted_residual", put(["layers", "conv", "layers", 2, "init"], {"weight": "zeros"}))),
    Case("list_plus_list", "E401", "specs/stacked_rnn_scratch.json", "forward.body[1]", "a list of tensors is not a tensor; index it",
         edit("stacked_rnn_scratch", put(["forward", "body", 1, "value"], "[inputs] + [inputs]"))),
    Case("layer_init_on_a_block", "E342", "specs/chimera.json", "layers.net.layers[0].init", "a block initialises its own layers",
         edit("chimera", put(["layers", "net", "layers", 0, "init"], {"weight": "zeros"}))),
    Case("layer_init_conditional", "E342", "specs/residual.json", "layers.conv3.init", "built only 'if' a condition holds",
         edit("residual", put(["layers", "conv3", "init"], {"weight": "zeros"}))),
    Case("layer_init_without_bias", "E342", MLP, "layers.hidden.init.bias", "has no bias in this configuration",
         edit("mlp", put(["layers", "hidden", "args", "bias"], False), put(["layers", "hidden", "init"], {"bias": "zeros"}))),
    Case("rule_unknown_type", "E343", MLP, "init[0].types[0]", "unknown layer type 'Linaer' (did you mean 'Linear'?)",
         edit("mlp", put(["init"], [{"types": ["Linaer"], "weight": "zeros"}]))),
    Case("rule_type_payload", "E204", MLP, "init[0].types[0]", "is not a valid name", edit("mlp", put(["init"], [{"types": ["Linear'); import os; ('"], "weight": "zeros"}]))),
    Case("rule_type_twice", "E343", MLP, "init[1].types[0]", "Linear already has a rule at init[0]",
         edit("mlp", put(["init"], [{"types": ["Linear"], "weight": "zeros"}, {"types": ["Linear"], "bias": "zeros"}]))),
    Case("rule_without_tensors", "E343", MLP, "init[0]", "a rule initialises 'weight', 'bias' or both", edit("mlp", put(["init"], [{"types": ["Linear"]}]))),
    Case("rule_on_a_layer_without_tensors", "E343", MLP, "init[0].types[0]", "ReLU has no weight or bias", edit("mlp", put(["init"], [{"types": ["ReLU"], "weight": "zeros"}]))),
    Case("rule_update_payload", "E302", MLP, "init[0].weight[1]", "literal 'os' is not allowed here",
         edit("mlp", put(["init"], [{"types": ["Linear"], "weight": ["zeros", "weight *= __import__('os')"]}]))),
    Case("rule_bias_false", "E342", MLP, "init[0].bias", "nn.Linear at layers.hidden has no bias",
         edit("mlp", put(["layers", "hidden", "args", "bias"], False), put(["init"], [{"types": ["Linear"], "bias": "zeros"}]))),
    Case("shape_expression_not_a_tuple", "E323", MYL, "parameters.weight.shape", "a shape expression must give a tuple",
         edit("my_linear", put(["parameters", "weight", "shape"], "in_units"))),
    Case("shape_expression_zero", "E324", MYL, "parameters.weight.shape", "a dimension must be a positive int, found 0",
         edit("my_linear", put(["parameters", "weight", "shape"], "(in_units, 0) if units > 1 else (1, 1)"))),
    Case("shape_expression_import", "E304", MYL, "parameters.weight.shape", "call of '__import__' is not allowed",
         edit("my_linear", put(["parameters", "weight", "shape"], "__import__('os')"))),
    Case("long_input_without_bound", "E405", MLP, "example.inputs.X", "a long input needs 'high'",
         edit("mlp", put(["example", "inputs", "X"], {"shape": [2, 20], "dtype": "long"}))),
    Case("bound_on_float_input", "E405", MLP, "example.inputs.X.high", "'high' bounds the values of a long input only",
         edit("mlp", put(["example", "inputs", "X"], {"shape": [2, 20], "dtype": "float32", "high": 5}))),
    Case("input_dtype_payload", "E205", MLP, "example.inputs.X.dtype", "is not one of ['float32', 'long', 'bool']",
         edit("mlp", put(["example", "inputs", "X"], {"shape": [2, 20], "dtype": "long'); import os; ('", "high": 5}))),
    Case("embedding_float_input", "E401", MLP, "layers.hidden", "nn.Embedding: expected integer indices, found a float tensor",
         edit("mlp", put(["layers", "hidden"], {"type": "Embedding", "args": {"num_embeddings": 20, "embedding_dim": 256}}))),
    Case("embedding_ids_too_high", "E401", MLP, "layers.hidden", "expected indices below num_embeddings=20, found values up to 20",
         edit("mlp", put(["layers", "hidden"], {"type": "Embedding", "args": {"num_embeddings": 20, "embedding_dim": 256}}),
              put(["example", "inputs", "X"], {"shape": [2, 20], "dtype": "long", "high": 21}))),
    Case("repeat_prefix_payload", "E204", "specs/dense_block.json", "layers.net.layers[0].prefix", "is not a valid name",
         edit("dense_block", lambda d: d["layers"]["net"]["layers"][0].update(prefix="b'); import os; ('"))),
    Case("repeat_prefix_two_layers", "E314", "specs/dense_block.json", "layers.net.layers", "must be the only item",
         edit("dense_block", lambda d: d["layers"]["net"]["layers"][0].update(prefix="block"), lambda d: d["layers"]["net"]["layers"].append({"type": "ReLU"}))),
    Case("repeat_prefix_keyword", "E310", "specs/dense_block.json", "layers.net.layers[0].prefix", "child name prefix 'class' is a Python keyword",
         edit("dense_block", lambda d: d["layers"]["net"].update(layers=[dict(d["layers"]["net"]["layers"][0], prefix="class")]))),
    Case("builder_repeat_prefix", "E314", "specs/vgg_block.json", "sequential[0].prefix", "a builder's children are named 0, 1, ...",
         edit("vgg_block", lambda d: d.update(sequential=[dict(d["sequential"][0], prefix="block", layers=[{"type": "ReLU"}])]))),
    # -- named Sequential children (d2l's AnyNet: self.net.add_module("stage1", ...)) ------------------------
    Case("child_name_payload", "E204", REG, "layers.net.layers[1].name", "is not a valid name",
         edit("regnetx32", put(REG_CHILD + [1, "name"], 'stage1", os.system("x"), "'))),
    Case("child_name_keyword", "E310", REG, "layers.net.layers[1].name", "child name 'class' is a Python keyword",
         edit("regnetx32", put(REG_CHILD + [1, "name"], "class"))),
    Case("child_name_module_attribute", "E310", REG, "layers.net.layers[2].name", "child name 'forward' is reserved",
         edit("regnetx32", put(REG_CHILD + [2, "name"], "forward"))),
    Case("child_name_sequential_method", "E310", REG, "layers.net.layers[3].name", "child name 'append' is reserved: it is a method of nn.Sequential",
         edit("regnetx32", put(REG_CHILD + [3, "name"], "append"))),
    Case("child_name_private", "E310", REG, "layers.net.layers[1].name", "child name '_modules' starts with '_'",
         edit("regnetx32", put(REG_CHILD + [1, "name"], "_modules"))),
    Case("child_name_twice", "E311", REG, "layers.net.layers[2].name", "two children are named 'stage1' (also at layers.net.layers[1])",
         edit("regnetx32", put(REG_CHILD + [2, "name"], "stage1"))),
    Case("child_name_on_a_member", "E314", REG, "layers.net.name", "only a child of a block's own Sequential may have a 'name'",
         edit("regnetx32", put(["layers", "net", "name"], "body"))),
    Case("child_name_nested", "E314", REG, "layers.net.layers[3].layers[0].name", "only a child of a block's own Sequential",
         edit("regnetx32", put(REG_CHILD + [3, "layers", 0, "name"], "pool"))),
    Case("child_name_beside_a_repeat", "E314", "specs/vgg11.json", "sequential[1].name", "a builder's children are named 0, 1, ...",
         edit("vgg11", put(["sequential", 1, "name"], "block2"))),
    Case("child_name_in_modulelist", "E314", REG, "layers.net.layers[1].name", "only a child of a block's own Sequential",
         edit("regnetx32", put(["layers", "net", "type"], "ModuleList"), put(["forward", "body", 0, "return"], "self.net[0](X)"))),
    Case("child_name_with_optional_child", "E314", REG, "layers.net.layers[1].name", "no child is repeated or built under 'if'",
         edit("regnetx32", put(REG_CHILD + [2, "if"], "num_classes > 1"))),
    Case("child_name_with_repeat", "E314", "specs/dense_block.json", "layers.net.layers[1].name", "no child is repeated",
         edit("dense_block", lambda d: d["layers"]["net"]["layers"].append({"name": "tail", "type": "Identity"}))),
    # -- file names --------------------------------------------------------------------------------------
    Case("file_name_dash", "E332", "specs/Bad-Name.json", "", "file name 'Bad-Name.json' must be <module_name>.json",
         raw("Bad-Name.json", lambda d: d.replace(b'"MLP"', b'"BadName"'))),
    Case("file_name_accent", "E332", "specs/\u00e9vil.json", "", "file name '\u00e9vil.json' must be <module_name>.json",
         raw("\u00e9vil.json", lambda d: d.replace(b'"MLP"', b'"Evil"'))),
    Case("file_name_keyword", "E332", "specs/class.json", "", "not a Python keyword",
         raw("class.json", lambda d: d.replace(b'"MLP"', b'"Klass"'))),
    # -- the filesystem ----------------------------------------------------------------------------------
    Case("symlink_to_outside", "E501", "out/mlp.py", "", "would resolve outside the output folder", outside_symlink),
    Case("symlink_to_outside_force", "E501", "out/mlp.py", "", "would resolve outside the output folder", outside_symlink, args=("--force",)),
    Case("symlink_inside_output", "E501", "out/mlp.py", "", "is a symlink; refusing to write through it", inside_symlink, args=("--force",)),
    Case("symlinked_output_folder", "E501", "out_link", "", "the output folder is a symlink", symlinked_out, out="out_link"),
    Case("output_is_specs", "E502", "specs", "", "may not be or contain the specs folder", lambda w: None, out="specs"),
    Case("output_contains_specs", "E502", ".", "", "may not be or contain the specs folder", lambda w: None, out="."),
    Case("output_is_a_file", "E504", "plain.txt", "", "exists and is not a folder", output_is_file, out="plain.txt"),
    Case("folder_at_output_file", "E504", "out/mlp.py", "", "is not a regular file", folder_at_target, args=("--force",)),
    Case("spec_is_symlink", "E501", "specs/zz.json", "", "spec files may not be symlinks", spec_symlink),
]


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Path:
    """specs/ and out/: a copy of generated/, brought up to date by the generator as it is now."""
    base = tmp_path_factory.mktemp("baseline")
    shutil.copytree(SPECS, base / "specs")
    shutil.copytree(GENERATED, base / "out")
    result = cli(base)
    assert result.returncode == 0, result.stderr
    return base


@pytest.fixture(scope="session")
def corpus_runs(request, baseline, tmp_path_factory) -> dict[str, tuple]:
    """Every selected corpus case, run in a subprocess, a few at a time: id -> (result, before, after, work)."""
    wanted = {
        item.callspec.params["case"].id
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_corpus"
    }
    root = tmp_path_factory.mktemp("corpus")
    real_command = end_to_end(CORPUS)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing of pytest's or torch's state

    with ProcessPoolExecutor(max_workers=2, mp_context=context) as processes:

        def run(case: Case) -> tuple:
            try:
                work = make_work(baseline, root / case.id)
                case.setup(work)
                before = snapshot(work)
                if case.id in real_command:
                    result = cli(work, *case.args, out=case.out)
                else:  # -j 1: the build in this process; the real-command cases take the worker processes' path
                    argv = ["specs/", "-o", case.out, "-j", "1", *case.args]
                    result = subprocess.CompletedProcess(argv, *processes.submit(run_in_process, str(work), argv).result())
                return case.id, (result, before, snapshot(work), work)
            except Exception as exc:  # reported by the case's own test, not by every test
                return case.id, exc

        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            return dict(pool.map(run, [c for c in CORPUS if c.id in wanted]))


def end_to_end(cases: list[Case]) -> set[str]:
    """The cases run as the real command: the first of each family of codes (E1xx loading, E2xx
    structure, E3xx expressions, E4xx shapes, E5xx the file system), and each with options of its own."""
    families: set[str] = set()
    chosen = set()
    for case in cases:
        if case.code[:2] not in families or case.args or case.out != "out":
            chosen.add(case.id)
            families.add(case.code[:2])
    return chosen


def run_in_process(work: str, argv: list[str]) -> tuple[int, str, str]:
    """``python -m codegen ARGV`` from ``work``, in this worker process: its imports are paid once, not per case."""
    import black  # noqa: F401  the generator's workers fork from here: imported once, not in each of them

    from codegen import analyse, gate, load, render  # noqa: F401
    from codegen.__main__ import main

    os.chdir(work)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def test_corpus_is_large_and_distinct():
    assert len(CORPUS) >= 40
    assert len({c.id for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CORPUS])
def test_corpus(case: Case, corpus_runs):
    if isinstance(corpus_runs[case.id], Exception):
        raise corpus_runs[case.id]
    result, before, after, work = corpus_runs[case.id]
    stderr = result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{stderr}{result.stdout}"
    assert "Traceback" not in stderr
    assert case.file in stderr
    lines = error_lines(stderr)
    expected = [
        line for line in lines
        if (line["file"], line["path"] or "", line["code"]) == (case.file, case.path, case.code)
    ]
    assert expected, f"no line '{case.file}: {case.path}: {case.code}' in\n{stderr}"
    assert any(case.fragment in line["message"] for line in expected), f"{case.fragment!r} not in\n{stderr}"
    codes = {line["code"] for line in lines}
    assert codes <= {case.code} | case.also, f"unexpected codes {codes - {case.code} - case.also}\n{stderr}"
    assert_paths_exist(lines, work)
    assert changed(before, after) == [], "files changed by a failing run"


# ---------------------------------------------------------------------------- hostile text that is allowed


def doc_of(source: str, name: str) -> str:
    """The class docstring's value, its indentation removed (and nothing else: tabs stay tabs)."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    raw = ast.get_docstring(cls, clean=False) or ""
    return "\n".join(line[4:] if line.startswith("    ") else line for line in raw.split("\n"))


def comments(source: str) -> list[str]:
    import tokenize

    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def calls(tree: ast.AST) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def assert_no_injected_code(source: str, reference: str) -> None:
    """Nothing in ``source`` that a spec could have smuggled in as code."""
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert set(imports) <= {
        "import torch", "from torch import nn", "from torch.nn import functional as F",
        "from collections.abc import Callable", "from functools import partial",
    }, imports
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "os"]
    assert calls(tree) <= calls(ast.parse(reference)), calls(tree) - calls(ast.parse(reference))
    fortynine = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == 49 and not isinstance(n.value, bool)]
    assert not fortynine


ODD_TEXT = 'quotes """ \'\'\' " \\ \\n tab\t nul\x00 vt\x0b ff\x0c ls\u2028 ps\u2029 nel\x85 ' + "bell\x07 esc\x1b \U0001f40d end\\"  # no lone surrogate: refused at load (forward_lone_surrogate)

ACCEPTED = [
    ("class_doc_triple_quotes", "mlp", ["doc"], PAYLOADS[0]),
    ("class_doc_carriage_return", "mlp", ["doc"], "line one" + PAYLOADS[1]),
    ("class_doc_quote_escape", "mlp", ["doc"], PAYLOADS[2]),
    ("class_doc_template", "mlp", ["doc"], PAYLOADS[3]),
    ("class_doc_odd_characters", "mlp", ["doc"], ODD_TEXT),
    ("layer_doc_payloads", "mlp", ["layers", "hidden", "doc"], " ".join(PAYLOADS[:4]) + ODD_TEXT),
    ("arg_doc_payloads", "my_linear", ["args", "units", "doc"], " ".join(PAYLOADS[:4]) + ODD_TEXT),
    ("tensor_doc_payloads", "fixed_hidden_mlp", ["buffers", "rand_weight", "doc"], " ".join(PAYLOADS[:4]) + ODD_TEXT),
    ("schema_key_payload", "mlp", ["$schema"], PAYLOADS[0] + PAYLOADS[2]),
]


@pytest.mark.parametrize("stem,path,text", [pytest.param(s, p, t, id=i) for i, s, p, t in ACCEPTED])
def test_accepted(stem, path, text, baseline, tmp_path):
    """Hostile text in prose is carried as data: it reaches the output as a docstring or comment, never as code."""
    work = make_work(baseline, tmp_path)
    edit(stem, put(path, text))(work)
    result = cli(work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    source = (work / "out" / f"{stem}.py").read_text(encoding="utf-8")
    reference = (baseline / "out" / f"{stem}.py").read_text(encoding="utf-8")
    assert_no_injected_code(source, reference)
    name = json.loads((work / "specs" / f"{stem}.json").read_text(encoding="utf-8"))["name"]
    docstring = doc_of(source, name)
    if path == ["doc"]:
        # Every character kept; lines too long for 88 columns wrapped at spaces, the others kept as lines.
        expected = [line.rstrip() for line in text.strip().split("\n")]
        assert " ".join(" ".join(expected).split()) in " ".join(docstring.split()), docstring
        assert all(line in docstring.split("\n") for line in expected if len(line) <= 80), docstring
    elif path[0] == "args":
        assert " ".join(text.split()) in " ".join(docstring.split())  # wrapped at 88 columns
    elif path[0] in ("layers", "buffers"):
        flat = " ".join(text.split())
        found = [c for c in comments(source) if "import os" in c]
        assert len(found) == 1, comments(source)
        # Non-printable characters are escaped, so the comment is the text's repr-like form: one line, all of it.
        assert found[0].startswith("# ") and "{{ 7*7 }}" in found[0] and "\\x00" in found[0]
        assert ast.literal_eval('"' + found[0][2:].replace('"', '\\"') + '"') == flat
    else:  # "$schema" is not part of the output
        body = lambda s: output.split_header(s.encode())[3]  # noqa: E731
        assert body(source) == body(reference)


def _string_pool(text: str, choice: str) -> dict:
    return {
        "name": "Pool", "doc": "Pooling chosen by a string.",
        "args": {"mode": {"type": "str", "default": "sum", "choices": [choice, "sum"]}},
        "forward": {"inputs": ["X"], "body": [
            {"if": f"self.mode == {text!r}", "then": [{"return": "X.mean(dim=1)"}], "else": [{"return": "X.sum(dim=1)"}]},
        ]},
        "examples": [{"inputs": {"X": [2, 3]}}, {"args": {"mode": choice}, "inputs": {"X": [2, 3]}}],
    }


def test_a_string_in_forward_is_carried_as_a_literal(tmp_path):
    """A string compared in forward reaches the output as the same string constant (by repr)."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "pool.json").write_text(json.dumps(_string_pool("a.b-c_1", "a.b-c_1")), encoding="utf-8")
    result = cli(tmp_path)
    assert result.returncode == 0, result.stderr
    tree = ast.parse((tmp_path / "out" / "pool.py").read_text(encoding="utf-8"))
    compared = [n.comparators[0].value for n in ast.walk(tree) if isinstance(n, ast.Compare) and isinstance(n.comparators[0], ast.Constant)]
    assert compared == ["a.b-c_1"]


@pytest.mark.parametrize("text", [PAYLOADS[2], PAYLOADS[3], PAYLOADS[4], '"""', "\\", "' + str(X) + '"])
def test_a_hostile_string_in_forward_never_reaches_the_output(text, tmp_path):
    """Code in a compared string parses as a string (never code) and, being no choice of the argument,
    leaves the 'then' arm untested: refused (E409), nothing written."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "pool.json").write_text(json.dumps(_string_pool(text, "avg")), encoding="utf-8")
    result = cli(tmp_path)
    assert result.returncode == 2, result.stdout
    assert [line["code"] for line in error_lines(result.stderr)] == ["E409"], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["raise", "assert"])
def test_check_message_with_code_is_carried_as_a_literal(kind, baseline, tmp_path):
    """A raise or assert message is data: one string literal holding the text, never formatted, never code."""
    work = make_work(baseline, tmp_path)
    text = " ".join(PAYLOADS[:4]) + " {stride} %s " + ODD_TEXT
    check = {"if": "dilation > 1", "raise": "ValueError", "message": text} if kind == "raise" else {"assert": "dilation <= 1", "message": text}
    edit("basic_block", put(["checks", 1], check))(work)
    result = cli(work)
    assert result.returncode == 0, result.stderr
    source = (work / "out" / "basic_block.py").read_text(encoding="utf-8")
    assert_no_injected_code(source, (baseline / "out" / "basic_block.py").read_text(encoding="utf-8"))
    tree = ast.parse(source)
    if kind == "raise":
        messages = [n.exc.args[0] for n in ast.walk(tree) if isinstance(n, ast.Raise)]
    else:
        messages = [n.msg for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert any(isinstance(m, ast.Constant) and m.value == text for m in messages), [ast.dump(m) for m in messages]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]


def _gate_input(stem: str):
    from codegen import analyse, generate

    blocks = generate.analyse_folder(SPECS)
    by_name = {b.name: b for b in blocks.values()}
    return (GENERATED / f"{stem}.py").read_text(encoding="utf-8"), analyse.dependencies(blocks[stem], by_name)


@pytest.mark.parametrize("old,new,fragment", [
    ('raise ValueError("BasicBlock only supports groups=1 and base_width=64")', 'raise ValueError(f"{groups}")', "JoinedStr|with a literal message"),
    ('raise ValueError("BasicBlock only supports groups=1 and base_width=64")', "raise ValueError(str(groups))", "raise of something other"),
    ('raise ValueError("BasicBlock only supports groups=1 and base_width=64")', 'raise SystemExit("x")', "raise of something other"),
    ('raise NotImplementedError("Dilation > 1 not supported in BasicBlock")', "assert dilation <= 1, str(dilation)", "assert without a literal message"),
])
def test_gate_refuses_formatted_or_foreign_raises(old, new, fragment):
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("basic_block")
    gate.check(source, chain, "out/basic_block.py")  # the real output passes
    assert old in source
    with pytest.raises(SpecError, match=fragment) as caught:
        gate.check(source.replace(old, new), chain, "out/basic_block.py")
    assert caught.value.code == "E900"


def test_gate_refuses_a_dunder_or_undeclared_helper_method():
    import copy

    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("squeeze_excitation")
    gate.check(source, chain, "out/squeeze_excitation.py")
    with pytest.raises(SpecError, match="defines"):  # a method the spec does not declare
        gate.check(source.replace("def _scale(", "def _other(").replace("self._scale(", "self._other("), chain, "out/x.py")
    dunder = copy.deepcopy(chain)
    dunder[-1].methods[0].name = "__call__"  # even if the analyser let one through
    with pytest.raises(SpecError, match="method __call__ in"):
        gate.check(source.replace("def _scale(", "def __call__(").replace("self._scale(", "self.__call__("), dunder, "out/x.py")
    module_attribute = copy.deepcopy(chain)
    module_attribute[-1].methods[0].name = "train"  # a public method may not override nn.Module's
    with pytest.raises(SpecError, match="method train in"):
        gate.check(source.replace("def _scale(", "def train(").replace("self._scale(", "self.train("), module_attribute, "out/x.py")


def test_gate_places_strings_in_forward():
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("mlp")
    gate.check(source, chain, "out/mlp.py")
    line = "return self.out(F.relu(self.hidden(X)))"
    for tampered, fragment in (
        ('return self.out(F.relu(self.hidden(X))) * len("x")', "string 'x' in forward"),
        ('return self.out(F.relu(self.hidden(X))) if X.sum() == "a" else X', "string 'a' in forward"),
        ('code = "import os"\n        return self.out(F.relu(self.hidden(X)))', "string 'import os' in forward"),
    ):
        with pytest.raises(SpecError, match=fragment) as caught:
            gate.check(source.replace(line, tampered), chain, "out/mlp.py")
        assert caught.value.code == "E900"
    # The places the renderer writes one: a keyword's value, and == against self.<attribute>.
    gate.check(source.replace(line, 'return self.out(F.gelu(self.hidden(X), approximate="tanh"))'), chain, "out/mlp.py")
    gate.check(source.replace(line, 'return self.out(X) if self.training == "x" else X'), chain, "out/mlp.py")


def test_gate_checks_the_registration_order():
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("convnext_block")
    gate.check(source, chain, "out/convnext_block.py")
    start = source.index("        self.gamma = (")
    end = source.index("\n\n", start)  # gamma and its init run to the end of __init__
    gamma = source[start:end + 1]
    first = source.replace(gamma, "").replace("        super().__init__()\n", "        super().__init__()\n" + gamma)
    with pytest.raises(SpecError, match=r"registers \['gamma', 'dwconv'.*the spec's order is \['dwconv'"):
        gate.check(first, chain, "out/convnext_block.py")
    dwconv, norm = "        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)\n", "        self.norm = nn.LayerNorm(dim, eps=1e-06)\n"
    with pytest.raises(SpecError, match=r"registers \['norm', 'dwconv'"):
        gate.check(source.replace(dwconv + norm, norm + dwconv), chain, "out/convnext_block.py")


@pytest.mark.parametrize("stem, pattern, new, message", [
    ("seq2seq_decoder", r"enc_all_outputs: tuple\[torch.Tensor, torch.Tensor\]", "enc_all_outputs: torch.Tensor", "init_state's enc_all_outputs is annotated torch.Tensor"),
    ("seq2seq_decoder", r"enc_all_outputs: tuple\[torch.Tensor, torch.Tensor\]", "*enc_all_outputs", "init_state takes"),
    ("stacked_rnn_scratch", r"(Hs: [^=]+)= None", r"\1= []", "defaults other than None"),
    ("stacked_rnn_scratch", r"Hs: [^=]+=", "Hs: 'os.system' =", "Hs is annotated 'os.system'"),
    ("stacked_rnn_scratch", r"(Hs: [^=]+= None)", r"\1, **kw", "forward takes"),
])
def test_gate_checks_forward_and_method_signatures(stem, pattern, new, message):
    """forward and every method take self and the spec's inputs, each with its declared annotation and only None as a default."""
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input(stem)
    gate.check(source, chain, f"out/{stem}.py")
    tampered, count = re.subn(pattern, new, source, count=1)
    assert count == 1
    with pytest.raises(SpecError, match=re.escape(message)):
        gate.check(tampered, chain, f"out/{stem}.py")


@pytest.mark.parametrize("old,new,fragment", [
    ('"stage1", anynet_stage', 'str(groups), anynet_stage', "add_module without a literal name"),
    ('"stage1", anynet_stage', '"append", anynet_stage', "add_module name 'append'"),
    ('"stage1", anynet_stage', '"_modules", anynet_stage', "add_module name '_modules'"),
    ('"stage1", anynet_stage', '"stage9", anynet_stage', "names the children of self.net ['head', 'stage2', 'stage9'], the spec ['head', 'stage1', 'stage2']"),
    ('self.net.add_module(\n            "stage1"', 'self.add_module(\n            "stage1"', "self.add_module"),
    ('self.net.add_module(\n            "stage1"', 'self.net.stage2.add_module(\n            "stage1"', "not a declared layer"),
    ("        return self.net(X)", '        self.net.add_module("late", nn.ReLU())\n        return self.net(X)', "add_module outside RegNetX32.__init__"),
])
def test_gate_refuses_add_module_but_in_the_emitted_forms(old, new, fragment):
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("regnetx32")
    gate.check(source, chain, "out/regnetx32.py")  # the real output passes
    assert old in source
    with pytest.raises(SpecError, match=re.escape(fragment)) as caught:
        gate.check(source.replace(old, new, 1), chain, "out/regnetx32.py")
    assert caught.value.code == "E900"


PWNED = "__import__('os').system('echo PWNED')"
MLP_FORWARD = "return self.out(F.relu(self.hidden(X)))"
MLP_OUT = "self.out = nn.Linear(256, 10)"


@pytest.mark.parametrize("stem, edits, fragment", [
    # A builtin aliased under an innocent name, then called: in a builder's carried argument, in a class's derived local.
    ("vgg_block", [("in_channels = out_channels", "in_channels = eval"),
                   ("nn.MaxPool2d(kernel_size=2", f"nn.MaxPool2d(kernel_size=in_channels({PWNED!r}) + 2")], "assignment 'in_channels = eval' in builder vgg_block"),
    ("regnetx32", [("groups = 16", "groups = eval"), ("channels[0], groups, bot_mul", f"channels[0], groups({PWNED!r}), bot_mul")], "name eval in RegNetX32"),
    ("regnetx32", [("groups = 16", 'groups = __builtins__["eval"]("16")')], "name __builtins__ in RegNetX32"),
    ("regnetx32", [("groups = 16", "groups = object")], "name object in RegNetX32"),
    ("regnetx32", [("groups = 16", "groups = super")], "name super in RegNetX32"),
    ("regnetx32", [("groups = 16", "groups = type")], "name type in RegNetX32"),
    ("regnetx32", [("def __init__(self, num_classes: int = 10)", "def __init__(self, num_classes: int = open)")], "name open in RegNetX32"),
    ("vgg_block", [("in_channels = out_channels", 'in_channels = "16"')], "assignment \"in_channels = '16'\" in builder vgg_block"),
    ("vgg_block", [("for _ in range(num_convs)", f"for _ in map(exec, [{PWNED!r}])")], "in vgg_block, which the renderer never reads there"),
    # What torch and F expose besides the catalogue: modules (os, builtins, importlib), loaders, private parts.
    ("regnetx32", [("groups = 16", 'groups = torch.os.system("echo PWNED") + 16')], "torch.os in RegNetX32"),
    ("regnetx32", [("groups = 16", 'groups = torch.builtins.eval("16")')], "torch.builtins in RegNetX32"),
    ("regnetx32", [("return self.net(X)", 'return self.net(torch.load("weights.pt"))')], "torch.load in RegNetX32"),
    ("regnetx32", [("return self.net(X)", 'return self.net(torch.hub.load("a/b", "c")(X))')], "torch.hub in RegNetX32"),
    ("regnetx32", [("return self.net(X)", "return self.net(torch.jit.script(self.net)(X))")], "torch.jit in RegNetX32"),
    ("regnetx32", [("return self.net(X)", "torch._C._jit_clear_class_registry()\n        return self.net(X)")], "torch._C in RegNetX32"),
    ("regnetx32", [("return self.net(X)", 'return self.net(F.importlib.import_module("os").getcwd())')], "F.importlib in RegNetX32"),
    ("regnetx32", [("return self.net(X)", "self._forward_hooks.clear()\n        return self.net(X)")], "private attribute _forward_hooks in RegNetX32"),
    ("regnetx32", [("return self.net(X)", "self.__init__()\n        return self.net(X)")], "private attribute __init__ in RegNetX32"),
    ("regnetx32", [("from torch import nn\n", "from torch import nn\nfrom torch import nn as tnn\n")], "import from torch"),
    # A module bound to another name or packed, to reach what torch.<name> would be refused for.
    ("mlp", [(MLP_FORWARD, 't = torch\n        t.load(f="/tmp/evil.pt", weights_only=False)\n        ' + MLP_FORWARD)], "torch as a value in MLP"),
    ("mlp", [(MLP_FORWARD, 'ops = (torch, F)\n        ops[0].hub.load(repo_or_dir="a/b", model="c")\n        ' + MLP_FORWARD)], "as a value in MLP"),
    ("mlp", [(MLP_FORWARD, "return self.out(F.relu(self.hidden(X.to(torch))))")], "torch as a value in MLP"),
    # After a tensor, a layer or self, only the catalogue's methods and what the renderer writes.
    ("mlp", [(MLP_OUT, MLP_OUT + '\n        torch.Tensor([105, 109]).byte().numpy().tofile("/tmp/evil.pth")')], "attribute .tofile in MLP"),
    ("mlp", [(MLP_OUT, MLP_OUT + '\n        self.out.weight.numpy().dump("/tmp/evil.pkl")')], "attribute .dump in MLP"),
    ("mlp", [(MLP_OUT, MLP_OUT + "\n        self.register_forward_hook(hook=self.out)")], "self.register_forward_hook in MLP"),
    ("mlp", [(MLP_FORWARD, "return self.out(F.relu(self.hidden(X))).apply_(float)")], "attribute .apply_ in MLP"),
    # Compile-time errors the parser leaves to the compiler.
    ("regnetx32", [("return self.net(X)", "break\n        return self.net(X)")], "'break' outside loop"),
    ("regnetx32", [("nn.Flatten()", "nn.Flatten(start_dim=1, start_dim=1)")], "keyword argument repeated"),
])
def test_gate_refuses_aliases_foreign_attributes_and_compile_errors(stem, edits, fragment):
    """A tampered file the renderer would never write: the gate refuses it (E900) before anything runs."""
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input(stem)
    gate.check(source, chain, f"out/{stem}.py")  # the real output passes
    for old, new in edits:
        assert source.count(old) >= 1, old
        source = source.replace(old, new, 1)
    with pytest.raises(SpecError, match=re.escape(fragment)) as caught:
        gate.check(source, chain, f"out/{stem}.py")
    assert caught.value.code == "E900"


def test_gate_refuses_a_duplicate_argument():
    """ast.parse accepts ``def f(self, x, x)``; the compiler does not, nor does the gate (even if the analyser let one through)."""
    import copy

    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("squeeze_excitation")
    duplicated = copy.deepcopy(chain)
    duplicated[-1].methods[0].inputs = ["input", "input"]
    old = "def _scale(self, input: torch.Tensor)"
    assert old in source
    with pytest.raises(SpecError, match="duplicate argument 'input'") as caught:
        gate.check(source.replace(old, "def _scale(self, input: torch.Tensor, input: torch.Tensor)"), duplicated, "out/x.py")
    assert caught.value.code == "E900"


def test_gate_refuses_add_module_in_a_builder():
    from codegen import gate
    from codegen.errors import SpecError

    source, chain = _gate_input("anynet_stem")
    gate.check(source, chain, "out/anynet_stem.py")
    old = "    return nn.Sequential(\n"
    assert old in source
    with pytest.raises(SpecError, match="add_module in anynet_stem"):
        gate.check(source.replace(old, '    nn.Sequential().add_module("x", nn.ReLU())\n' + old), chain, "out/anynet_stem.py")


def test_lookalike_letters_are_normalised_never_copied(baseline, tmp_path):
    """Python reads fullwidth 'ｓｅｌｆ' as 'self'; the output is the checked tree, so it says 'self'."""
    work = make_work(baseline, tmp_path)
    edit("mlp", put(FWD, "\uff53\uff45\uff4c\uff46.out(F.relu(self.hidden(X)))"))(work)
    result = cli(work)
    assert result.returncode == 0, result.stderr
    source = (work / "out" / "mlp.py").read_text(encoding="utf-8")
    assert source.isascii()
    assert "return self.out(F.relu(self.hidden(X)))" in source


# ---------------------------------------------------------------------------- hand edits are never lost


def test_hand_edit_refused_reported_and_forced(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    target = work / "out" / "mlp.py"
    target.write_bytes(target.read_bytes() + b"# my note\n")
    before = snapshot(work)

    result = cli(work)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: out/mlp.py: E503 was edited by hand" in result.stderr
    assert changed(before, snapshot(work)) == []

    check = cli(work, "--check")
    assert check.returncode == 1
    assert "EDITED (changed by hand): out/mlp.py" in check.stdout
    assert changed(before, snapshot(work)) == []

    forced = cli(work, "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes() == (baseline / "out" / "mlp.py").read_bytes()
    assert changed(before, snapshot(work)) == ["out/mlp.py"]


def test_foreign_file_refused_unless_forced(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    (work / "specs" / "zz_block.json").write_bytes((SPECS / "mlp.json").read_bytes().replace(b'"MLP"', b'"ZzBlock"'))
    mine = b"# written by hand, no codegen header\nVALUE = 1\n"
    (work / "out" / "zz_block.py").write_bytes(mine)
    before = snapshot(work)

    result = cli(work)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: out/zz_block.py: E503 exists and was not generated by codegen" in result.stderr
    assert changed(before, snapshot(work)) == []

    forced = cli(work, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (work / "out" / "zz_block.py").read_bytes().startswith(b"# Generated by codegen from specs/zz_block.json.")


def test_prune_deletes_only_untouched_generated_files(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    (work / "specs" / "mlp.json").unlink()  # nothing uses MLP
    (work / "specs" / "centered_layer.json").unlink()
    edited = work / "out" / "centered_layer.py"
    edited.write_bytes(edited.read_bytes() + b"# kept: someone's work\n")
    (work / "out" / "notes.py").write_bytes(b"# a foreign module\n")
    (work / "out" / "README.txt").write_bytes(b"hello\n")

    plain = cli(work)
    assert plain.returncode == 0, plain.stderr
    assert (work / "out" / "mlp.py").exists(), "deleted without --prune"

    before = snapshot(work)
    pruned = cli(work, "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "1 pruned" in pruned.stdout
    assert changed(before, snapshot(work)) == ["out/mlp.py"]
    assert not (work / "out" / "mlp.py").exists()
    assert edited.read_bytes().endswith(b"# kept: someone's work\n")


def test_failing_batch_writes_nothing(baseline, tmp_path):
    """Good specs changed (so they would be regenerated) plus one bad spec: out/ stays byte-identical."""
    work = make_work(baseline, tmp_path)
    for stem in ("mlp", "my_linear", "residual", "inception"):  # inception: googlenet is stale too
        edit(stem, lambda d: d.update(doc=d["doc"] + " Changed."))(work)
    edit("lenet", put(["layers", "net", "layers", 0, "args", "out_channels"], "__import__('os')"))(work)
    before = snapshot(work)
    result = cli(work, "--force", "--prune")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: specs/lenet.json: layers.net.layers[0].args.out_channels: E304" in result.stderr
    assert changed(before, snapshot(work)) == []

    check = cli(work, "--check")
    assert check.returncode == 2  # the bad spec is reported, not silently skipped
    shutil.copy(baseline / "specs" / "lenet.json", work / "specs" / "lenet.json")
    check = cli(work, "--check")
    assert check.returncode == 1
    assert {line.split(": ")[1] for line in check.stdout.splitlines() if line.startswith("STALE")} == {
        "out/mlp.py", "out/my_linear.py", "out/residual.py", "out/inception.py", "out/googlenet.py", "out/resnet18.py",
        "out/README.md",  # its sections of those blocks
    }


def test_failing_cold_run_creates_no_output_folder(baseline, tmp_path):
    """Into a folder that does not exist yet: the workers stage files there, and a failure removes all of it."""
    work = make_work(baseline, tmp_path)
    shutil.rmtree(work / "out")
    edit("lenet", put(["layers", "net", "layers", 0, "args", "out_channels"], "__import__('os')"))(work)
    before = snapshot(work)
    result = cli(work, "-j", "2")
    assert result.returncode == 2 and "E304" in result.stderr and "Traceback" not in result.stderr
    assert changed(before, snapshot(work)) == []
    assert not (work / "out").exists()


def test_refused_hand_edit_blocks_the_whole_batch(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    for stem in ("mlp", "my_linear"):
        edit(stem, lambda d: d.update(doc=d["doc"] + " Changed."))(work)
    target = work / "out" / "nin.py"
    target.write_bytes(target.read_bytes().replace(b"nn.ReLU()", b"nn.GELU()", 1))
    before = snapshot(work)
    result = cli(work)
    assert result.returncode == 2
    assert "error: out/nin.py: E503" in result.stderr
    assert changed(before, snapshot(work)) == []


# ---------------------------------------------------------------------------- known bugs elsewhere


def test_nested_loops_cannot_hang_generation(baseline, tmp_path):
    body: list = [{"assign": "X", "value": "F.relu(X)"}]
    for name in "abcd":  # 100**4 iterations if each loop is run
        body = [{"for": name, "in": "self.net", "body": body}]
    spec = {
        "name": "Loops", "doc": "Nested loops over 100 layers.",
        "layers": {"net": {"type": "ModuleList", "layers": [{"for": "i", "in": "range(100)", "layers": [{"type": "ReLU"}]}]}},
        "forward": {"inputs": ["X"], "body": body + [{"return": "X"}]},
        "example": {"inputs": {"X": [2, 3]}},
    }
    work = make_work(baseline, tmp_path)
    (work / "specs" / "loops.json").write_text(dump(spec))
    # Run, each loop would take hours (10**8 passes); refused, it takes a second. The limit is
    # far from both, so a loaded machine cannot fail it.
    result = cli(work)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "specs/loops.json" in result.stderr and "E408" in result.stderr


def test_single_spec_file_finds_the_specs_it_uses(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    (work / "out" / "chimera.py").unlink()
    result = cli(work, specs="specs/chimera.json")
    assert result.returncode == 0, result.stderr
    assert (work / "out" / "chimera.py").read_bytes() == (baseline / "out" / "chimera.py").read_bytes()


def test_error_in_used_block_is_reported_once_against_its_own_file(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    edit("vgg_block", put(["sequential", 0, "in"], "range(10**100)"))(work)
    result = cli(work)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert [(l["file"], l["path"], l["code"]) for l in lines] == [("specs/vgg_block.json", "sequential[0].in", "E324")]


def test_folder_named_like_a_spec_is_a_clear_error(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    (work / "specs" / "evil.json").mkdir()
    (work / "specs" / "evil.json" / "inside").write_text("{}")
    before = snapshot(work)
    result = cli(work)
    assert result.returncode == 2, result.stderr
    assert "specs/evil.json" in result.stderr and "Traceback" not in result.stderr
    assert changed(before, snapshot(work)) == []


def test_layer_condition_must_be_a_bool(baseline, tmp_path):
    work = make_work(baseline, tmp_path)
    edit("residual", put(["layers", "conv3", "if"], "'); import os; ('"))(work)
    result = cli(work)
    assert result.returncode == 2, (work / "out" / "residual.py").read_text()
    assert "specs/residual.json: layers.conv3.if: E323" in result.stderr


# ---------------------------------------------------------------------------- property: mutated specs


def main_in_process(*argv: str) -> tuple[int, str, str]:
    from codegen.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("failure", ["gate", "interrupt"])
def test_a_build_that_stops_midway_leaves_nothing(baseline, tmp_path, monkeypatch, failure, jobs):
    """Chunks before the failing one have staged files; an E900 or Ctrl-C must take them, and new folders, away.

    With two jobs the failure happens in a forked worker (which inherits the planted fault).
    """
    from codegen import gate, generate, render
    from codegen.errors import SpecError

    work = make_work(baseline, tmp_path)
    shutil.rmtree(work / "out")
    before = snapshot(work)
    if failure == "gate":
        check = gate.check

        def failing_check(source, chain, file):
            if str(file).endswith("lenet.json"):
                raise SpecError("E900", "generated code failed the AST gate: planted", file=str(file))
            return check(source, chain, file)

        monkeypatch.setattr(gate, "check", failing_check)
    else:
        format_source = render.format_source

        def interrupted(source):
            if "\nclass LeNet(" in source:  # midway in name order, whichever process formats it
                raise KeyboardInterrupt
            return format_source(source)

        monkeypatch.setattr(render, "format_source", interrupted)
    staged_before_discard = []
    discard = generate.discard

    def watched_discard(p):
        staged_before_discard.extend(name for name in os.listdir(p.out_dir) if name.endswith(".codegen.tmp"))
        return discard(p)

    monkeypatch.setattr(generate, "discard", watched_discard)
    code, _, err = main_in_process(str(work / "specs"), "-o", str(work / "build" / "gen" / "out"), "-j", jobs)
    assert code == (3 if failure == "gate" else 130), err
    assert staged_before_discard  # the chunks before the failing one had staged files: all taken away
    assert changed(before, snapshot(work)) == []
    assert not (work / "build").exists()


def locations(doc: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) in ``doc``, containers included."""
    found = [(path, doc)]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += locations(value, path + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += locations(value, path + (index,))
    return found


def dumps_duplicating(doc: Any, target: tuple, key: str, value: Any) -> str:
    """JSON text of ``doc`` whose object at ``target`` has ``key`` twice (the second time as ``value``)."""

    def enc(node: Any, path: tuple) -> str:
        if isinstance(node, dict):
            pairs = [f"{json.dumps(k)}: {enc(v, path + (k,))}" for k, v in node.items()]
            if path == target:
                pairs.append(f"{json.dumps(key)}: {json.dumps(value)}")
            return "{" + ", ".join(pairs) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(enc(v, path + (i,)) for i, v in enumerate(node)) + "]"
        return json.dumps(node)

    return enc(doc, ())


HOSTILE_TEXT = st.one_of(
    st.sampled_from(PAYLOADS + NAMES),
    st.text(max_size=30),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True),
    st.sampled_from(["X", "in_channels", "self.net", "range(3)", "(1, 2)", "X.abs().sum()", "True", "None", "-1", "2**31", "1e400", "'same'"]),
)
NUMBERS = st.one_of(
    st.integers(-3, 300),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2**31, 2**31 + 1, 10**12, 10**13, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
JSON_VALUES = st.recursive(
    st.one_of(NUMBERS, HOSTILE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(HOSTILE_TEXT, inner, max_size=3)),
    max_leaves=6,
)


def mutate(data: st.DataObject, doc: Any) -> str:
    """Apply one to three random mutations to ``doc``; return the JSON text to write.

    Besides hostile edits, some mutations are plausible (new prose, another
    size), so that a good share of runs succeed and their output is checked.
    """
    text = None
    for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]), label="mutations")):
        everything = locations(doc)
        strings = [(p, v) for p, v in everything if isinstance(v, str) and p]
        prose = [(p, v) for p, v in strings if p[-1] in ("doc", "$schema")]
        numbers = [(p, v) for p, v in everything if isinstance(v, (int, float)) and not isinstance(v, bool) and p]
        keyed = [(p, k) for p, v in everything if isinstance(v, dict) for k in v]
        lists = [(p, v) for p, v in everything if isinstance(v, list) and len(v) >= 2]
        kinds = ["retype"] + ["string"] * bool(strings) + ["prose"] * 3 * bool(prose) + ["number", "size", "size"] * bool(numbers)
        kinds += ["delete", "rename", "duplicate"] * bool(keyed) + ["swap"] * bool(lists)
        kind = data.draw(st.sampled_from(kinds), label="kind")
        event(f"mutation: {kind}")
        if kind in ("string", "prose"):
            path, old = data.draw(st.sampled_from(strings if kind == "string" else prose), label="string at")
            new = data.draw(HOSTILE_TEXT, label="text")
            how = data.draw(st.sampled_from(["replace", "append", "prepend"]), label="how")
            set_at(doc, list(path), new if how == "replace" else old + new if how == "append" else new + old)
        elif kind in ("number", "size"):
            path, _ = data.draw(st.sampled_from(numbers), label="number at")
            set_at(doc, list(path), data.draw(NUMBERS if kind == "number" else st.integers(1, 64), label="number"))
        elif kind == "retype":
            path, _ = data.draw(st.sampled_from([(p, v) for p, v in everything if p]), label="value at")
            set_at(doc, list(path), data.draw(JSON_VALUES, label="value"))
        elif kind == "delete":
            path, key = data.draw(st.sampled_from(keyed), label="delete at")
            del get_at(doc, list(path))[key]
        elif kind == "rename":
            path, key = data.draw(st.sampled_from(keyed), label="rename at")
            new = data.draw(HOSTILE_TEXT, label="new key")
            if new not in get_at(doc, list(path)):
                rename_key(get_at(doc, list(path)), key, new)
        elif kind == "swap":
            path, items = data.draw(st.sampled_from(lists), label="swap in")
            i = data.draw(st.integers(0, len(items) - 2), label="i")
            j = data.draw(st.integers(i + 1, len(items) - 1), label="j")
            items[i], items[j] = items[j], items[i]
        else:  # duplicate: the document is final, written with the key twice
            path, key = data.draw(st.sampled_from(keyed), label="duplicate at")
            text = dumps_duplicating(doc, path, key, data.draw(JSON_VALUES, label="value"))
            break
    return text if text is not None else json.dumps(doc, ensure_ascii=data.draw(st.booleans(), label="ascii"))


def shape_text(value: Any) -> str:
    from .test_blocks import shape_text as text

    return text(value)


def biggest_numel(block: Any) -> int:
    """The largest tensor the example's table or inputs mention."""
    sizes = [1]
    texts = [row.output for row in block.table] + [block.output_text]
    for text in texts:
        for dims in re.findall(r"\(([\d, ]+)\)", text):
            n = 1
            for d in dims.replace(" ", "").strip(",").split(","):
                n *= int(d) if d else 1
            sizes.append(n)
    for value in block.example["inputs"].values():
        n = 1
        for d in () if value is None else value["shape"] if isinstance(value, dict) else value:
            n *= d
        sizes.append(n)
    return max(sizes)


def check_generated(work: Path, stem: str) -> None:
    """out/<stem>.py parses, passes the gate, imports, builds from its example and gives the inferred shape."""
    import functools

    import torch
    from torch import nn

    from codegen import analyse, gate, generate, render

    from .test_blocks import make_input

    source = (work / "out" / f"{stem}.py").read_text(encoding="utf-8")
    ast.parse(source)
    blocks = generate.analyse_folder(work / "specs")
    by_name = {b.name: b for b in blocks.values()}
    block = blocks[stem]
    gate.check(source, analyse.dependencies(block, by_name), f"out/{stem}.py")
    name = f"_hostile_{stem}_{abs(hash(str(work)))}"
    spec = importlib.util.spec_from_file_location(name, work / "out" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        constructor = render.example_constructor(block, by_name)
        small = block.total_parameters <= 2_000_000 and biggest_numel(block) <= 2_000_000
        event("built on cpu" if small else "built on meta")
        device = torch.device("cpu") if small else torch.device("meta")
        with torch.device(device):
            namespace = {"nn": nn, "torch": torch, "partial": functools.partial, **vars(module)}
            if block.kind == "function":  # called with its example's arguments, as test_blocks calls it
                args = {k: tuple(v) if isinstance(v, list) else v for k, v in block.example.get("args", {}).items()}
                net = functools.partial(getattr(module, block.name), **args)
            else:
                net = eval(constructor, namespace)  # generator-built source
            inputs = [make_input(value) for value in block.example["inputs"].values()]
            with torch.no_grad():
                output = net(*inputs)
        assert shape_text(output) == block.output_text, (shape_text(output), block.output_text)
        declared = block.example.get("output")
        if declared is not None:
            assert tuple(output.shape) == tuple(declared)
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="session")
def property_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_specs_fail_cleanly_or_generate_working_code(data, baseline, property_root):
    stem = data.draw(st.sampled_from(STEMS), label="spec")
    doc = json.loads((baseline / "specs" / f"{stem}.json").read_text(encoding="utf-8"))
    text = mutate(data, doc)
    work = make_work(baseline, Path(tempfile.mkdtemp(dir=property_root)))
    (work / "specs" / f"{stem}.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    before = snapshot(work)
    code, stdout, stderr = main_in_process(str(work / "specs"), "-o", str(work / "out"), "-j", "1")
    after = snapshot(work)
    event(f"exit {code}")
    if code == 2:
        assert "Traceback" not in stderr
        lines = error_lines(stderr)
        assert lines and all(str(work) in line["file"] for line in lines), stderr
        assert changed(before, after) == [], "a failing run changed files"
    elif code == 0:
        modules = [p for p in changed(before, after) if p != "out/README.md"]  # the page changes with any module
        rewritten = [Path(p).stem for p in modules]
        assert all(p.startswith("out/") and p.endswith(".py") for p in modules), changed(before, after)
        for target in rewritten:
            check_generated(work, target)
    else:
        pytest.fail(f"exit {code} (3 is an internal error) on mutated {stem}.json:\n{stderr}\n{text[:2000]}")
    shutil.rmtree(work, ignore_errors=True)
