"""generated/README.md: what it says of every block is true, its pictures show the forward, and it is
written, checked, kept and refused like any other output."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from codegen import diagram, overview, portability, render
from codegen.__main__ import main

from .conftest import GENERATED, SPECS, STEMS, analysed, import_generated
from .test_blocks import shape_text  # torch's output as the docstrings show shapes
from .test_blocks import build  # the block (or the function, its arguments bound) and inputs of an example

README = GENERATED / "README.md"
TOOL_NAMES = {"`torch.export`": "export", "`torch.jit.script`": "script", "`torch.compile(fullgraph=True)`": "compile"}


def sections() -> dict[str, str]:
    return {stem: text for stem, (_, text) in overview.sections_of(README.read_bytes()).items()}


def claims(section: str) -> dict[str, str]:
    """tool -> "works", "fails" or "unknown", as the section states it."""
    found = {}
    for line in section.splitlines():
        match = re.fullmatch(r"- (`[^`]+`): (works|fails: .+|unknown: .+)", line)
        if match and match.group(1) in TOOL_NAMES:
            found[TOOL_NAMES[match.group(1)]] = match.group(2).split(":")[0]
    assert sorted(found) == ["compile", "export", "script"], section
    return found


def mermaid(section: str) -> str:
    match = re.search(r"^```mermaid\n(.*?)\n```$", section, re.M | re.S)
    assert match, section
    return match.group(1)


# ------------------------------------------------------------------ what it says is true


class Calls(nn.Module):
    """A function spec inside a module, for torch.export (which takes modules only)."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)


def _works(tool: str, net, inputs: tuple, function=None) -> str | None:
    """None if ``tool`` takes ``net`` (for a function spec: ``function``, ``net`` its example's call), else torch's error."""
    try:
        if tool == "export":
            with warnings.catch_warnings():  # nn.RNN's own flat weights, which export notes and copes with
                warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights", category=UserWarning)
                torch.export.export(Calls(net) if function is not None else net, inputs)
        elif tool == "script":
            torch.jit.script(function if function is not None else net)
        else:
            torch._dynamo.reset()
            with torch.no_grad():  # capture is what fullgraph decides; without autograd aot_eager traces half as much
                torch.compile(net, fullgraph=True, backend="aot_eager")(*inputs)
    except Exception as exc:  # torch raises many kinds; any of them means "does not take it"
        return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
    return None


@pytest.mark.parametrize("stem", STEMS)
def test_compile_matrix_agrees_with_torch(stem):
    """torch.export, torch.jit.script and torch.compile(fullgraph=True, backend="aot_eager") on the block as its
    example builds it, in eval mode: each works exactly where README.md says it does.

    About 32 s of CPU for the 20 specs on the 2-core CI machine (compile 18 s, export 9 s, script 2 s; in
    training mode, with autograd, compile alone took 34 s).
    """
    stated = claims(sections()[stem])
    assert "unknown" not in stated.values(), f"{stem}: teach codegen/portability.py the construct ({stated})"
    net, inputs = build(stem)
    function = None
    if analysed()[stem].kind == "function":
        function = getattr(import_generated(stem), analysed()[stem].name)
    else:
        net.eval()
        with torch.no_grad():
            net(*inputs)  # as a user would before exporting: lazy layers get their shapes from a first call
    for tool, claim in stated.items():
        error = _works(tool, net, tuple(inputs), function)
        assert (error is None) == (claim == "works"), f"{stem}: README says {tool} {claim}, torch says {error or 'works'}"


def test_every_spec_has_a_section_in_order_with_its_doc_table_and_matrix():
    found = sections()
    assert list(found) == STEMS
    for stem, text in found.items():
        block = analysed()[stem]
        assert text.splitlines()[1] == f"## `{block.name}` ([{stem}.py]({stem}.py))"
        assert overview.markdown_text(overview.summary(block.doc)) in text.splitlines()
        assert f"| total | `{block.output_text}` | {block.total_parameters:,} |" in text
        for row in block.table:
            assert f"| `{row.name}` | `{row.output}` | {row.parameters:,} |" in text
        mermaid(text)
        claims(text)


