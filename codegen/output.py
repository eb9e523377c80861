"""Headers, fingerprints and writing.

Each generated file starts with a header that names its spec, says how to
regenerate it, and records two digests:

* the *inputs* fingerprint: the spec's bytes, the bytes of every spec it
  uses, the generator's own source and templates, and black's version;
* the *body* digest: sha256 of the file below the header.

A matching fingerprint and body digest means there is nothing to do, which
the up-to-date path decides without importing black, jinja2 or torch. A
body that no longer matches its digest was edited by hand and is never
overwritten without ``--force``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from functools import lru_cache

from .errors import SpecError

if False:  # for type checkers only
    from .cache import StatCache

try:  # CPython's own SHA-256: importing hashlib initialises OpenSSL, 4 ms of a 50 ms run
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import sha256

# This module is on the up-to-date path: only light imports here (no
# dataclasses, typing, tempfile or even pathlib, which costs 8 ms of a 50 ms
# run through urllib.parse), so a run with nothing to do starts fast. Paths
# are plain strings, joined with ``join`` and printed as pathlib would.

GENERATOR_ROOT = os.path.dirname(os.path.realpath(__file__))
TEMPLATES = os.path.join(os.path.dirname(GENERATOR_ROOT), "templates")
HEADER_LINES = 3
MODULE_STEM = re.compile(r"[a-z_][a-z0-9_]*")  # always with fullmatch: "$" would let "x\n" through
# A stem's files: "<stem>.py", and the staged ".<stem>.<token>.<random>.codegen.tmp" (about 45 more
# characters), must fit the 255 bytes a file name may have.
MAX_STEM = 128
MAX_SPEC_BYTES = 1_000_000  # a spec is refused past this size, before it is read
MAX_OUTPUT_BYTES = 64_000_000  # what is read of a file in the output folder, at most
# "uses" lists the specs the file was built from besides its own, so that the
# up-to-date check can recompute the fingerprint without parsing any JSON.
FINGERPRINT = re.compile(r"# codegen-fingerprint: inputs=([0-9a-f]{32}) body=([0-9a-f]{32})(?: uses=([a-z0-9_,]+))?")


def stem_problem(stem: str) -> "str | None":
    """Why ``stem`` cannot name a spec and its module (None: it can).

    A generated ``typing.py`` or ``torch.py`` would shadow the real module for
    anything run from the output folder, and ``__init__.py`` would make the
    folder a package: such names are refused, not generated.
    """
    if not MODULE_STEM.fullmatch(stem):
        return "must be <module_name>.json, lower case, [a-z0-9_], not a Python keyword"
    if len(stem) > MAX_STEM:
        return f"must be <module_name>.json with a name of at most {MAX_STEM} characters (it has {len(stem)})"
    import keyword  # small, and only reached for a valid name

    if keyword.iskeyword(stem):
        return "must be <module_name>.json, lower case, [a-z0-9_], not a Python keyword"
    if stem in sys.stdlib_module_names or stem in SHADOWED or (stem.startswith("__") and stem.endswith("__")):
        what = "a dunder module" if stem.startswith("__") else "torch" if stem in SHADOWED else f"the standard library module {stem!r}"
        better = (stem.strip("_") or "block") + "_block"
        return f"would generate {stem}.py, which shadows {what} for code run beside it (did you mean '{better}.json'?)"
    return None


# Modules generated code imports, besides the standard library: a file of that name beside it would be imported instead.
SHADOWED = frozenset({"torch"})


def short_digest(data: bytes) -> str:
    """The first 128 bits of SHA-256, in hex: the digests in headers and in the stat cache."""
    return sha256(data).hexdigest()[:32]


@lru_cache(maxsize=1)
def generator_digest() -> bytes:
    """Everything of ours that shapes the output: code, schema, templates, black's version."""
    h = sha256()
    files = [(GENERATOR_ROOT, name) for name in sorted(os.listdir(GENERATOR_ROOT)) if name.endswith(".py")]
    files.append((GENERATOR_ROOT, "spec.schema.json"))
    files += [(TEMPLATES, name) for name in sorted(os.listdir(TEMPLATES)) if name.endswith(".jinja")]
    for folder, name in files:
        with open(os.path.join(folder, name), "rb") as handle:
            h.update(name.encode() + b"\0" + handle.read() + b"\0")
    h.update(black_version().encode())
    return h.digest()


