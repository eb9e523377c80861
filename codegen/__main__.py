"""``python -m codegen specs/`` (or ``codegen``): JSON block specs -> formatted nn.Module files.

With no spec folder, the ``[tool.codegen]`` table of the nearest pyproject.toml
names it (see config.py); ``codegen init`` starts a repository (see init.py).

Exit status: 0 success, 1 drift under --check or --diff, 2 a bad spec or bad
usage, 3 an internal error (a bug in codegen: please report it).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__, config, generate, init
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
        prog="codegen",
        description="Generate standalone PyTorch nn.Module files from JSON block specs. "
        "`codegen init` starts a repository: a spec folder, its schema and a [tool.codegen] table.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=88),
    )
    p.add_argument("specs", nargs="?", help="a folder of <stem>.json specs, or one spec file (default: [tool.codegen] specs)")
    p.add_argument("-o", "--output", help="output folder (default: [tool.codegen] output, else generated/)")
    p.add_argument("--check", action="store_true", help="write nothing; list missing, stale and extra files; exit 1 on drift")
    p.add_argument("--diff", action="store_true", help="write nothing; print unified diffs of what would change; exit 1 on drift")
    p.add_argument("--force", action="store_true", help="overwrite files that were edited by hand")
    p.add_argument("--prune", action="store_true", help="delete generated files of this spec folder whose spec is gone")
    p.add_argument("--no-cache", action="store_true", help="read every spec and output; neither use nor update the stat cache")
    p.add_argument("-j", "--jobs", type=positive, default=None, help="worker processes, at least 1 (default: one per core)")
    p.add_argument("--version", action="version", version=f"codegen {__version__}")
    return p


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is fewer than 1")
    return value


def shown(path: str) -> str:
    """A path from the configuration, relative to the working directory when it lies inside it."""
    return config.relative(path, os.getcwd()) if os.path.isabs(path) else path


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["init"]:  # a spec folder named "init" is still reachable as ./init
        return init.main(argv[1:])
    cli = parser()
    args = cli.parse_args(argv)
    from . import cache

    # --no-cache: nor the small facts the cache folder keeps (the settings, the generator's digest),
    # for this run only (in-process callers run again).
    saved, cache.enabled = cache.enabled, not args.no_cache
    try:
        return _run(cli, args)
    finally:
        cache.enabled = saved


def _run(cli: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    settings = config.find(use_cache=not args.no_cache)
    if args.specs is None and settings is None:
        cli.error("no spec folder given, and no [tool.codegen] table in a pyproject.toml here or above")
    specs = args.specs if args.specs is not None else shown(settings.specs)
    out = args.output if args.output is not None else shown(settings.output) if settings else config.DEFAULT_OUTPUT
    jobs = args.jobs if args.jobs is not None else settings.jobs if settings else None
    writing = not (args.check or args.diff)
    with generate.Workers(jobs) as workers:
        p = generate.plan(specs, out, use_cache=not args.no_cache, workers=workers, lock=writing, settings=settings)
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
            schema = init.schema_copy_state(p.spec_dir)  # the spec folder's copy of the JSON Schema, if any
            if not writing:
                status = report(p, diff=args.diff, summary=args.check or not args.diff)
                if schema is not None:
                    print(f"STALE (codegen's schema changed; a plain run refreshes it): {schema[0]}")
                p.cache.save(forget_unseen=p.complete)
                return max(status, 1 if schema else 0)
            written, unchanged, pruned = generate.write(p, args.force, args.prune)
            if schema is not None:
                init.write_atomically(schema[0], init.schema_bytes())
                say(f"refreshed {schema[0]}")
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


def report(p: generate.Plan, diff: bool, summary: bool = True) -> int:
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
    if summary:
        say(f"{drift} out of date, {len(p.results) - drift + p.interrupted} up to date")
    return 1 if drift else 0


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