@pytest.mark.parametrize("stem", STEMS)
def test_usage_example_runs_and_gives_the_stated_shape(stem):
    """The two lines, run as they are printed, build the block and give the output shape in their comment."""
    text = sections()[stem]
    code = re.search(r"^```python\n(.*?)\n```$", text, re.M | re.S).group(1).splitlines()
    assert len(code) == 2
    namespace = {"torch": torch, "nn": nn, **vars(import_generated(stem))}
    exec("\n".join(code), namespace)  # the page's own example, from a file this repository generated
    assert code[1].endswith(f"# {shape_text(namespace['y'])}")


# ------------------------------------------------------------------ the pictures


def graph(source: str) -> tuple[dict[str, str], list[tuple[str, str, str, bool]], dict[str, str]]:
    """(node -> label, edges (source, target, label, dotted), subgraph -> title); fails on any other kind of line."""
    nodes, edges, boxes = {}, [], {}
    lines = source.splitlines()
    assert lines[0] == "flowchart TD"
    label = r'"([^"]*)"'
    for line in lines[1:]:
        line = line.strip()
        if m := re.fullmatch(r"(n\d+)(?:\[|\(\(|\(\[|\[\()" + label + r"(?:\]|\)\)|\]\)|\)\])", line):
            nodes[m.group(1)] = m.group(2)
        elif m := re.fullmatch(r"(n\d+) (-->|-\.->)(?:\|" + label + r"\|)? ([ns]\d+)", line):
            edges.append((m.group(1), m.group(4), m.group(3) or "", m.group(2) == "-.->"))
        elif m := re.fullmatch(r"subgraph (s\d+) \[" + label + r"\]", line):
            boxes[m.group(1)] = m.group(2)
        else:
            assert line == "end", line
    return nodes, edges, boxes


LABEL = re.compile(r"[A-Za-z0-9_ .,:()\[\]+\-*/%=!@~?#;]*")


@pytest.mark.parametrize("stem", STEMS)
def test_diagram_is_well_formed_with_allowlisted_labels(stem):
    nodes, edges, boxes = graph(mermaid(sections()[stem]))
    for text in [*nodes.values(), *boxes.values(), *(e[2] for e in edges)]:
        assert LABEL.fullmatch(text) and "<" not in text and ">" not in text, text
    for source, target, _, _ in edges:
        assert source in nodes and (target in nodes or target in boxes)
    block = analysed()[stem]
    assert [label for label in nodes.values() if label in block.inputs] and "output" in nodes.values()


def _incoming(edges, node):
    return [e for e in edges if e[1] == node]


def test_residual_shows_the_optional_shortcut_and_the_residual_add():
    nodes, edges, boxes = graph(mermaid(sections()["residual"]))
    assert list(boxes.values()) == ["if conv3 is not None"]
    add = next(n for n, text in nodes.items() if text == "+")
    assert len(_incoming(edges, add)) == 2  # Y and the shortcut meet
    join = next(n for n, text in nodes.items() if text == "X" and _incoming(edges, n))
    assert sorted(e[2] for e in _incoming(edges, join)) == ["else", "if"]  # conv3(X), or X itself


def test_concatenation_and_loops_show():
    nodes, edges, _ = graph(mermaid(sections()["inception"]))
    cat = next(n for n, text in nodes.items() if text.startswith("torch.cat"))
    assert sorted(e[2] for e in _incoming(edges, cat)) == ["p1", "p2", "p3", "p4"]

    nodes, edges, boxes = graph(mermaid(sections()["dense_block"]))
    assert list(boxes.values()) == ["for blk in net"]
    cat = next(n for n, text in nodes.items() if text.startswith("torch.cat"))
    assert len(_incoming(edges, cat)) == 2
    assert any(e[2] == "next" and e[3] and e[0] == cat for e in edges)  # the loop carries X round

    nodes, edges, boxes = graph(mermaid(sections()["fixed_hidden_mlp"]))
    (title,) = boxes.values()
    assert title.startswith("while X.abs().sum() #gt; 1")
    assert any(e[3] and e[1] in boxes for e in edges)  # the test reads the tensor: a dotted edge into the loop


