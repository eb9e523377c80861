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
    settings = config.find()
    if args.specs is None and settings is None:
        cli.error("no spec folder given, and no [tool.codegen] table in a pyproject.toml here or above")
    specs = args.specs if args.specs is not None else shown(settings.specs)
    out = args.output if args.output is not None else shown(settings.output) if settings else config.DEFAULT_OUTPUT
    jobs = args.jobs if args.jobs is not None else settings.jobs if settings else None
    with generate.Workers(jobs) as workers:
        p = generate.plan(specs, out, use_cache=not args.no_cache, workers=workers, settings=settings)
        todo = [r.stem for r in p.results.values() if r.status not in ("unchanged", "extra", "extra-foreign")]
        writing = not (args.check or args.diff)
        try:
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
                print(f"refreshed {schema[0]}")
        except BaseException:
            try:
                workers.close()  # first: no worker may stage a file after the discard
            finally:
                generate.discard(p)  # an interrupted or failed run leaves no staged file behind
            raise
    p.cache.save(forget_unseen=p.complete)
    extra = sum(1 for r in p.results.values() if r.status in ("extra", "extra-foreign")) - pruned
    summary = f"{written} generated, {unchanged} unchanged"
    if pruned:
        summary += f", {pruned} pruned"
    if extra:
        summary += f", {extra} without a spec (see --check)"
    print(summary)
    return 0


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
            sys.stdout.writelines(difflib.unified_diff(old, new, f"a/{result.path}", f"b/{result.path}"))
        else:
            print(f"{DRIFT[result.status]}: {result.path}")
    if summary:
        print(f"{drift} out of date, {len(p.results) - drift} up to date")
    return 1 if drift else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except ErrorList as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 3 if any(e.code == "E900" for e in exc.errors) else 2
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if exc.code == "E900" else 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours, not the user's: one line, exit 3
        print(f"internal error: {type(exc).__name__}: {exc} (please report this)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
