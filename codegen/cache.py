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


# ------------------------------------------------------------------ parsed settings

SETTINGS_FILE = "settings.json"  # pyproject.toml's [tool.codegen] table, by the digest of the file's bytes
SETTINGS_KEPT = 16


def recall_settings(key: str) -> "dict | None":
    """``{"table": ...}`` as ``remember_settings`` stored it under ``key``; None if absent, damaged or not ours.

    Parsing TOML means importing tomllib, the largest import of an up-to-date run (15 ms):
    a pyproject.toml's table is parsed once per content, then read back from here.
    """
    base = folder()
    if base is None or not _private(base):
        return None
    try:
        with open(os.path.join(base, SETTINGS_FILE), "rb") as handle:
            data = handle.read()
        first, _, body = data.partition(b"\n")
        if first != (CHECKSUM + short_digest(body)).encode():
            return None
        import json

        entry = json.loads(body).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return entry if isinstance(entry, dict) and set(entry) == {"table"} else None


def remember_settings(key: str, entry: dict) -> None:
    """Keep ``entry`` under ``key`` (the newest SETTINGS_KEPT); silent when it cannot."""
    base = folder()
    if base is None:
        return
    path = os.path.join(base, SETTINGS_FILE)
    tmp = None
    try:
        import json
        import tempfile

        os.makedirs(base, mode=0o700, exist_ok=True)
        if not _private(base):
            return
        try:
            with open(path, "rb") as handle:
                first, _, body = handle.read().partition(b"\n")
            kept = json.loads(body) if first == (CHECKSUM + short_digest(body)).encode() else {}
        except (OSError, ValueError):
            kept = {}
        kept = {k: v for k, v in (kept.items() if isinstance(kept, dict) else []) if k != key}
        kept = dict(list(kept.items())[-(SETTINGS_KEPT - 1) :] + [(key, entry)])
        body = json.dumps(kept, sort_keys=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=base, prefix=".settings.", suffix=".tmp")  # never through a planted link
        with os.fdopen(fd, "wb") as handle:
            handle.write((CHECKSUM + short_digest(body)).encode() + b"\n" + body)
        os.replace(tmp, path)
        tmp = None
    except (OSError, ValueError, TypeError):  # a read-only home, a full disk: the next run parses again
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
