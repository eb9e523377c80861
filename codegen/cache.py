"""What earlier runs learnt from files, keyed by their stat, kept outside the repository.

With a thousand specs, reading and hashing every spec and output costs more
than regenerating the one that changed. So, like make, git and black, a run
takes a file to be what it was when last read if its size, mtime, ctime and
inode are the ones recorded then, and reuses what it learnt: a spec's digest
and class name, an intact output's fingerprint and the specs it used.

Two rules keep this exact:

* A file whose mtime or ctime is within RACY_SECONDS of the run's start is
  never recorded: a second change within the same timestamp tick could
  leave all four figures equal (git's "racy clean" problem). Any later
  change moves the ctime, which no tool can set back (short of setting
  the system clock back; on a network filesystem whose server's clock
  lags by more than RACY_SECONDS, use --no-cache).
* Only what the file's bytes alone determine is recorded; what that means
  for the build (stale, edited, ...) is decided afresh on every run.

The file lives in $CODEGEN_CACHE_DIR, else $XDG_CACHE_HOME/codegen, else
~/.cache/codegen: one small text file per pair of spec and output folders.
A missing, unreadable or malformed cache counts as empty, and failing to
save one is silent; ``--no-cache`` ignores it altogether. So does a cache
folder that another user owns or could write to: whoever can write the
cache can make a run skip reading a file that changed. Even then the cache
can only spare reads: a file it vouches for that is to be replaced is read
first (generate.plan), so a hand edit is never overwritten on its word.
"""

from __future__ import annotations

import os
import re
import time

from .output import short_digest

FORMAT = "codegen-stat-cache 2"
CHECKSUM = "checksum "  # the last line: the short_digest of every line above it
RACY_SECONDS = 2.0


def _key(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class StatCache:
    """``get``/``put`` payloads (lists of plain strings) by name and stat; ``save`` once at the end."""

    def __init__(self, file: str | None) -> None:
        if file is not None and not _private(os.path.dirname(file), missing_ok=True):
            file = None  # a folder others can write to could vouch for files that changed
        self.file = file
        self.started_ns = time.time_ns()
        # name -> "key<TAB>payload..." as read: split only for the files this run meets (a thousand are not).
        self.entries: dict[str, str] = {}
        self.seen: set[str] = set()
        self.changed = False
        if file is not None:
            self.entries = _read(file)

    def get(self, name: str, st: os.stat_result) -> list[str] | None:
        self.seen.add(name)
        entry = self.entries.get(name)
        if entry is None:
            return None
        key = _key(st)
        if not entry.startswith(key) or entry[len(key) : len(key) + 1] != "\t":
            return None
        return entry[len(key) + 1 :].split("\t")

    def recorded(self, name: str) -> list[str] | None:
        """What was recorded for ``name``, whatever its stat now: a hint of what changed, never a fact."""
        entry = self.entries.get(name)
        return entry.split("\t")[1:] if entry is not None else None

    def put(self, name: str, st: os.stat_result, payload: list[str]) -> None:
        self.seen.add(name)
        racy = max(st.st_mtime_ns, st.st_ctime_ns) > self.started_ns - int(RACY_SECONDS * 1e9)
        if self.file is None or racy or not _storable(name) or any(not _storable(field) for field in payload):
            return
        entry = _key(st) + "\t" + "\t".join(payload)
        if self.entries.get(name) != entry:
            self.entries[name] = entry
            self.changed = True

    def save(self, forget_unseen: bool) -> None:
        """Write the cache if it learnt anything; ``forget_unseen`` drops files this run did not meet."""
        if forget_unseen and set(self.entries) - self.seen:
            self.entries = {k: v for k, v in self.entries.items() if k in self.seen}
            self.changed = True
        if self.file is None or not self.changed:
            return
        lines = [FORMAT] + [f"{name}\t{entry}" for name, entry in sorted(self.entries.items())]
        text = "\n".join(lines) + "\n"
        folder = os.path.dirname(self.file)
        tmp = None
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            if not _private(folder):
                return
            import tempfile  # only when there is something to save

            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".cache.", suffix=".tmp")  # never through a planted link
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + CHECKSUM + short_digest(text.encode("utf-8")) + "\n")
            os.replace(tmp, self.file)
        except (OSError, UnicodeError):  # a read-only home, a full disk: the next run reads the files instead
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def _private(folder: str, missing_ok: bool = False) -> bool:
    """Is ``folder`` ours alone: owned by this user, writable by no one else?"""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return missing_ok
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return owner_ok and not st.st_mode & 0o022


def _storable(field: str) -> bool:
    # Printable excludes tabs and line breaks (the file's separators) and lone surrogates (no UTF-8 for them).
    return field.isprintable()


def _read(file: str) -> dict[str, str]:
    """The entries of a cache file; {} unless it is whole and every entry well-formed.

    A checksum over the file catches truncation and flipped bytes (a damaged
    class name or digest would otherwise decide outcomes), and each entry's
    shape is checked as well: a damaged cache counts as empty, never as facts.
    """
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    body, _, last = data[:-1].rpartition(b"\n")
    body += b"\n"
    if not data.endswith(b"\n") or last != (CHECKSUM + short_digest(body)).encode():
        return {}
    try:
        lines = body.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return {}
    if lines[0] != FORMAT:
        return {}
    entries = {}
    for line in lines[1:-1]:
        name, tab, entry = line.partition("\t")
        if tab and _ENTRY.fullmatch(entry):  # else not a shape this module writes: ignored
            entries[name] = entry
    return entries