@dataclasses.dataclass
class Later:
    """A statement kind this generator does not know yet (the language grows)."""

    targets: list
    value: ast.expr
    path: str = "forward.body[9]"


def test_unknown_constructs_degrade_to_named_nodes_and_an_unknown_verdict():
    block = dataclasses.replace(analysed()["residual"])
    weird = ast.parse("X[0] if X else ~Y", mode="eval").body
    block.body = [Later(["X"], weird), *block.body]
    nodes, edges, _ = graph(diagram.flowchart(block))
    assert "later" in nodes.values()
    verdict = portability.predict(block, {block.name: block})
    assert all(why.startswith("unknown") for why in verdict.values()), verdict


# ------------------------------------------------------------------ nothing in a spec reaches the page as markup


HOSTILE = (
    '<img src=x onerror=alert(1)> <!-- ```mermaid\\n]]> | cell | [x](javascript:alert(1)) *em* _u_ '
    "http://evil.example www.evil.example a@b.example \\u202e \\u2028 # h"
)


def test_a_hostile_doc_is_text_on_one_line(tmp_path):
    shutil.copytree(SPECS, tmp_path / "specs")
    spec = tmp_path / "specs" / "mlp.json"
    text = spec.read_text()
    spec.write_text(re.sub(r'"doc": "[^"]*"', lambda m: f'"doc": "{HOSTILE}"', text, count=1))
    assert run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1")[0] == 0
    page = (tmp_path / "out" / "README.md").read_text()
    section = next(t for s, (_, t) in overview.sections_of(page.encode()).items() if s == "mlp")
    doc_line = section.splitlines()[3]
    assert doc_line.startswith("\\<img src=x onerror=alert(1)\\> \\<!")
    unescaped = re.findall(r"(?<!\\)(?:\\\\)*([<>`\[\]*_|@&#]|://|www\.)", doc_line)
    assert unescaped == [], unescaped  # each of these backslash-escaped: shown as text, never markup or a link
    assert "\u202e" not in doc_line and "\u2028" not in doc_line and "\n" not in doc_line
    # Every fence still pairs up, and no line outside the header opens an HTML comment or tag.
    body = page.split("\n", overview.HEADER_LINES)[overview.HEADER_LINES]
    fences = [line for line in body.splitlines() if line.startswith("```")]
    assert fences.count("```mermaid") == len(STEMS) and fences.count("```python") == len(STEMS)
    assert fences.count("```") == 2 * len(STEMS)
    assert not [line for line in body.splitlines() if line.startswith("<") and not line.startswith("<!-- codegen-block: ")]


def test_markdown_and_code_span_escapes():
    assert overview.markdown_text("1. a") == "1\\. a"
    assert overview.markdown_text("- a") == "\\- a"
    assert overview.markdown_text("a\nb\rc") == "a b c"
    assert overview.code_span("a``b") == "```a``b```"
    assert overview.code_span("`a") == "`` `a ``"
    for line in overview.header("sp--ecs", "0" * 32, "").splitlines():  # a folder name cannot end the comment
        assert line.startswith("<!-- ") and line.endswith(" -->") and "--" not in line[4:-3], line


def test_diagram_labels_cannot_carry_markup():
    assert diagram.label('a"]; click n1 "javascript:x" <b>') == '"a?]? click n1 ?javascript:x? #lt;b#gt;"'
    assert diagram.label("x" * 100).endswith('..."')