def black_version() -> str:
    """black's installed version, from its dist-info folder: importing black costs 0.16 s."""
    for entry in sys.path:
        if os.path.isdir(os.path.join(entry or ".", "black")):
            found = [n for n in os.listdir(entry or ".") if n.startswith("black-") and n.endswith(".dist-info")]
            if len(found) == 1:
                return found[0][len("black-") : -len(".dist-info")]
            break
    from importlib.metadata import PackageNotFoundError, version  # unusual layouts only

    try:
        return version("black")
    except PackageNotFoundError:
        return "missing"


def inputs_fingerprint(spec_digests: "list[str]", spec_dir_name: str) -> str:
    """From the ``short_digest`` of each spec's bytes, in the order of ``closure``."""
    h = _fingerprint_base(spec_dir_name).copy()
    h.update("".join(spec_digests).encode())
    return h.hexdigest()[:32]  # one hash, not two: the up-to-date check computes a thousand of these


@lru_cache(maxsize=4)
def _fingerprint_base(spec_dir_name: str):  # -> a sha256 hash object
    """What every fingerprint of a folder starts from (a thousand outputs share it)."""
    h = sha256(generator_digest())
    h.update(spec_dir_name.encode("utf-8", "backslashreplace") + b"\0")
    return h


def safe_path_text(text: str) -> str:
    """A path for a comment: kept as is if printable, else as an escaped repr."""
    return text if text.isprintable() and text.isascii() else ascii(text)


def header(spec_dir_name: str, stem: str, fingerprint: str, body: str, uses: "list[str]") -> str:
    where = safe_path_text(f"{spec_dir_name}/{stem}.json")
    command = safe_path_text(f"python -m codegen {spec_dir_name}/")
    return (
        f"# Generated by codegen from {where}. Do not edit: change the spec and run `{command}`.\n"
        f"# This file is plain PyTorch and needs nothing of codegen at run time.\n"
        f"# codegen-fingerprint: inputs={fingerprint} body={short_digest(body.encode())}"
        + (f" uses={','.join(uses)}" if uses else "")
        + "\n"
    )


class Existing:
    """What is on disk at an output path."""

    __slots__ = ("state", "fingerprint", "data", "uses")

    def __init__(self, state: str, fingerprint: str = "", data: "bytes | None" = b"", uses: "tuple[str, ...]" = ()) -> None:
        self.state = state  # "missing", "generated" (header and digest intact), "edited", "foreign", "symlink"
        self.fingerprint = fingerprint
        self.data = data  # None when the stat cache vouched for the file and it was not read
        self.uses = uses  # the other specs it was built from, as its header records them


def join(folder: str, name: str) -> str:
    """``folder/name`` as ``str(Path(folder) / name)`` prints it (``folder`` already clean)."""
    return name if folder == "." else folder + name if folder.endswith(os.sep) else folder + os.sep + name


def clean(path: str) -> str:
    """``path`` as ``str(pathlib.Path(path))`` prints it: no empty or "." parts; ".." kept, as a symlink may precede it."""
    # POSIX keeps exactly two leading slashes (implementation-defined), and so does pathlib.
    head = "//" if path.startswith("//") and not path.startswith("///") else os.sep if path.startswith(os.sep) else ""
    return head + os.sep.join(part for part in path.split(os.sep) if part not in ("", ".")) or "."


def folder_name(folder: str) -> str:
    """``Path(folder).name``: the last part ("" for "." or "/")."""
    return "" if folder in (".", os.sep) else os.path.basename(folder)


