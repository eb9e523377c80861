"""``python -m codegen specs/``: JSON block specs -> formatted nn.Module files.

Exit status: 0 success, 1 drift under --check, 2 a bad spec or bad usage,
3 an internal error (a bug in codegen: please report it).
"""

from __future__ import annotations

import argparse
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
    with generate.Workers(args.jobs) as workers:
        p = generate.plan(args.specs, args.output, use_cache=not args.no_cache, workers=workers)
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
            if not writing:
                status = report(p, diff=args.diff)
                p.cache.save(forget_unseen=p.complete)
                return status
            written, unchanged, pruned = generate.write(p, args.force, args.prune)
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
            sys.stdout.writelines(difflib.unified_diff(old, new, f"a/{result.path}", f"b/{result.path}"))
        else:
            print(f"{DRIFT[result.status]}: {result.path}")
    if not diff:
        print(f"{drift} out of date, {len(p.results) - drift} up to date")
    return 1 if drift and not diff else 0


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