# ------------------------------------------------------------------ written and checked like any output


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    shutil.copytree(SPECS, tmp_path / "specs")
    # Into generated/ itself: a header names the command that wrote it, so a copy under out/ would be stale.
    shutil.copytree(GENERATED, tmp_path / "generated")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_missing_stale_edited_foreign_pruned_and_unchanged(work):
    page = work / "generated" / "README.md"
    committed = README.read_bytes()
    page.unlink()
    assert run("specs", "-o", "generated", "--check")[:2] == (1, f"MISSING: generated/README.md\n1 out of date, {len(STEMS)} up to date\n")
    assert run("specs", "-o", "generated", "-j", "1")[:2] == (0, f"1 generated, {len(STEMS)} unchanged\n")
    assert page.read_bytes() == committed  # rendered here from the specs alone, as the workers render it
    before = page.stat()
    assert run("specs", "-o", "generated")[:2] == (0, f"0 generated, {len(STEMS) + 1} unchanged\n")
    assert (page.stat().st_mtime_ns, page.stat().st_ino) == (before.st_mtime_ns, before.st_ino)  # not rewritten

    page.write_bytes(committed.replace(b"AlexNet for", b"AlexNet, for"))
    assert "EDITED (changed by hand): generated/README.md" in run("specs", "-o", "generated", "--check")[1]
    code, _, err = run("specs", "-o", "generated")
    assert code == 2 and "E503" in err and "README.md" in err
    assert page.read_bytes() != committed  # refused: left as it was
    assert run("specs", "-o", "generated", "--force")[0] == 0 and page.read_bytes() == committed

    page.write_text("# Our own notes\n")
    assert "NOT GENERATED (a file codegen did not write): generated/README.md" in run("specs", "-o", "generated", "--check")[1]

    page.write_bytes(committed)
    (work / "specs" / "mlp.json").unlink()
    assert run("specs", "-o", "generated", "--prune")[0] == 0
    assert not (work / "generated" / "mlp.py").exists() and page.exists()
    assert "codegen-block: mlp " not in page.read_text() and "codegen-block: lenet " in page.read_text()
    assert run("specs", "-o", "generated", "--check")[0] == 0


def test_a_failing_spec_leaves_the_page_as_it_was(work):
    page = work / "generated" / "README.md"
    (work / "specs" / "lenet.json").write_text(
        (work / "specs" / "lenet.json").read_text().replace('"out_features": 84', '"out_features": 86')
    )
    (work / "specs" / "mlp.json").write_text("{")
    before = page.read_bytes()
    assert run("specs", "-o", "generated")[0] == 2
    assert page.read_bytes() == before
    assert not [p for p in (work / "generated").iterdir() if p.name.startswith(".")]  # nothing staged is left


def test_one_file_run_leaves_the_page_alone(work):
    """Generating one spec of a folder knows nothing of the others' sections: the page is not touched."""
    page = work / "generated" / "README.md"
    page.unlink()
    assert run("specs/mlp.json", "-o", "generated")[0] == 0
    assert not page.exists()


def test_sections_round_trip():
    data = README.read_bytes()
    found = overview.sections_of(data)
    body = overview.page_body("specs", [text for _, text in found.values()])
    assert body == data.decode().split("\n", overview.HEADER_LINES)[overview.HEADER_LINES]


# ------------------------------------------------------------------ constructs no spec of specs/ uses yet


