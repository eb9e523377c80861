"""``codegen init``: start a repository.

It writes, each only if it is not there yet:

* ``specs/mlp.json``, an example spec, when the spec folder holds no spec;
* ``specs/spec.schema.json``, a copy of codegen's JSON Schema, which every
  spec names in ``"$schema"``, so that editors complete and check specs
  without knowing where codegen is installed;
* the ``[tool.codegen]`` table, in pyproject.toml (created if need be).

The schema copy is an output like the generated files: after an upgrade of
codegen, ``codegen --check`` reports it stale and a plain run (``codegen``,
or ``codegen init``) refreshes it. The spec format's one source stays
codegen/spec.schema.json.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import config

SCHEMA_COPY = "spec.schema.json"  # in the spec folder; discovery skips *.schema.json
SCHEMA_SOURCE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "spec.schema.json")

EXAMPLE = """\
{
  "$schema": "spec.schema.json",
  "name": "MLP",
  "doc": "A hidden layer of 256 units with ReLU, then an output layer of 10 units.",
  "layers": {
    "hidden": {"type": "Linear", "args": {"in_features": 20, "out_features": 256}},
    "out": {"type": "Linear", "args": {"in_features": 256, "out_features": 10}}
  },
  "forward": {"inputs": ["X"], "body": [{"return": "self.out(F.relu(self.hidden(X)))"}]},
  "example": {"inputs": {"X": [2, 20]}, "output": [2, 10]}
}
"""

TABLE = """\
[tool.codegen]
specs = "{specs}"
output = "{output}"
"""


def schema_bytes() -> bytes:
    with open(SCHEMA_SOURCE, "rb") as handle:
        return handle.read()


def schema_copy_state(spec_dir: str) -> "tuple[str, str] | None":
    """(its path, "stale") if the spec folder's schema copy differs from codegen's schema; None if
    it is current or there is none (a folder without one has opted out)."""
    path = os.path.join(spec_dir, SCHEMA_COPY)
    try:
        with open(path, "rb") as handle:
            current = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if current == schema_bytes() else (path, "stale")


def write_atomically(path: str, data: bytes) -> None:
    import tempfile

    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".codegen.tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def main(argv: "list[str]") -> int:
    p = argparse.ArgumentParser(
        prog="codegen init",
        description="Start a repository: a spec folder with an example spec and a copy of the JSON "
        "Schema, and a [tool.codegen] table in pyproject.toml. Writes only what is missing "
        "(and refreshes a stale schema copy).",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=88),
    )
    p.add_argument("--specs", help="the spec folder (default: [tool.codegen] specs, else specs/)")
    p.add_argument("-o", "--output", help="the output folder for a new table (default: generated/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is missing or stale")
    args = p.parse_args(argv)
    settings = config.find()
    root = settings.root if settings else os.getcwd()
    spec_dir = args.specs or (settings.specs if settings else os.path.join(root, config.DEFAULT_SPECS))
    todo: list[tuple[str, str, bytes | None]] = []  # (what, path, bytes to write; None: append the table)
    if settings is None:
        specs = config.relative(spec_dir, root)
        output = config.relative(args.output or os.path.join(root, config.DEFAULT_OUTPUT), root)
        todo.append(("MISSING: [tool.codegen] in", os.path.join(root, "pyproject.toml"), None))
    copy = os.path.join(spec_dir, SCHEMA_COPY)
    if not os.path.exists(copy):
        todo.append(("MISSING:", copy, schema_bytes()))
    elif schema_copy_state(spec_dir):
        todo.append(("STALE (codegen's schema changed):", copy, schema_bytes()))
    has_specs = os.path.isdir(spec_dir) and any(
        name.endswith(".json") and not name.endswith(".schema.json") for name in os.listdir(spec_dir)
    )
    if not has_specs and not args.check:  # an example is no drift: --check does not ask for one
        todo.append(("MISSING:", os.path.join(spec_dir, "mlp.json"), EXAMPLE.encode()))
    if args.check:
        for what, path, _ in todo:
            print(f"{what} {shown(path)}")
        return 1 if todo else 0
    os.makedirs(spec_dir, exist_ok=True)
    for what, path, data in todo:
        if data is not None:
            write_atomically(path, data)
            print(f"{'refreshed' if what.startswith('STALE') else 'wrote'} {shown(path)}")
        else:
            table = TABLE.format(specs=specs, output=output)
            try:
                with open(path, "rb") as handle:
                    before = handle.read()
            except FileNotFoundError:
                before = b""
            text = before.decode("utf-8")
            if text and not text.endswith("\n"):
                text += "\n"
            write_atomically(path, (text + ("\n" if text else "") + table).encode("utf-8"))
            print(f"{'added [tool.codegen] to' if before else 'wrote'} {shown(path)}")
    if not todo:
        print("nothing to do: the spec folder, its schema copy and [tool.codegen] are in place")
    else:
        print("next: `codegen` generates the output; `pytest --codegen` tests it", file=sys.stderr)
    return 0


def shown(path: str) -> str:
    return config.relative(path, os.getcwd())