# key (size:mtime:ctime:inode), then a spec's digest and class name, or an output's fingerprint and the specs it uses.
_ENTRY = re.compile(r"[0-9]+:-?[0-9]+:-?[0-9]+:[0-9]+\t[0-9a-f]{32}\t[A-Za-z0-9_,]*")


def folder() -> str | None:
    """Where caches live, or None when there is nowhere to keep them."""
    found = os.environ.get("CODEGEN_CACHE_DIR")
    if not found:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        if base.startswith("~"):  # no home directory to expand
            return None
        found = os.path.join(base, "codegen")
    return found


def location(spec_dir: str, out_dir: str) -> str | None:
    """The cache file for this pair of folders, or None when there is nowhere to keep one."""
    base = folder()
    if base is None:
        return None
    pair = os.path.abspath(spec_dir) + "\0" + os.path.abspath(out_dir)
    return os.path.join(base, short_digest(pair.encode("utf-8", "surrogateescape")) + ".txt")


# ------------------------------------------------------------------ small facts: parsed settings, the generator's digest

# Two facts each run would otherwise recompute, in one small file each, keyed by a digest of what
# they depend on: pyproject.toml's [tool.codegen] table (parsing it imports tomllib, 15 ms) and the
# digest of codegen's own sources (hashing them, ~8 ms). A line is the key and the fact's fields,
# NUL-separated (no JSON: the up-to-date path imports no parser). Checksummed like the stat cache;
# a damaged file counts as empty, and what is read back is only ever a fact about those bytes.
SETTINGS_FILE = "settings.facts"
GENERATOR_FILE = "generator.facts"  # not .txt: those are the stat caches
KEPT = 16
enabled = True  # --no-cache turns it off for the run


def stat_key(st: os.stat_result) -> str:
    return _key(st)


def racy(st: os.stat_result) -> bool:
    """Changed too recently for its stat to vouch for its bytes (see the module's docstring)."""
    return max(st.st_mtime_ns, st.st_ctime_ns) > time.time_ns() - int(RACY_SECONDS * 1e9)


def recall_settings(key: str) -> "dict | None":
    """The table ``remember_settings`` stored under ``key`` (the pyproject's digest), or None."""
    fields = _recall(SETTINGS_FILE, key)
    if fields is None or len(fields) % 2:
        return None
    table: dict = {}
    for name, value in zip(fields[::2], fields[1::2]):
        if name == "jobs" and value.isdigit() and value.isascii():
            table[name] = int(value)
        elif name in ("specs", "output"):
            table[name] = value
        else:
            return None
    return table


def remember_settings(key: str, table: dict) -> None:
    """Keep a checked table (str paths, an int jobs)."""
    _remember(SETTINGS_FILE, key, [str(x) for name in ("specs", "output", "jobs") if name in table for x in (name, table[name])])


def recall_generator(key: str) -> "str | None":
    """The generator's digest (hex) stored under ``key`` (the digest of its files' stats), or None."""
    fields = _recall(GENERATOR_FILE, key)
    return fields[0] if fields is not None and len(fields) == 1 and re.fullmatch(r"[0-9a-f]{64}", fields[0]) else None


def remember_generator(key: str, digest: str) -> None:
    _remember(GENERATOR_FILE, key, [digest])


def _load(path: str) -> "dict[str, list[str]] | None":
    try:
        with open(path, "rb") as handle:
            first, _, body = handle.read().partition(b"\n")
        if first != (CHECKSUM + short_digest(body)).encode():
            return None
        lines = body.decode("utf-8", "surrogateescape").split("\n")
    except OSError:
        return None
    kept = {}
    for line in lines[:-1]:
        key, *fields = line.split("\0")
        kept[key] = fields
    return kept


def _recall(name: str, key: str) -> "list[str] | None":
    base = folder()
    if not enabled or base is None or not _private(base):
        return None
    kept = _load(os.path.join(base, name))
    return None if kept is None else kept.get(key)


def _remember(name: str, key: str, fields: list[str]) -> None:
    """Keep ``fields`` under ``key``, with the newest KEPT - 1 others; silent when it cannot."""
    base = folder()
    if not enabled or base is None or any("\0" in f or "\n" in f for f in [key, *fields]):
        return
    path = os.path.join(base, name)
    tmp = None
    try:
        import tempfile

        os.makedirs(base, mode=0o700, exist_ok=True)
        if not _private(base):
            return
        kept = {k: v for k, v in (_load(path) or {}).items() if k != key}
        kept = dict(list(kept.items())[-(KEPT - 1) :] + [(key, fields)])
        body = "".join("\0".join([k, *v]) + "\n" for k, v in kept.items()).encode("utf-8", "surrogateescape")
        fd, tmp = tempfile.mkstemp(dir=base, prefix=".facts.", suffix=".tmp")  # never through a planted link
        with os.fdopen(fd, "wb") as handle:
            handle.write((CHECKSUM + short_digest(body)).encode() + b"\n" + body)
        os.replace(tmp, path)
        tmp = None
    except (OSError, UnicodeError):  # a read-only home, a full disk: the next run computes it again
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
