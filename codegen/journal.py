"""Writing safely beside other runs and after killed ones: the output folder's lock, and the write journal.

The lock. A run that writes holds an exclusive ``fcntl.flock`` on the output
folder itself (its open directory, not a lock file, so nothing extra appears
among the generated files) from before it plans until it has written: two
runs into one folder take turns, and the second plans what the first left.
The worker processes inherit the lock's descriptor, so it is held until
the last of them is gone, even when the main process was killed. Hence
whoever holds the lock knows that every staged file in the folder belongs
to a dead run. ``--check`` and ``--diff`` write nothing and take no lock,
except to wait out a write in progress when they find a journal.

The journal. Before its first ``os.replace``, a run records what it is
about to publish in ``<output>/.codegen-journal``, written to a temporary
file and renamed into place: each target, the staged file that replaces it
and the digests of its old and new bytes (and each file to prune). It is
removed once the last file is in place. A run killed before the rename has
replaced nothing: the next run removes its staged files (rolled back). A
run killed after it is finished by the next one: every staged file is
complete before the journal exists, so each target still holding its old
bytes is replaced (rolled forward). A target whose bytes are neither the
old nor the new ones was changed by someone since: then nothing is rolled
forward and the run says so.
"""

from __future__ import annotations

import errno
import os

from . import output, overview

JOURNAL = ".codegen-journal"
FORMAT = "codegen-journal 1"


# ------------------------------------------------------------------ the lock


def make_folders(folder: str) -> list[str]:
    """Create ``folder`` and its missing parents; return those this call created, innermost first.

    One level at a time, so that a folder another run created meanwhile is
    never counted as ours (and so never removed by our clean-up).
    """
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    made = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        made.append(path)
    return made[::-1]


class Lock:
    """The exclusive lock on an output folder (created if missing), held until ``release``."""

    def __init__(self, folder: str) -> None:
        import fcntl

        self.folder = folder
        self.created: list[str] = []  # folders this run made, innermost first: removed again if it fails
        while True:
            self.created += make_folders(folder)
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                import sys

                print(f"codegen: waiting for another run writing {folder}", file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            # A failed run that had created the folder removes it again: then ours is gone, and we start over.
            try:
                now, held = os.stat(folder, follow_symlinks=False), os.fstat(fd)
                if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    self.fd = fd
                    return
            except FileNotFoundError:
                pass
            os.close(fd)

    def release(self, remove_created: bool = False) -> None:
        """Let the next run in; with ``remove_created``, first remove the folders this run made (if still empty)."""
        if self.fd is None:
            return
        if remove_created:
            for folder in self.created:
                try:
                    os.rmdir(folder)
                except OSError:
                    break
        os.close(self.fd)
        self.fd = None


def wait_for_writer(folder: str) -> None:
    """Block until no run holds the folder's lock (a shared lock, taken and dropped at once)."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def writer_alive(folder: str) -> bool:
    """Does a run hold the folder's lock now?"""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# ------------------------------------------------------------------ what is in the folder


def scan(folder: str) -> "tuple[dict[str, os.DirEntry], list[str], bool]":
    """One scandir: the outputs (``*.py``, not hidden) by name, the staged files' names, whether a journal is there."""
    outputs, staged, journal = {}, [], False
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    if name.endswith(output.STAGED_SUFFIX):
                        staged.append(name)
                    elif name == JOURNAL:
                        journal = True
                elif name.endswith(".py"):
                    outputs[name] = entry
    except (FileNotFoundError, NotADirectoryError):
        pass
    return outputs, sorted(staged), journal


# ------------------------------------------------------------------ the journal


def publish(folder: str, token: str, replaces: "list[tuple[str, str, str, str]]", deletes: "list[tuple[str, str]]") -> None:
    """Record, atomically, what this run is about to put in place: (target, staged, old digest or "-", new digest) each, and (target, digest) to delete."""
    lines = [FORMAT, f"token {token}"]
    lines += [f"replace {target} {staged} {old} {new}" for target, staged, old, new in replaces]
    lines += [f"delete {target} {old}" for target, old in deletes]
    text = "\n".join(lines) + "\n"
    data = (text + f"checksum {output.short_digest(text.encode())}\n").encode()
    tmp = output.join(folder, f".journal.{token}.0{output.STAGED_SUFFIX}")  # removed with the run's staged files
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, folder) from None
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), folder)
    except BaseException:
        os.close(fd)
        output.discard(tmp)
        raise
    os.close(fd)
    os.replace(tmp, output.join(folder, JOURNAL))


def finish(folder: str) -> None:
    """Every file is in place: the write is complete."""
    os.unlink(output.join(folder, JOURNAL))


