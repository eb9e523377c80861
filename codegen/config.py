"""A repository's settings and root: ``[tool.codegen]`` in pyproject.toml.

The table is found as black and ruff find theirs, walking up from the working
directory to the first ``pyproject.toml`` that has one::

    [tool.codegen]
    specs = "specs"        # the spec folder, relative to pyproject.toml
    output = "generated"   # the output folder, relative to pyproject.toml
    jobs = 4               # worker processes (default: one per core)

Options given on the command line win over the table. Paths in headers are
written from the repository root (the table's folder, else the nearest folder
above the specs holding pyproject.toml, .git or .hg), so that the command a
header names works from there whatever folder the tool was run from.
"""

from __future__ import annotations

import os

from .errors import SpecError

# This module is on the up-to-date path: tomllib is imported only when a pyproject.toml has the table.

TABLE = b"[tool.codegen]"
DEFAULT_SPECS = "specs"
DEFAULT_OUTPUT = "generated"
ROOT_MARKERS = ("pyproject.toml", ".git", ".hg")
KEYS = {"specs": str, "output": str, "jobs": int}


class Config:
    __slots__ = ("root", "file", "specs", "output", "jobs")

    def __init__(self, root: str, file: str, specs: str, output: str, jobs: "int | None") -> None:
        self.root = root  # the folder holding pyproject.toml
        self.file = file  # pyproject.toml itself, for messages
        self.specs = specs  # absolute
        self.output = output  # absolute
        self.jobs = jobs


def find(start: str = ".", use_cache: bool = False) -> "Config | None":
    """The first ``[tool.codegen]`` table in a pyproject.toml at or above ``start``, or None.

    With ``use_cache``, a table parsed before from the same bytes is read back from codegen's
    cache folder (cache.recall_settings) instead of importing the TOML parser.
    """
    folder = os.path.abspath(start)
    while True:
        path = os.path.join(folder, "pyproject.toml")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            data = b""
        if TABLE in data:  # a cheap test before the TOML parser is imported
            config = parse(data, path, use_cache)
            if config is not None:
                return config
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def parse(data: bytes, path: str, use_cache: bool = False) -> "Config | None":
    from . import cache
    from .output import short_digest

    key = short_digest(data)
    remembered = cache.recall_settings(key) if use_cache else None
    table = remembered if remembered is not None else _table(data, path)
    if not isinstance(table, dict):
        return None  # the text appeared, but in a string or a comment
    config = _checked(table, path)  # a remembered table is checked again: the cache may only spare the parse
    if use_cache and remembered is None:
        cache.remember_settings(key, table)
    return config


def _table(data: bytes, path: str) -> "dict | None":
    import tomllib

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError("E110", f"not valid TOML: {exc}", file=path) from None
    table = doc.get("tool", {}).get("codegen") if isinstance(doc.get("tool"), dict) else None
    return table if isinstance(table, dict) else None


def _checked(table: dict, path: str) -> Config:
    for key, value in table.items():
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError("E110", f"unknown key {key!r}{hint}; allowed: {', '.join(KEYS)}", file=path, path=f"tool.codegen.{key}")
        if not isinstance(value, KEYS[key]) or isinstance(value, bool):
            raise SpecError("E110", f"{key} must be a {KEYS[key].__name__}", file=path, path=f"tool.codegen.{key}")
    jobs = table.get("jobs")
    if jobs is not None and jobs < 1:
        raise SpecError("E110", "jobs must be at least 1", file=path, path="tool.codegen.jobs")
    root = os.path.dirname(path)
    return Config(
        root,
        path,
        os.path.normpath(os.path.join(root, table.get("specs", DEFAULT_SPECS))),
        os.path.normpath(os.path.join(root, table.get("output", DEFAULT_OUTPUT))),
        jobs,
    )


def repository_root(spec_dir: str, config: "Config | None" = None) -> str:
    """The folder a header's paths are written from: the config's, else the nearest marked one above the specs."""
    spec_dir = os.path.abspath(spec_dir)
    if config is not None and inside(spec_dir, config.root):
        return config.root
    folder = start = os.path.dirname(spec_dir)
    while True:
        if any(os.path.exists(os.path.join(folder, marker)) for marker in ROOT_MARKERS):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start  # nothing marks a repository: the folder holding the specs
        folder = parent


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def relative(path: str, root: str) -> str:
    """``path`` as written from ``root`` (with "/"), or absolute if it lies outside."""
    path = os.path.abspath(path)
    if not inside(path, root):
        return path
    return os.path.relpath(path, root).replace(os.sep, "/")


def origin(spec_dir: str, out_dir: str, config: "Config | None" = None) -> "tuple[str, str]":
    """(the spec folder, the command that regenerates the output), both as written from the repository root."""
    root = repository_root(spec_dir, config)
    specs = relative(spec_dir, root)
    command = f"python -m codegen {specs}/" if specs != "." else "python -m codegen ."
    out = relative(out_dir, root)
    if out != DEFAULT_OUTPUT:
        command += f" -o {out}/" if out != "." else " -o ."
    return specs, command
