"""The JSON Schema is the one source of truth for the spec format."""

from __future__ import annotations

import json

import jsonschema

from codegen import load, schema_validator

from .conftest import SPECS


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(load.SCHEMA_PATH.read_text()))


def test_compiled_validator_is_in_step_with_the_schema():
    assert schema_validator.COMPILED.read_text(encoding="utf-8") == schema_validator.compiled_source(), (
        "run: python -m codegen.schema_validator"
    )


def test_every_spec_names_the_schema_and_passes_both_validators():
    validator = jsonschema.Draft202012Validator(json.loads(load.SCHEMA_PATH.read_text()))
    for path in sorted(SPECS.glob("*.json")):
        if path.name == "spec.schema.json":  # the schema's copy, which the specs name (see codegen/init.py)
            assert path.read_bytes() == load.SCHEMA_PATH.read_bytes()
            continue
        doc = json.loads(path.read_text())
        assert doc["$schema"] == "spec.schema.json"
        assert not list(validator.iter_errors(doc)), path
        assert load.validate(doc, str(path)) == []


def test_both_validators_reject_the_same_mistakes():
    doc = json.loads((SPECS / "mlp.json").read_text())
    doc["layers"]["hidden"]["argz"] = {}
    errors = load.validate(doc, "mlp.json")
    assert [e.code for e in errors] == ["E201"]
    assert errors[0].path == "layers.hidden" and "'argz'" in errors[0].message and "did you mean 'args'" in errors[0].message


def test_trailing_newline_in_a_name_is_rejected():
    doc = json.loads((SPECS / "mlp.json").read_text())
    doc["name"] = "MLP\n"
    errors = load.validate(doc, "mlp.json")
    assert errors and errors[0].path == "name"