def _parse(data: bytes) -> "tuple[str, list[tuple[str, str, str, str]], list[tuple[str, str]]] | None":
    """A journal's token and entries, or None unless it is whole and names only files of the output folder."""
    text, _, last = data[:-1].decode("utf-8", "replace").rpartition("\n")
    text += "\n"
    if not data.endswith(b"\n") or last != f"checksum {output.short_digest(text.encode())}":
        return None
    lines = text.split("\n")[:-1]
    if len(lines) < 2 or lines[0] != FORMAT or not lines[1].startswith("token "):
        return None
    token = lines[1][len("token ") :]
    replaces, deletes = [], []

    def target_ok(name: str) -> bool:
        # a module, or the README.md page (its file is no stem's: the name is not built from the page's key)
        return name == overview.FILE or (name.endswith(".py") and output.stem_problem(name[:-3]) is None)

    def digest_ok(value: str, missing_ok: bool = False) -> bool:
        return (missing_ok and value == "-") or (len(value) == 32 and all(c in "0123456789abcdef" for c in value))

    for line in lines[2:]:
        parts = line.split(" ")
        if parts[0] == "replace" and len(parts) == 5:
            _, target, staged, old, new = parts
            if not (target_ok(target) and output.staged_by(staged, token) and os.sep not in staged
                    and digest_ok(old, missing_ok=True) and digest_ok(new)):
                return None
            replaces.append((target, staged, old, new))
        elif parts[0] == "delete" and len(parts) == 3 and target_ok(parts[1]) and digest_ok(parts[2]):
            deletes.append((parts[1], parts[2]))
        else:
            return None
    return token, replaces, deletes


def _digest_at(path: str) -> str:
    """The short digest of the regular file at ``path``; "-" if there is none; "?" if something else is there."""
    try:
        return output.short_digest(output.read_regular(path, output.MAX_OUTPUT_BYTES))
    except FileNotFoundError:
        return "-"
    except OSError:
        return "?"


def recover(folder: str, staged: "list[str]", journal: bool) -> "list[str]":
    """Finish or undo what killed runs left in ``folder`` (the caller holds its lock); what was done, in words."""
    notes = []
    if journal:
        path = output.join(folder, JOURNAL)
        try:
            parsed = _parse(output.read_regular(path, output.MAX_OUTPUT_BYTES))
        except OSError:
            parsed = None
        if parsed is None:
            notes.append(f"removed a damaged write journal {path}; files left as found")
        else:
            _, replaces, deletes = parsed
            todo, blocked = [], []
            for target, staged_name, old, new in replaces:
                now = _digest_at(output.join(folder, target))
                if now == new:
                    continue
                if now == old and _digest_at(output.join(folder, staged_name)) == new:
                    todo.append((target, staged_name))
                else:
                    blocked.append(target)
            removals = []
            for target, old in deletes:
                now = _digest_at(output.join(folder, target))
                if now == old:
                    removals.append(target)
                elif now != "-":
                    blocked.append(target)
            if blocked:
                notes.append(
                    f"rolled back a write interrupted by a killed run: {', '.join(blocked[:3])}"
                    f"{' ...' if len(blocked) > 3 else ''} changed since, so nothing more of it was written"
                )
            else:
                for target, staged_name in todo:
                    os.replace(output.join(folder, staged_name), output.join(folder, target))
                for target in removals:
                    output.discard(output.join(folder, target))
                notes.append(
                    f"rolled forward a write interrupted by a killed run: {len(todo)} more file(s) put in place"
                    + (f", {len(removals)} pruned" if removals else "")
                )
    left = 0
    for name in staged:  # the lock is ours: whoever staged these is dead
        path = output.join(folder, name)
        if os.path.lexists(path):
            output.discard(path)
            left += 1
    if journal:
        output.discard(output.join(folder, JOURNAL))
    elif left:
        notes.append(f"rolled back: removed {left} file(s) staged by a run killed before it wrote anything")
    return notes


# ------------------------------------------------------------------ the test hook


def pause(point: str) -> None:
    """For tests only: with ``CODEGEN_TEST_PAUSE=<point>=<folder>``, announce reaching ``point`` and wait to be let go.

    The run creates ``<folder>/<point>`` (holding its pid) and waits until
    ``<folder>/<point>.go`` exists, so a test can edit files, or kill the
    run, at an exact point of it instead of guessing with timing.
    """
    wanted = os.environ.get("CODEGEN_TEST_PAUSE")
    if not wanted:
        return
    name, _, folder = wanted.partition("=")
    if name != point:
        return
    import time

    with open(os.path.join(folder, point), "w") as handle:
        handle.write(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(folder, point + ".go")) and time.monotonic() < deadline:
        time.sleep(0.01)
