"""Load and validate: bytes -> JSON -> checked against the JSON Schema.

The schema (codegen/spec.schema.json) is the one source of truth for the
structure of a spec; editors use the same file through the spec's
``"$schema"`` key. This module adds what JSON Schema cannot say: duplicate
keys, non-finite numbers, and error messages that name the place.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import SpecError, json_path
from .output import MODULE_STEM

SCHEMA_PATH = Path(__file__).with_name("spec.schema.json")
MAX_SPEC_BYTES = 1_000_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class RawSpec:
    path: Path  # as given on the command line, for messages
    stem: str
    data: bytes
    doc: dict[str, Any]


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 12:
        raise ValueError(f"integer {text[:20]}... is too large")
    return int(text)


def _key_lines(text: str, key: str) -> str:
    """The lines where ``key`` appears as a key (json gives no positions to object hooks)."""
    needle = json.dumps(key)
    lines = []
    index = text.find(needle)
    while index >= 0 and len(lines) < 10:
        if text[index + len(needle):].lstrip().startswith(":"):
            lines.append(str(text.count("\n", 0, index) + 1))
        index = text.find(needle, index + 1)
    return ", ".join(lines)


def parse_json(path: Path, data: bytes) -> dict[str, Any]:
    name = str(path)
    if not data.strip():
        raise SpecError("E100", "the file is empty", file=name)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError("E100", f"the file is larger than {MAX_SPEC_BYTES} bytes", file=name)
    if data.startswith(b"\xef\xbb\xbf"):
        raise SpecError("E102", "the file starts with a UTF-8 byte order mark; save it as UTF-8 without BOM", file=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError("E101", f"not UTF-8: byte {data[exc.start]:#04x} at offset {exc.start}", file=name) from None
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
        )
    except _DuplicateKey as exc:
        key = str(exc)
        where = _key_lines(text, key)
        raise SpecError("E104", f"duplicate key {key!r}" + (f" (as a key on lines {where})" if where else ""), file=name) from None
    except json.JSONDecodeError as exc:
        raise SpecError("E103", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=name) from None
    except (ValueError, RecursionError) as exc:
        raise SpecError("E105", f"invalid JSON value: {exc}", file=name) from None
    if _depth(doc) > MAX_DEPTH:
        raise SpecError("E106", f"nesting deeper than {MAX_DEPTH} levels", file=name)
    return doc


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar 0, ``[]`` 1, ``[[]]`` 2, ...), counted up to just past MAX_DEPTH."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, level + 1))
    return deepest


@lru_cache(maxsize=1)
def _full_validator() -> Any:
    import jsonschema  # only to explain a failure: it reports every error, with paths
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
        # As the compiled validator does: "$" ends the string ("x\n" is not a name).
        anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
        if validator.is_type(instance, "string") and not re.search(anchored, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    # A JSON integer is written without a fraction: 2.0 is not a shape dimension.
    strict = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern}, type_checker=strict)
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return cls(schema)


def _has_integral_float(doc: Any) -> bool:
    """Does ``doc`` hold a float such as 2.0, which the compiled schema takes for an integer?"""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _mismatch(errors: list[Any]) -> int:
    """How plainly a oneOf or anyOf branch does not describe the value: wrong type, foreign keys, missing keys."""
    score = 0
    for error in errors:
        if error.relative_path:  # inside the value: the branch fits, a detail is wrong
            continue
        if error.validator == "type":
            score += 1000
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            score += len(set(error.instance) - set(error.schema.get("properties", {})))
        elif error.validator == "required":
            score += 1
    return score


def _leaf(error: Any) -> Any:
    """The error to report; through a oneOf or anyOf, the one of the branch the value was evidently meant for."""
    from jsonschema.exceptions import best_match, relevance

    while error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        # Then the branch with fewer wrong details: [2.0, 20] is one bad shape, not a pair of two bad shapes.
        scored = sorted(((_mismatch(errors), len(errors)), index) for index, errors in branches.items())
        if len(scored) > 1 and scored[0][0] == scored[1][0]:
            return best_match(error.context)  # no branch stands out
        error = max(branches[scored[0][1]], key=relevance)
    return error


_CODES = {
    "additionalProperties": "E201",
    "required": "E202",
    "type": "E203",
    "pattern": "E204",
    "enum": "E205",
}


def validate(doc: Any, file: str) -> list[SpecError]:
    """Every schema error of one document, each with its JSON path.

    The schema compiled by fastjsonschema accepts or rejects in microseconds;
    only a rejected document pays for jsonschema, which lists all its errors.
    """
    from . import _schema_validator as compiled

    first = None
    try:
        compiled.validate(doc)
        if not _has_integral_float(doc):
            return []
    except compiled.JsonSchemaValueException as exc:
        first = exc

    errors: list[SpecError] = []
    for error in sorted(_full_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        errors.append(_describe(_leaf(error), file))
    if not errors and first is not None:  # the two validators disagree: report the compiled one's error
        path = json_path(int(p) if p.isdigit() else p for p in first.path[1:]) if first.path else ""
        errors.append(SpecError(_CODES.get(first.rule or "", "E200"), first.message.replace("data.", "", 1), file, path))
    return errors


def _describe(error: Any, file: str) -> SpecError:
    path = json_path(error.absolute_path)
    code = _CODES.get(error.validator, "E200")
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        from .errors import did_you_mean

        hint = did_you_mean(extra[0], allowed) if extra else ""
        message = f"unknown key {', '.join(map(repr, extra))}{hint}; allowed: {', '.join(allowed)}"
    elif error.validator == "pattern" or (error.validator == "propertyNames"):
        message = f"{error.instance!r} is not a valid name (expected {error.schema.get('pattern', 'an identifier')})"
    else:
        found = json.dumps(error.instance, ensure_ascii=True)
        if len(found) > 60:
            found = found[:57] + "..."
        message = error.message
        shown = repr(error.instance)
        if len(shown) > 60 and message.startswith(shown):  # "'aaaa...' is too long": keep what is wrong
            message = shown[:57] + "..." + message[len(shown):]
        if len(message) >= 160:
            message = message[:157] + "..."
        if error.validator in ("maxLength", "minLength", "maxItems", "minItems"):
            message += f" ({error.validator} {error.validator_value})"
        message = f"{message} (found {found})"
    return SpecError(code, message, file=file, path=path)


def load(path: Path) -> RawSpec:
    """Read, parse and schema-check one spec; raise SpecError or ErrorList."""
    from .errors import ErrorList

    name = str(path)
    stem = path.stem
    if path.suffix != ".json" or not MODULE_STEM.match(stem) or keyword.iskeyword(stem):
        raise SpecError("E332", f"file name {path.name!r} must be <module_name>.json, lower case, [a-z0-9_], not a Python keyword", file=name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError("E100", f"cannot read: {exc.strerror}", file=name) from None
    doc = parse_json(path, data)
    errors = validate(doc, name)
    if errors:
        raise ErrorList(errors)
    return RawSpec(path=path, stem=stem, data=data, doc=doc)
