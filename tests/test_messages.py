"""Messages that point at the fix: did-you-mean only for plausible typos, hints for what a
spec author most likely meant, and one error for one mistake."""

from __future__ import annotations

import json

import pytest

from codegen.errors import did_you_mean

from .conftest import SPECS
from .test_cli import codegen

MLP = json.loads((SPECS / "mlp.json").read_text())


def spec_error(tmp_path, edit) -> list[str]:
    doc = json.loads(json.dumps(MLP))
    edit(doc)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mlp.json").write_text(json.dumps(doc))
    result = codegen("specs/", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


def forward(expr):
    return lambda d: d["forward"]["body"].__setitem__(0, {"return": expr})


def test_string_argument_without_inner_quotes_gets_a_hint(tmp_path):
    conv = {"type": "Conv2d", "args": {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": "same"}}
    lines = spec_error(tmp_path, lambda d: d["layers"].update(conv=conv))
    assert lines == [
        "error: specs/mlp.json: layers.conv.args.padding: E303 unknown name 'same'"
        " (a string needs quotes inside the JSON string: \"'same'\")"
    ]


@pytest.mark.parametrize(
    "expr, message",
    [
        ("self.out(F.relu(self.hidden(X))).max()", "E304 unknown tensor method .max()"),  # not 'softmax'
        ("torch.add(self.out(F.relu(self.hidden(X))), 1)", "E304 unknown function torch.add (write the operator: a + b)"),
        ("self.out(F.relu(self.hidden(X2)))", "E303 unknown name 'X2' (did you mean 'X'?)"),
    ],
)
def test_suggestions_are_plausible(tmp_path, expr, message):
    (line,) = spec_error(tmp_path, forward(expr))
    assert line.endswith(message), line


def test_did_you_mean_compares_within_a_namespace():
    assert did_you_mean("c3", ["c1", "in_channels"]) == " (did you mean 'c1'?)"
    assert did_you_mean("max", ["softmax", "sum"]) == ""
    assert did_you_mean("torch.add", ["torch.cat", "torch.stack"]) == ""
    assert did_you_mean("torch.stak", ["torch.cat", "torch.stack", "F.stack"]) == " (did you mean 'torch.stack'?)"
    assert did_you_mean("F.rlu", ["F.relu", "torch.relu"]) == " (did you mean 'F.relu'?)"


def test_a_wrong_default_is_one_error_not_two(tmp_path):
    def edit(d):
        d["args"] = {"units": {"type": "int", "default": 2.5}}
        d["layers"]["out"]["args"]["out_features"] = "units"
        d["example"].pop("output")

    assert spec_error(tmp_path, edit) == ["error: specs/mlp.json: args.units.default: E323 default 2.5 is not a int"]


def test_the_docs_example_messages_are_real(tmp_path):
    """docs/spec-format.md shows two errors: each is what codegen prints for the edit it describes."""
    import shutil

    docs = (SPECS.parent / "docs" / "spec-format.md").read_text(encoding="utf-8")
    shown = [line for line in docs.splitlines() if line.startswith("error: specs/")]
    shutil.copytree(SPECS, tmp_path / "specs")
    lenet = json.loads((SPECS / "lenet.json").read_text())
    lenet["layers"]["net"]["layers"][9]["args"]["in_features"] = 100
    residual = json.loads((SPECS / "residual.json").read_text())
    residual["examples"] = residual["examples"][:1]  # only the example that takes the 1x1 convolution
    (tmp_path / "specs" / "lenet.json").write_text(json.dumps(lenet))
    (tmp_path / "specs" / "residual.json").write_text(json.dumps(residual))
    result = codegen("specs/", "--check", cwd=tmp_path)
    assert result.returncode == 2
    assert sorted(shown) == sorted(result.stderr.strip().splitlines())


def test_readme_layout_names_every_module_and_folder():
    root = SPECS.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    for path in sorted((root / "codegen").iterdir()):
        if path.suffix in (".py", ".json") and path.name != "__init__.py":
            assert f"`{path.name}`" in layout, path.name
    for folder in ("codegen/", "templates/", "specs/", "generated/", "tests/", "bench/"):
        assert f"`{folder}` —" in layout, folder
    assert "`codegen/` — the generator" in layout and "render.py` + `templates/`" not in layout


def test_ambiguous_variable_name_is_refused_with_a_hint(tmp_path):
    """l, O and I read like 1 and 0: generated code is promised lint-clean (ruff's E741), so a spec
    must name a local or an argument otherwise; the message says how."""
    body = [{"assign": "l", "value": "self.hidden(X)"}, {"return": "self.out(F.relu(l))"}]
    lines = spec_error(tmp_path, lambda d: d["forward"].__setitem__("body", body))
    assert lines == [
        "error: specs/mlp.json: forward.body[0].assign: E319 variable 'l' is ambiguous: l, O and I read like"
        " 1 and 0, and linters flag them (pycodestyle E741); give it a longer name, as specs/lstm_scratch.json"
        " names its gates I_gate and O_gate"
    ]


def test_ambiguous_names_are_fine_where_no_linter_reads_a_variable():
    from codegen.expressions import check_identifier

    for what in ("member", "ModuleDict key", "child name prefix"):  # self.l, {"l": ...}, "l" + str(i)
        check_identifier("l", what, "layers.l")
