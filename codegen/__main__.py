"""``python -m codegen specs/``: JSON block specs -> formatted nn.Module files.

Exit status: 0 success, 1 drift under --check, 2 a bad spec or bad usage,
3 an internal error (a bug in codegen: please report it).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import generate
from .errors import ErrorList, SpecError

DRIFT = {
    "missing": "MISSING",
    "stale": "STALE",
    "edited": "EDITED (changed by hand)",
    "foreign": "NOT GENERATED (a file codegen did not write)",
    "symlink": "SYMLINK",
    "extra": "EXTRA (its spec is gone; --prune deletes it)",
    "extra-foreign": "EXTRA, EDITED (its spec is gone; never deleted)",
}


def parser() -> argparse.ArgumentParser:
    # A fixed help width: the default asks the terminal its size (importing shutil) on every run.
    p = argparse.ArgumentParser(
        prog="python -m codegen",
        description="Generate standalone PyTorch nn.Module files from JSON block specs.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=88),
    )
    p.add_argument("specs", help="a folder of <stem>.json specs, or one spec file")
    p.add_argument("-o", "--output", default="generated", help="output folder (default: generated/)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="write nothing; list missing, stale and extra files; exit 1 on drift")
    mode.add_argument("--diff", action="store_true", help="write nothing; print unified diffs of what would change")
    p.add_argument("--force", action="store_true", help="overwrite files that were edited by hand")
    p.add_argument("--prune", action="store_true", help="delete generated files whose spec is gone")
    p.add_argument("--no-cache", action="store_true", help="read every spec and output; neither use nor update the stat cache")
    p.add_argument("-j", "--jobs", type=int, default=None, help="formatting processes (default: one per core)")
    return p


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    writing = not (args.check or args.diff)
    with generate.Workers(args.jobs) as workers:
        p = generate.plan(args.specs, args.output, use_cache=not args.no_cache, workers=workers, lock=writing)
        todo = [r.stem for r in p.results.values() if r.status not in ("unchanged", "extra", "extra-foreign")]
        failed = True
        pruning = args.prune and any(r.status == "extra" for r in p.results.values())
        previous = _handle_sigterm() if todo or pruning else None
        try:
            for note in p.notes:
                say(f"codegen: {note}")
            if todo:
                generate.build(p, todo, workers, stage=writing)
                for stem in todo:  # a stale fingerprint whose bytes come out the same is not drift
                    result = p.results[stem]
                    if result.status == "stale" and result.new == result.old:
                        result.status = "unchanged"
            workers.close()
            if not writing:
                status = report(p, diff=args.diff)
                p.cache.save(forget_unseen=p.complete)
                return status
            written, unchanged, pruned = generate.write(p, args.force, args.prune)
            failed = False
        except BaseException:
            try:
                workers.close()  # first: no worker may stage a file after the discard
            finally:
                generate.discard(p)  # an interrupted or failed run leaves no staged file behind
            raise
        finally:
            workers.close()  # the workers hold the lock too (inherited): it is free once they and we let go
            p.release(failed)
            if previous is not None:  # nothing is left to clean up: SIGTERM as it was (in-process callers get theirs back)
                import signal

                signal.signal(signal.SIGTERM, previous)
    p.cache.save(forget_unseen=p.complete)
    extra = sum(1 for r in p.results.values() if r.status in ("extra", "extra-foreign")) - pruned
    summary = f"{written} generated, {unchanged} unchanged"
    if pruned:
        summary += f", {pruned} pruned"
    if extra:
        summary += f", {extra} without a spec (see --check)"
    say(summary)
    return 0


def say(text: str) -> None:
    """A line on stdout; if its reader went away (``| head``), the rest goes to /dev/null and the run goes on."""
    try:
        print(text)
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:  # a full disk, /dev/full: exit 2 (see main)
        _silence_stdout()
        raise OSError(exc.errno, f"cannot write: {exc.strerror}", "<stdout>") from None


def report(p: generate.Plan, diff: bool) -> int:
    drift = 0
    for result in p.results.values():
        if result.status == "unchanged":
            continue
        drift += 1
        if diff and result.new is not None:
            import difflib

            old = result.old.decode("utf-8", "replace").splitlines(keepends=True)
            new = result.new.decode("utf-8").splitlines(keepends=True)
            try:
                sys.stdout.writelines(difflib.unified_diff(old, new, f"a/{result.path}", f"b/{result.path}"))
            except BrokenPipeError:
                _silence_stdout()
        else:
            say(f"{DRIFT[result.status]}: {result.path}")
    if p.interrupted:
        drift += 1
        say(f"INTERRUPTED WRITE: {p.out_dir} (a run was killed while writing; the next run finishes it)")
    for name in p.leftovers:
        say(f"LEFT OVER: {generate.output.join(p.out_dir, name)} (staged by a killed run; the next run removes it)")
    if not diff:
        say(f"{drift} out of date, {len(p.results) - drift + p.interrupted} up to date")
    return 1 if drift and not diff else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: workers stopped, staged files removed, nothing half-done."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _handle_sigterm() -> object:
    """From here on SIGTERM is handled as Ctrl-C; returns the previous handler (None if it could not be set).

    Set only once there is work: until then a SIGTERM has nothing to clean up, and the up-to-date
    path does not pay for importing signal.
    """
    import signal

    try:
        return signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (an embedding tool): SIGTERM stays as it was
        return None


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # a file name the terminal's encoding cannot show is escaped
    return _finish_output(_main(argv))


def _finish_output(status: int) -> int:
    """Flush stdout; a reader gone (``| head``) keeps the exit status, a failing stdout (``> /dev/full``) is exit 2."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:
        _silence_stdout()
        print(f"error: <stdout>: E600 cannot write: {exc.strerror}", file=sys.stderr)
        return 2
    return status


def _silence_stdout() -> None:
    """Send what is still buffered, and everything after, to /dev/null: the interpreter's last flush must not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _main(argv: list[str] | None) -> int:
    try:
        return run(argv)
    except ErrorList as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 3 if any(e.code == "E900" for e in exc.errors) else 2
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.code == "E900" else 2
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # the environment, not codegen: a read-only folder, a full disk, a name too long
        where = exc.filename or "codegen"
        print(f"error: {where}: E600 {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours, not the user's: one line, exit 3
        print(f"internal error: {type(exc).__name__}: {exc} (please report this)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