def inspect_target(out_dir: str, stem: str, entry: "os.DirEntry | None", cache: "StatCache | None" = None) -> Existing:
    """What is at ``<out_dir>/<stem>.py`` (``entry``: its listing, None if absent), refusing a symlink or a non-file there.

    ``stem`` matches MODULE_STEM (no separators, no dots), so the path cannot
    leave the folder; only a symlink could redirect it, and one lstat tells.
    That lstat also keys the stat cache: a file it vouches for is not read.
    """
    if not MODULE_STEM.fullmatch(stem) or len(stem) > MAX_STEM:
        raise SpecError("E332", f"{stem!r} is not a module name", file=str(out_dir))
    if entry is None:
        return Existing("missing")
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return Existing("missing")
    if stat.S_ISLNK(st.st_mode):
        path = join(out_dir, entry.name)
        if os.path.dirname(os.path.realpath(path)) != os.path.realpath(out_dir):
            raise SpecError("E501", f"{path} would resolve outside the output folder; refusing to write through it", file=str(path))
        raise SpecError("E501", f"{path} is a symlink; refusing to write through it", file=str(path))
    if not stat.S_ISREG(st.st_mode):
        # A folder (or a device, a socket) where the file goes: never replaced, not even with --force.
        path = join(out_dir, entry.name)
        raise SpecError("E504", f"{path} exists and is not a regular file; refusing to replace it", file=str(path))
    key = "out/" + entry.name
    if cache is not None:
        known = cache.get(key, st)
        if known is not None and len(known) == 2:
            return Existing("generated", known[0], None, tuple(known[1].split(",")) if known[1] else ())
    existing = inspect_file(entry.path)
    if cache is not None and existing.state == "generated":  # intact: what its header says is worth keeping
        cache.put(key, st, [existing.fingerprint, ",".join(existing.uses)])
    return existing


def listing(folder: str, suffix: str, hidden: bool = False) -> "dict[str, os.DirEntry]":
    """The entries of ``folder`` whose names end with ``suffix``, by name ({} if there is no such folder).

    Hidden names (a leading dot) only with ``hidden``. One scandir instead of
    a Path and an lstat a file: pathlib costs more than the system calls here.
    """
    try:
        with os.scandir(folder) as entries:
            return {e.name: e for e in entries if e.name.endswith(suffix) and (hidden or not e.name.startswith("."))}
    except (FileNotFoundError, NotADirectoryError):
        return {}


