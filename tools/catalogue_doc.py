"""Write the layer, function and method catalogue of docs/spec-format.md from codegen/catalogue.py.

    python tools/catalogue_doc.py           # rewrite the marked section
    python tools/catalogue_doc.py --check   # exit 1 if the section is not what the catalogue gives

The section lies between the two marker comments (``START`` and ``END``); nothing else of the file
is touched. tests/test_catalogue_doc.py runs the check, so the docs cannot fall behind the
catalogue. (A repository tool, not part of the generator: kept out of codegen/, editing it does
not change the fingerprint of every generated file.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen import catalogue  # noqa: E402
from codegen.values import REQUIRED, Param  # noqa: E402

DOC = ROOT / "docs" / "spec-format.md"
START = "<!-- catalogue: start. Generated from codegen/catalogue.py by `python tools/catalogue_doc.py`; do not edit. -->"
END = "<!-- catalogue: end -->"


def kind_text(kind: str) -> str:
    """A catalogue kind as a Python-style type: ``int|ints:2`` -> ``int | tuple[int, int]``."""
    if kind.endswith("?"):
        return kind_text(kind[:-1]) + " | None"
    if "|" in kind and ":" not in kind and kind.split("|")[0] not in ("int",):  # "tensor|scalar", "dtype|device"
        return " | ".join(kind_text(part) for part in kind.split("|"))
    base, _, arg = kind.partition(":")
    n = int(arg) if arg and base != "str" else None
    ints = f"tuple[{', '.join(['int'] * n)}]" if n else "tuple[int, ...]"
    if base == "str":
        return " | ".join(repr(option) for option in arg.split("|"))
    return {
        "int": "int",
        "float": "float",
        "bool": "bool",
        "ints": ints,
        "int|ints": f"int | {ints}",
        "padding": f"int | {ints} | 'same' | 'valid'",
        "size": "int | " + (f"tuple[{', '.join(['int | None'] * n)}]" if n and n > 1 else ints),
        "norm": "float | 'fro' | 'nuc'",
        "tensor": "Tensor",
        "tensors": "tuple[Tensor, ...]",
        "scalar": "int | float | bool",
        "dtype": "torch.float32 | torch.long | torch.bool",
        "device": "torch.device",
        "any": "Any",
    }.get(base) or catalogue.describe_kind(kind)  # a kind added later: the catalogue's own words


def param_text(param: Param, varargs: str | None = None) -> str:
    if param.name == varargs:  # x.reshape(2, -1): the rest of the positional arguments
        return f"*{param.name}: int"
    text = f"{param.name}: {kind_text(param.kind)}"
    if param.default is catalogue.OMITTED:
        return f"[{text}]"
    if param.default is not REQUIRED:
        text += f" = {param.default!r}"
    return text


def signature(name: str, params: tuple[Param, ...], varargs: str | None = None, keyword_only: frozenset[str] = frozenset()) -> str:
    parts: list[str] = []
    for param in params:
        if param.name in keyword_only and "*" not in parts and not any(p.startswith("*") for p in parts):
            parts.append("*")
        parts.append(param_text(param, varargs))
    return f"{name}({', '.join(parts)})"


def section() -> str:
    lines = [
        START,
        "",
        "Types are written as Python annotations: `tuple[int, int]` is a JSON array of two ints, a string",
        "in quotes (`'same'`) is written in a spec with inner quotes (`\"'same'\"`). A parameter in square",
        "brackets may be left out, and torch treats leaving it out unlike any value it could be given.",
        "",
        f"### Layers ({len(catalogue.LAYERS)})",
        "",
        "A layer entry in `layers` names one of these as its `type`; its `args` are the constructor's.",
        "",
    ]
    for name, layer in sorted(catalogue.LAYERS.items()):
        line = f"- `{signature('nn.' + name, layer.params)}`; forward: `{signature('', layer.call)}`"
        if layer.inferred:
            line += f"; `{layer.inferred}` may be left out: it is inferred from the input (dim {layer.inferred_dim})"
        lines.append(line)
    lines += [
        "",
        f"### Functions ({len(catalogue.FUNCTIONS)})",
        "",
        "What a forward expression may call as `F.<name>` or `torch.<name>`.",
        "",
    ]
    for name, function in sorted(catalogue.FUNCTIONS.items()):
        lines.append(f"- `{signature(name, function.params, function.varargs, function.keyword_only)}`")
    lines += [
        "",
        f"### Tensor methods ({len(catalogue.METHODS)})",
        "",
        "What a forward expression may call on a tensor, as `X.<name>(...)`.",
        "",
    ]
    for name, method in sorted(catalogue.METHODS.items()):
        params = tuple(p for p in method.params if p.name != "self")
        text = signature(f"x.{name}", params, method.varargs, method.keyword_only)
        if method.varargs and not method.keyword_varargs:
            text += f"` (`{method.varargs}` by position only)"
            lines.append(f"- `{text}")
        else:
            lines.append(f"- `{text}`")
    lines += ["", END]
    return "\n".join(lines)


def updated(text: str) -> str:
    """``text`` (the doc) with its marked section replaced; the markers must each be there once."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"{DOC}: expected one {START!r} line followed by one {END!r} line")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + section() + after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the section is out of date")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    new = updated(text)
    if args.check:
        if new != text:
            print(f"{DOC.relative_to(ROOT)}: the catalogue section is out of date; run python tools/catalogue_doc.py")
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"{DOC.relative_to(ROOT)}: catalogue section rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