NEW_SPECS = {
    "masked_softmax": {
        "kind": "function", "name": "masked_softmax", "doc": "Softmax over the last axis, scaled.",
        "args": {"scale": {"type": "float", "default": 1.0}},
        "forward": {"inputs": ["X"], "body": [{"return": "F.softmax(X * scale, dim=-1)"}]},
        "example": {"args": {"scale": 2.0}, "inputs": {"X": [2, 3, 4]}},
    },
    "stack": {
        "name": "Stack", "doc": "A ModuleList run with enumerate, an optional mask, a ModuleDict head, a function spec.",
        "args": {"n": {"type": "int"}},
        "functions": ["masked_softmax"],
        "layers": {
            "blks": {"type": "ModuleList", "layers": [
                {"for": "i", "in": "range(n)", "layers": [{"type": "Linear", "args": {"in_features": 8, "out_features": 8}}]}
            ]},
            "heads": {"type": "ModuleDict", "layers": {"a": {"type": "Linear", "args": {"in_features": 8, "out_features": 4}}}},
        },
        "forward": {"inputs": ["X", {"name": "mask", "default": None}], "body": [
            {"for": ["i", "blk"], "in": "enumerate(self.blks)", "body": [{"assign": "X", "value": "blk(X) + X"}]},
            {"assign": "Y", "value": "self.heads['a'](X)"},
            {"if": "mask is not None", "then": [{"assign": "Y", "value": "Y * mask"}]},
            {"return": "masked_softmax(Y, scale=2.0) + self.blks[0](X).sum()"},
        ]},
        "examples": [{"args": {"n": 2}, "inputs": {"X": [2, 8], "mask": [2, 4]}}, {"args": {"n": 1}, "inputs": {"X": [2, 8], "mask": None}}],
    },
    "gated": {
        "name": "Gated", "doc": "Branches on a tensor's value.",
        "layers": {"linear": {"type": "Linear", "args": {"in_features": 4, "out_features": 4}}},
        "forward": {"inputs": ["X"], "body": [
            {"if": "X.sum() > 0", "then": [{"assign": "X", "value": "self.linear(X)"}], "else": [{"assign": "X", "value": "-X"}]},
            {"return": "X"},
        ]},
        "example": {"inputs": {"X": [2, 4]}},
    },
}


def test_new_constructs_are_drawn_predicted_and_checked(tmp_path):
    """Function specs, optional inputs, enumerate, ModuleDict and indexing, a branch on tensor values: the page's
    claims and usage lines hold against torch here too."""
    import functools
    import json

    from codegen.generate import analyse_folder

    from .test_blocks import make_input

    (tmp_path / "specs").mkdir()
    for stem, doc in NEW_SPECS.items():
        (tmp_path / "specs" / f"{stem}.json").write_text(json.dumps(doc))
    code, _, err = run(str(tmp_path / "specs"), "-o", str(tmp_path / "out"), "-j", "1")
    assert code == 0, err
    found = {s: t for s, (_, t) in overview.sections_of((tmp_path / "out" / "README.md").read_bytes()).items()}
    blocks = analyse_folder(tmp_path / "specs")
    by_name = {b.name: b for b in blocks.values()}
    stated = {stem: claims(text) for stem, text in found.items()}
    assert stated["gated"] == {"export": "fails", "script": "works", "compile": "fails"}
    assert stated["stack"] == {"export": "works", "script": "works", "compile": "works"}
    nodes, _, boxes = graph(mermaid(found["stack"]))
    assert "for i, blk in enumerate(blks)" in boxes.values() and "if mask is not None" in boxes.values()
    assert {"heads['a']", "blks[0]", "masked_softmax scale=2.0"} <= set(nodes.values())
    for stem, block in blocks.items():
        module = import_generated(stem, tmp_path / "out")
        inputs = tuple(make_input(v) for v in block.example["inputs"].values())
        function = None
        if block.kind == "function":
            function = getattr(module, block.name)
            net = functools.partial(function, **block.example.get("args", {}))
        else:
            net = eval(render.example_constructor(block, by_name), {"nn": nn, "torch": torch, **vars(module)}).eval()
            with torch.no_grad():
                net(*inputs)  # lazy layers get their shapes from a first call
        for tool, claim in stated[stem].items():
            error = _works(tool, net, inputs, function)
            assert (error is None) == (claim == "works"), f"{stem}: README says {tool} {claim}, torch says {error or 'works'}"
        usage = re.search(r"^```python\n(.*?)\n```$", found[stem], re.M | re.S).group(1)
        exec(usage, {"torch": torch, "nn": nn, **vars(module)})  # the page's own two lines run