class NotRegular(OSError):
    """A symlink, FIFO, device, socket or folder where a regular file was expected."""


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_regular(path: str, limit: "int | None" = None) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``), never following a symlink.

    Opened with O_NONBLOCK and checked with fstat before a byte is read: a
    FIFO put where a file was expected would otherwise block the run
    forever, and a huge (or sparse) file is cut at ``limit`` rather than read
    whole. Raises NotRegular (errno ELOOP or EINVAL), or another OSError.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise NotRegular(errno.ELOOP, "is a symlink", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(errno.EINVAL, "is not a regular file", path)
        # One read for the whole file (asking one byte more shows the end), more only if it grew meanwhile.
        want = st.st_size + 1 if limit is None else min(st.st_size + 1, limit)
        data = os.read(fd, want)
        if len(data) < want:
            return data
        chunks = [data]
        got = len(data)
        while limit is None or got < limit:
            chunk = os.read(fd, 65536 if limit is None else min(65536, limit - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def inspect_file(path: str) -> Existing:
    """What is at ``path``: missing, a symlink, or its bytes and whether its header and digest are intact.

    Anything but a regular file (a FIFO, a device) is "foreign" and never opened for reading.
    """
    try:
        data = read_regular(path, MAX_OUTPUT_BYTES)  # a larger file is not ours: its first bytes tell it apart
    except FileNotFoundError:
        return Existing("missing")
    except NotRegular as exc:
        return Existing("symlink" if exc.errno == errno.ELOOP else "foreign", data=None)
    except OSError:
        return Existing("foreign")
    lines = data.split(b"\n", HEADER_LINES)
    if len(lines) <= HEADER_LINES or not lines[0].startswith(b"# Generated by codegen from "):
        return Existing("foreign", data=data)
    match = FINGERPRINT.fullmatch(lines[HEADER_LINES - 1].decode("utf-8", "replace"))
    if match is None:
        return Existing("foreign", data=data)
    inputs, body_digest, uses = match.groups()
    if short_digest(lines[HEADER_LINES]) != body_digest:
        return Existing("edited", inputs, data)
    return Existing("generated", inputs, data, tuple(uses.split(",")) if uses else ())


# ------------------------------------------------------------------ references between specs


_CLASS_WORD = re.compile(r"\b[A-Z][A-Za-z0-9_]*")
_PROSE = frozenset({"doc", "message", "$schema"})


def referenced_types(doc: object) -> set[str]:
    """Every layer "type" in a parsed spec, the function specs it calls, and the class names its
    expressions may use as layer classes ("SelectPool", partial(Block, k=1)): a cheap walk, no
    validation; names that are no spec's are dropped by the caller."""
    found: set[str] = set()
    functions = doc.get("functions") if isinstance(doc, dict) else None
    if isinstance(functions, list):
        found.update(name for name in functions if isinstance(name, str))
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            kind = value.get("type")
            if isinstance(kind, str):
                found.add(kind)
            stack.extend(v for k, v in value.items() if k not in _PROSE)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            found.update(_CLASS_WORD.findall(value))
    return found


def closure(stem: str, uses: dict[str, set[str]]) -> list[str]:
    """``stem`` and the stems it uses, transitively, sorted (cycles tolerated)."""
    seen = {stem}
    stack = [stem]
    while stack:
        for used in uses.get(stack.pop(), ()):
            if used not in seen:
                seen.add(used)
                stack.append(used)
    return sorted(seen)


# ------------------------------------------------------------------ writing


def check_output_dir(out_dir: str, spec_dir: str) -> None:
    if os.path.islink(out_dir):
        raise SpecError("E501", "the output folder is a symlink; refusing to write through it", file=out_dir)
    out_resolved = os.path.realpath(out_dir)
    spec_resolved = os.path.realpath(spec_dir)
    if spec_resolved == out_resolved or spec_resolved.startswith(out_resolved.rstrip(os.sep) + os.sep):
        raise SpecError("E502", f"the output folder may not be or contain the specs folder {spec_dir}", file=out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SpecError("E504", "the output path exists and is not a folder", file=out_dir)


STAGED_SUFFIX = ".codegen.tmp"


def stage(path: str, data: bytes, token: str) -> str:
    """Write ``data`` to a new temporary file beside ``path``; ``os.replace`` then puts it in place atomically.

    The name is hidden (a leading dot), names the target and carries the
    run's ``token``, so a failed run finds and removes all it staged, and a
    run killed outright leaves only files that are plain to recognise.
    """
    import tempfile  # not on the up-to-date path

    folder, name = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name[: -len('.py')]}.{token}.", suffix=STAGED_SUFFIX)
    except OSError as exc:  # a read-only or full folder: name the folder, not the temporary file that never was
        raise OSError(exc.errno, exc.strerror, folder or ".") from None
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0o600 would make generated files private
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        discard(tmp)
        raise
    return tmp


def staged_by(name: str, token: str) -> bool:
    """Is ``name`` (a file name in an output folder) a file staged by the run with ``token``?"""
    return name.startswith(".") and name.endswith(STAGED_SUFFIX) and f".{token}." in name


def discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def quick_parse(data: bytes) -> "dict | None":
    """A spec's JSON without validation, for planning what to rebuild; None if unparsable."""
    import json  # not on the up-to-date path, which reads no JSON

    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None
