"""docs/spec-format.md's catalogue section is what tools/catalogue_doc.py makes of codegen/catalogue.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import re

from codegen import catalogue

from .conftest import ROOT


def tool():
    spec = importlib.util.spec_from_file_location("catalogue_doc", ROOT / "tools" / "catalogue_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_section_is_in_step_with_the_catalogue():
    doc = tool()
    text = doc.DOC.read_text(encoding="utf-8")
    assert doc.updated(text) == text, "run: python tools/catalogue_doc.py"


def test_every_entry_is_listed_once():
    doc = tool()
    text = doc.DOC.read_text(encoding="utf-8")
    section = text.split(doc.START, 1)[1].split(doc.END, 1)[0]
    listed = re.findall(r"^- `(?:nn\.|x\.)?([\w.]+)\(", section, re.M)
    assert sorted(listed) == sorted([*catalogue.LAYERS, *catalogue.FUNCTIONS, *catalogue.METHODS])


def test_a_catalogue_change_without_the_docs_is_caught(monkeypatch):
    """The check compares with the catalogue as it is: a new default, a new layer, a removed method each fail it."""
    doc = tool()
    text = doc.DOC.read_text(encoding="utf-8")
    linear = catalogue.LAYERS["Linear"]
    changed = dataclasses.replace(linear, params=(*linear.params[:2], dataclasses.replace(linear.params[2], default=False)))
    for layers, methods in (
        ({**catalogue.LAYERS, "Linear": changed}, catalogue.METHODS),
        ({**catalogue.LAYERS, "Mish": catalogue.LAYERS["ReLU"]}, catalogue.METHODS),
        (catalogue.LAYERS, {k: v for k, v in catalogue.METHODS.items() if k != "abs"}),
    ):
        monkeypatch.setattr(catalogue, "LAYERS", layers)
        monkeypatch.setattr(catalogue, "METHODS", methods)
        assert doc.updated(text) != text


def test_kinds_read_as_python_types():
    doc = tool()
    assert doc.kind_text("int|ints:2") == "int | tuple[int, int]"
    assert doc.kind_text("padding:1") == "int | tuple[int] | 'same' | 'valid'"
    assert doc.kind_text("size:2?") == "int | tuple[int | None, int | None] | None"
    assert doc.kind_text("str:none|tanh") == "'none' | 'tanh'"
