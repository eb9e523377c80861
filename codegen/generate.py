"""The pipeline: plan -> load and validate -> analyse -> render -> format -> gate -> write.

``plan`` decides, from fingerprints alone, which outputs may be stale; only
those specs (and the specs they use) go through the expensive stages. All
of them are rendered, formatted and gated before the first byte is written,
so a failing spec leaves every file as it was.
"""

from __future__ import annotations

import gc
import os
import stat

from . import cache, config, journal, output, overview
from .cache import StatCache
from .errors import ErrorList, SpecError

if False:  # for type checkers only: importing these here would slow the up-to-date path
    from concurrent.futures import ProcessPoolExecutor

    from .model import Block

# Below this many files a process pool costs more to start than it saves.
POOL_THRESHOLD = 4
# From this many specs on, planning lasts long enough (tens of microseconds a spec) that the
# workers' start-up (importing black: about 0.2 s) is worth overlapping with it: they are started
# as soon as planning meets the first file that needs building, not once it is done.
EARLY_START = 64


# Plain classes, not dataclasses: this module is on the up-to-date path,
# where importing dataclasses (and inspect, which it pulls in) would double
# the start-up time.


# Paths are plain strings (see output.py): pathlib is not imported on the up-to-date path.


class Source:
    __slots__ = ("folder", "file_name", "stem", "st", "digest", "name", "uses", "data")

    def __init__(self, folder: str, name: str, st: os.stat_result, digest: str, class_name: str | None,
                 data: bytes | None = None) -> None:
        self.folder = folder
        self.file_name = name
        self.stem = name[: -len(".json")]
        self.st = st  # its lstat when planning: the stat cache's key
        self.digest = digest  # output.short_digest of its bytes
        self.name = class_name  # from the stat cache, or once the JSON is parsed
        self.uses: set[str] = set()  # stems it references
        self.data = data  # its bytes, when planning read them (for the digest), until ``read`` hands them on

    @property
    def path(self) -> str:
        return output.join(self.folder, self.file_name)

    def read(self) -> bytes:
        """Its bytes: those planning hashed (read once), the very bytes every later stage works from.

        A spec the stat cache vouched for is read now, and must still have the
        digest planning took from the cache: a spec edited during the run
        fails it (E505) instead of giving a header of one version over a body
        of the other.
        """
        if self.data is None:
            data = read_spec(self.path)
            if output.short_digest(data) != self.digest:
                raise SpecError("E505", "changed while codegen was running; run it again", file=self.path)
            self.data = data
        return self.data


class Result:
    __slots__ = ("stem", "folder", "status", "new", "old", "uses", "staged")

    def __init__(self, stem: str, folder: str, status: str, new: bytes | None = None, old: bytes | None = b"",
                 uses: "tuple[str, ...]" = ()) -> None:
        self.stem = stem
        self.folder = folder
        # "unchanged", "missing", "stale", "edited", "foreign", "symlink", "extra", "extra-foreign"
        self.status = status
        self.new = new
        self.old = old  # None: not read (an unchanged file the stat cache vouched for; never rebuilt, so never needed)
        self.uses = uses  # as the existing file's header records them
        self.staged: str | None = None  # a temporary file beside the target holding ``new``, once staged

    @property
    def path(self) -> str:
        return output.join(self.folder, f"{self.stem}.py")


class Plan:
    def __init__(self, spec_dir: str, out_dir: str, sources: dict, results: dict, cache: "StatCache", complete: bool,
                 origin: "tuple[str, str]") -> None:
        self.spec_dir = spec_dir
        self.origin = origin  # (spec folder, command) as written from the repository root: in headers and fingerprints
        self.out_dir = out_dir
        self.sources: dict[str, Source] = sources
        self.results: dict[str, Result] = results
        self.fingerprints: dict[str, str] = {}
        self.cache = cache
        self.complete = complete  # every spec of the folder planned (not one file of it)
        self.token = f"{os.getpid()}-{os.urandom(4).hex()}"  # in the names of the files this run stages
        self.lock: "journal.Lock | None" = None  # a writing run's lock on the output folder, from before planning
        self.notes: list[str] = []  # what was done about runs killed earlier (journal.recover)
        self.interrupted = False  # --check: a killed run's write is unfinished (a journal, no writer)
        self.leftovers: list[str] = []  # --check: files staged by killed runs
        self.committed = False  # its journal is published and not finished: a failure from here on is rolled forward

    def release(self, failed: bool = False) -> None:
        """Drop the output folder's lock (a failed run first removes the folders it created, if still empty)."""
        if self.lock is not None:
            self.lock.release(remove_created=failed)


def read_spec(path: str) -> bytes:
    """A spec's bytes, from a regular file, no more than needed to tell it is too large (load reports that)."""
    try:
        return output.read_regular(path, output.MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError("E100", f"cannot read: {exc.strerror}", file=path) from None


def discover(target: str) -> "tuple[str, list[os.DirEntry]]":
    """The spec folder and its spec files, sorted by name; ``target`` (clean) may be one file of the folder.

    A single file still sees the specs beside it, since it may use them.
    """
    folder = (os.path.dirname(target) or ".") if os.path.isfile(target) else target
    if not os.path.isdir(folder) or (target.endswith(".json") and not os.path.exists(target)):
        raise SpecError("E100", "no such spec file or folder", file=target)
    if os.path.isfile(target) and not target.endswith(".json"):
        raise SpecError("E100", "not a spec: give a folder of <stem>.json specs or one .json file", file=target)
    # A *.schema.json is not a spec: `codegen init` keeps the JSON Schema's copy beside the specs.
    found = [entry for name, entry in sorted(output.listing(folder, ".json").items()) if not name.endswith(".schema.json")]
    if not found:
        odd = sorted(name for name in output.listing(folder, "") if name.lower().endswith(".json"))
        hint = f" ({odd[0]}: spec file names end in lower-case .json)" if odd else ""
        raise SpecError("E100", f"no <stem>.json specs in this folder{hint}", file=target)
    for entry in found:
        if entry.is_symlink():
            raise SpecError("E501", "spec files may not be symlinks", file=output.join(folder, entry.name))
        if not entry.is_file(follow_symlinks=False):
            raise SpecError("E100", "not a regular file", file=output.join(folder, entry.name))
    return folder, found


def plan(target: str, out_dir: str, use_cache: bool = True, workers: "Workers | None" = None, lock: bool = False,
         settings: "config.Config | None" = None) -> Plan:
    """What is up to date, from bytes and headers alone (no JSON parsing, no heavy imports).

    With the stat cache, files unchanged since an earlier run are not even read.
    With ``workers``, a large folder starts them at the first file that needs building.
    With ``lock`` (a run that writes), the output folder is created if missing and locked
    first (journal.Lock), and what killed runs left there is finished or undone; the caller
    then owns the lock, released by ``Plan.release``.
    ``settings`` (the repository's [tool.codegen]) decides the root that headers name paths from.
    """
    # Planning allocates thousands of small acyclic records: the cycle collector would only slow it down.
    gc.disable()
    try:
        p = _plan(target, out_dir, use_cache, workers, lock, settings)
        overview.plan(p)  # generated/README.md, with a whole folder
        return p
    finally:
        gc.enable()


def _plan(target: str, out_dir: str, use_cache: bool, workers: "Workers | None", lock: bool, settings: "config.Config | None") -> Plan:
    target, out_dir = output.clean(os.fspath(target)), output.clean(os.fspath(out_dir))
    spec_dir, found = discover(target)
    output.check_output_dir(out_dir, spec_dir)
    held = journal.Lock(out_dir) if lock else None
    try:
        p = _plan_locked(target, out_dir, use_cache, workers, spec_dir, found, held is not None, settings)
    except BaseException:
        if held is not None:
            held.release(remove_created=True)
        raise
    p.lock = held
    return p


def _plan_locked(target: str, out_dir: str, use_cache: bool, workers: "Workers | None", spec_dir: str, found: list,
                 locked: bool, settings: "config.Config | None") -> Plan:
    outputs, staged, has_journal = journal.scan(out_dir)  # the one listing of the output folder
    notes, interrupted, leftovers = [], False, []
    if locked and (has_journal or staged):
        notes = journal.recover(out_dir, staged, has_journal)
        outputs, staged, has_journal = journal.scan(out_dir)
    elif has_journal:  # --check or --diff: wait out a write in progress; a journal left after it is a killed run's
        journal.wait_for_writer(out_dir)
        outputs, staged, has_journal = journal.scan(out_dir)
        interrupted = has_journal
    if not locked and staged and not journal.writer_alive(out_dir):
        leftovers = staged
    stat_cache = StatCache(cache.location(spec_dir, out_dir) if use_cache else None)
    # One file: generate only it.
    selected = {os.path.splitext(os.path.basename(target))[0]} if os.path.isfile(target) else None
    origin = config.origin(spec_dir, out_dir, settings)
    early = (
        workers is not None and selected is None and len(found) >= EARLY_START and workers.wanted(len(found)) >= 2
    )
    if early:
        missing = sum(1 for entry in found if entry.name[: -len(".json")] + ".py" not in outputs)
        if missing:  # there is work, whatever the specs say
            workers.start(missing, least=1)
            early = False
    sources = {}
    changed, touched = set(), set()  # specs whose bytes differ from the cache's record, or only whose stat does
    for entry in found:
        name = entry.name
        st = entry.stat(follow_symlinks=False)
        known = stat_cache.get("spec/" + name, st)
        data = None
        if known is not None and len(known) == 2:
            digest, class_name = known[0], known[1] or None
        else:
            data = read_spec(entry.path)
            digest = output.short_digest(data)
            recorded = stat_cache.recorded("spec/" + name)
            stat_cache.put("spec/" + name, st, [digest, ""])
            class_name = None
            if recorded and recorded[0] == digest:
                touched.add(name[: -len(".json")])
            else:
                changed.add(name[: -len(".json")])
        source = Source(spec_dir, name, st, digest, class_name, data)
        sources[source.stem] = source
    order = list(sources)
    reordered = early
    if reordered:
        # The specs most likely to need building first (changed, then only touched), so that the
        # first one that does starts the workers while the rest is planned.
        order = [stem for stem in sources if stem in changed] + [stem for stem in sources if stem in touched]
        order += [stem for stem in sources if stem not in changed and stem not in touched]
    results = {}
    for stem in order:
        if selected is not None and stem not in selected:
            continue
        if output.stem_problem(stem):
            results[stem] = Result(stem, out_dir, "stale")  # load() reports the bad name
            continue
        existing = output.inspect_target(out_dir, stem, outputs.get(stem + ".py"), stat_cache)
        status = _status(stem, existing, sources, origin)
        if status != "unchanged" and existing.data is None:
            # The cache vouched for a file that is to be replaced: look at the file itself, so that
            # the cache can only ever spare a read, never let a hand edit be overwritten.
            existing = output.inspect_file(output.join(out_dir, stem + ".py"))
            status = _status(stem, existing, sources, origin)
        results[stem] = Result(stem, out_dir, status, old=existing.data, uses=existing.uses)
        if early and status != "unchanged":
            # As many as the changed specs suggest; build() adds more if the work proves larger.
            workers.start(max(1, len(changed)), least=1)
            early = False
    if reordered:
        results = {stem: results[stem] for stem in sources}  # reported in name order
    # Files we generated earlier from this spec folder whose spec is gone (those of another folder
    # sharing the output folder are not ours to report or prune).
    if selected is None:
        for name in sorted(outputs):
            if name[:-3] not in sources:
                existing = output.inspect_file(outputs[name].path)
                source = output.header_source(existing.data) if existing.data else None
                if existing.state in ("generated", "edited") and source == output.spec_path_text(origin, name[:-3]):
                    status = "extra" if existing.state == "generated" else "extra-foreign"
                    results[name[:-3]] = Result(name[:-3], out_dir, status, old=existing.data)
    p = Plan(spec_dir, out_dir, sources, results, stat_cache, complete=selected is None, origin=origin)
    p.notes, p.interrupted, p.leftovers = notes, interrupted, leftovers
    return p


def _status(stem: str, existing: output.Existing, sources: dict[str, Source], origin: "tuple[str, str]") -> str:
    """"unchanged" or "stale" for an intact generated file, else what is there ("missing", "edited", ...)."""
    if existing.state != "generated":
        return existing.state
    # The header names the specs the file was built from; their bytes decide.
    chain = sorted({stem, *existing.uses}) if existing.uses else [stem]
    current = all(s in sources for s in chain) and existing.fingerprint == output.inputs_fingerprint(
        [sources[s].digest for s in chain], origin
    )
    return "unchanged" if current else "stale"


def resolve_references(p: Plan) -> None:
    """Class names and which spec uses which, and the fingerprints to write.

    An up-to-date output's header already says which specs it uses, and the
    stat cache remembers class names, so only the other specs' JSON is parsed
    (with one of a thousand specs changed: one parse, not a thousand).
    """
    docs = {}
    for stem, source in p.sources.items():
        result = p.results.get(stem)
        if source.name is not None and result is not None and result.status == "unchanged":
            source.uses = set(result.uses)  # its bytes, and those of the specs it uses, are as when it was built
            continue
        doc = docs[stem] = output.quick_parse(source.read())
        name = doc.get("name") if doc else None
        source.name = name if isinstance(name, str) else None
        if source.name is not None and source.name.isidentifier() and source.name.isascii():
            p.cache.put(f"spec/{source.file_name}", source.st, [source.digest, source.name])
    by_name = {s.name: s.stem for s in p.sources.values() if s.name}
    for stem, doc in docs.items():
        types = output.referenced_types(doc) if doc else set()
        p.sources[stem].uses = {by_name[t] for t in types if t in by_name and by_name[t] != stem}
    uses = {stem: s.uses for stem, s in p.sources.items()}
    for stem, result in p.results.items():
        if stem in p.sources and result.status != "unchanged":  # the others are not rebuilt
            chain = output.closure(stem, uses)
            p.fingerprints[stem] = output.inputs_fingerprint([p.sources[s].digest for s in chain], p.origin)


class Workers:
    """The processes a build runs in: started by ``plan`` when it meets work early, else by ``build``.

    Each chunk of specs goes to them as a self-contained ``Job``: no job
    depends on anything the parent computed after the fork, so they may
    start while the plan is still being made.
    """

    def __init__(self, jobs: int | None) -> None:
        self.jobs = jobs  # -j: how many processes at most (default: one per core)
        self.count = 0  # how many run
        self.pool: "ProcessPoolExecutor | None" = None

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wanted(self, files: int) -> int:
        return min(self.jobs or os.cpu_count() or 1, files)

    def start(self, files: int, least: int = 2) -> None:
        """Have processes for ``files`` files' work running; none if that means fewer than ``least`` processes.

        Too few already running (started early, before the work was known)
        are replaced by as many as the work needs: they have built nothing yet.
        """
        count = self.wanted(files)
        if count <= self.count or count < least:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

        # What exists now outlives the build: frozen, the collector of each forked worker never walks
        # it (nor copies its pages by touching it).
        gc.freeze()
        try:
            self.pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_prepare, initargs=(os.getpid(),))
            self.pool.submit(int)  # forks them all now; their imports run while this process goes on
        finally:
            gc.unfreeze()
        self.count = count

    def map(self, jobs: "list[Job]") -> list:
        if self.pool is not None:
            return list(self.pool.map(_build_chunk, jobs))
        # In this process: the plan's objects outlive the build, so the collector need not walk them.
        gc.freeze()
        try:
            return [_build_chunk(job) for job in jobs]
        finally:
            gc.unfreeze()

    def close(self) -> None:
        """Stop the processes, once their current chunks are done (so nothing is staged after this)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
            self.count = 0


class Target:
    """One file a job builds."""

    __slots__ = ("stem", "spec", "fingerprint", "uses", "path", "old")

    def __init__(self, stem: str, spec: str, fingerprint: str, uses: "list[str]", path: str, old: "bytes | None") -> None:
        self.stem = stem
        self.spec = spec  # its spec file
        self.fingerprint = fingerprint
        self.uses = uses  # the other stems it is built from, for its header
        self.path = path  # the output file
        self.old = old  # the output's bytes now (equal new bytes are not rewritten)


class Job:
    """One chunk of specs to build, with all a worker needs to know of the plan."""

    __slots__ = ("specs", "targets", "names", "origin", "token")

    def __init__(self, specs: "list[tuple[str, bytes]]", targets: "list[Target]", names: "set[str]", origin: "tuple[str, str]", token: "str | None") -> None:
        self.specs = specs  # the spec files to load, with their bytes as planning hashed them: the targets' and those they use
        self.targets = targets
        self.names = names  # every class name of the folder
        self.origin = origin
        self.token = token  # stage changed files with this token; None: only return the bytes


def build(p: Plan, stems: list[str], workers: "Workers | None" = None, stage: bool = False) -> None:
    """Load, validate, analyse, render, format and gate ``stems``; fill ``Result.new``.

    With enough files, the whole pipeline runs in worker processes, a chunk
    of specs each (black alone would leave this process the bottleneck at a
    thousand specs); this process only plans and, at the end, commits. With
    ``stage``, each worker also writes its changed files to temporary files
    beside their targets, and ``write`` only renames them: the writing is
    spread over the cores too. Nothing replaces a file unless every chunk
    succeeded (``discard`` removes what was staged).
    """
    if workers is None:
        with Workers(None) as own:
            return build(p, stems, own, stage)
    stems = [stem for stem in stems if stem != overview.STEM]  # the page is built last, from every module's section
    journal.pause("planned")  # tests: a spec edited between planning and building lands here
    resolve_references(p)
    errors: list[SpecError] = []
    all_names: dict[str, Source] = {}
    for source in p.sources.values():
        if source.name in all_names:
            errors.append(SpecError("E331", f"class {source.name!r} is also defined by {all_names[source.name].path}", source.path, "name"))
        elif source.name:
            all_names[source.name] = source
    if len(stems) >= POOL_THRESHOLD:
        workers.start(len(stems))  # if none run yet, or fewer than the work wants
    # Small chunks: at the end of the run no worker idles long while another finishes its last one.
    size = max(1, min(8, -(-len(stems) // (max(1, workers.count) * 4))))
    if stage and p.lock is None:  # a caller of its own (not the command line): the folder must exist
        journal.make_folders(p.out_dir)
    uses = {stem: source.uses for stem, source in p.sources.items()}
    names = set(all_names)
    jobs = []
    for i in range(0, len(stems), size):
        chunk = stems[i : i + size]
        closures = {stem: output.closure(stem, uses) for stem in chunk}
        needed = sorted({s for closure in closures.values() for s in closure})
        targets = [
            Target(stem, p.sources[stem].path, p.fingerprints[stem], [s for s in closures[stem] if s != stem], p.results[stem].path, p.results[stem].old)
            for stem in chunk
        ]
        specs = [(p.sources[s].path, p.sources[s].read()) for s in needed]  # the bytes planning hashed
        jobs.append(Job(specs, targets, names, p.origin, p.token if stage else None))
    outcomes = workers.map(jobs)
    seen = set()
    sections = {}
    for files, chunk_errors in outcomes:
        for stem, data, staged, section in files:
            p.results[stem].new = data
            p.results[stem].staged = staged
            sections[stem] = section
        for error in (SpecError(*e) for e in chunk_errors):
            key = (error.code, error.message, error.file, error.path)
            if key not in seen:  # a broken spec used by specs of several chunks is reported once
                seen.add(key)
                errors.append(error)
    if errors:
        discard(p)
        raise ErrorList(errors)
    overview.build(p, sections)


def discard(p: Plan) -> None:
    """Remove every file staged for ``p``, and the folders this run created: a failed run changes nothing.

    Staged files are found by the run's token in their names, so that those of
    a chunk whose outcome never arrived (an exception, Ctrl-C) go too. The
    folders go when the lock is released (``Plan.release(failed=True)``).
    """
    if p.committed:
        return  # the journal is published: its staged files are the next run's to put in place (roll forward)
    for result in p.results.values():
        result.staged = None
    for name in output.listing(p.out_dir, output.STAGED_SUFFIX, hidden=True):
        if output.staged_by(name, p.token):
            output.discard(output.join(p.out_dir, name))


def _prepare(parent: int) -> None:
    """Worker start-up: die with the parent, Ctrl-C and SIGTERM left to it, the cycle collector back on, the imports."""
    import signal

    # The parent stops the workers on Ctrl-C or SIGTERM, after their current chunk (then discards what
    # they staged); interrupted themselves, each would print a traceback, mid-import of black as likely as not.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with(parent)
    gc.enable()  # forked while planning turned it off; black's trees are cyclic: without it a worker grows by every file
    import black  # noqa: F401

    from . import analyse, gate, load, render  # noqa: F401


def _die_with(parent: int) -> None:
    """End this worker when ``parent`` ends, however it ends (SIGKILL included).

    A worker outliving a killed parent would go on staging files, and hold its
    stdout (``codegen ... | cat`` would never end) and the output folder's lock.
    Linux: the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG);
    elsewhere a thread watches for the parent to change.
    """
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError, ImportError):
        armed = False
    if not armed:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def _build_chunk(job: Job) -> "tuple[list[tuple[str, bytes, str | None, str]], list[tuple[str, str, str, str]]]":
    """The pipeline for one job: ((stem, bytes, staged file, README section) each, errors as plain tuples)."""
    from pathlib import Path

    from . import analyse, gate, load, render

    journal.pause("worker")  # tests: a worker busy with a job when the parent is killed
    errors: list[SpecError] = []
    raws = []
    for path, data in job.specs:
        try:
            raws.append(load.load(Path(path), data))
        except SpecError as exc:
            errors.append(exc)
        except ErrorList as exc:
            errors.extend(exc.errors)
    # Analyse what loaded even when something did not, so that one run reports every error.
    blocks, analysis_errors = analyse.analyse(raws, job.names)
    errors.extend(analysis_errors)
    files = []
    if not errors:
        by_stem = {b.raw.stem: b for b in blocks.values()}
        for target in job.targets:
            chain = analyse.dependencies(by_stem[target.stem], blocks)
            body = render.format_source(render.render(chain, blocks))
            try:
                gate.check(body, chain, target.spec)
            except SpecError as exc:  # a generator defect: reported with the others, nothing written
                errors.append(exc)
                continue
            header = output.header(job.origin, target.stem, target.fingerprint, body, target.uses)
            section = overview.section(by_stem[target.stem], blocks, target.fingerprint)  # for README.md
            files.append((target, (header + body).encode("utf-8"), section))
    if errors:
        return [], [(e.code, e.message, e.file, e.path) for e in errors]
    # Only a chunk that fully succeeded stages anything; bytes equal to the file's are not rewritten.
    return [
        (t.stem, data, output.stage(t.path, data, job.token) if job.token is not None and data != t.old else None, section)
        for t, data, section in files
    ], []


def write(p: Plan, force: bool, prune: bool) -> tuple[int, int, int]:
    """Put every changed file in place (refusing hand edits unless ``force``); returns (written, unchanged, pruned)."""
    refused = [r for r in p.results.values() if r.new is not None and r.status in ("edited", "foreign", "symlink")]
    refused = [r for r in refused if not (force and r.status in ("edited", "foreign"))]
    if refused:
        discard(p)
        raise ErrorList([
            SpecError(
                "E503" if r.status != "symlink" else "E501",
                {
                    "edited": "was edited by hand since it was generated; refusing to overwrite (use --force)",
                    "foreign": "exists and was not generated by codegen; refusing to overwrite (use --force)",
                    "symlink": "is a symlink; refusing to write through it",
                }[r.status],
                file=str(r.path),
            )
            for r in refused
        ])
    changes = [r for r in p.results.values() if r.new is not None and r.new != r.old]
    unchanged = sum(1 for r in p.results.values() if r.status == "unchanged" or (r.new is not None and r.new == r.old))
    deletes = [r for r in p.results.values() if prune and r.status == "extra"]
    journal.pause("built")  # tests: edits between planning and writing land here
    # Each target must still be what planning saw: a hand edit made while the run built is never overwritten.
    seen = {r.stem: _unchanged_since_planning(r) for r in changes + deletes}
    moved = [r for r in changes + deletes if seen[r.stem] is None]
    if moved:
        discard(p)
        raise ErrorList([
            SpecError("E505", "changed while codegen was running; refusing to overwrite it (run again)", file=r.path)
            for r in moved
        ])
    if not changes and not deletes:
        return 0, unchanged, 0
    for result in changes:
        if result.staged is None:
            result.staged = output.stage(result.path, result.new, p.token)
    with _signals_deferred():  # Ctrl-C or SIGTERM from here on takes effect once the folder is whole
        return _publish(p, changes, deletes, seen, unchanged)


def _publish(p: Plan, changes: "list[Result]", deletes: "list[Result]", seen: dict, unchanged: int) -> tuple[int, int, int]:
    """The journal, the replaces and deletions, the journal's removal (see journal.py)."""
    journal.publish(
        p.out_dir,
        p.token,
        [(os.path.basename(r.path), os.path.basename(r.staged), "-" if r.status == "missing" else output.short_digest(r.old), output.short_digest(r.new))
         for r in changes],
        [(os.path.basename(r.path), output.short_digest(r.old)) for r in deletes],
    )
    p.committed = True
    written = pruned = 0
    late = []  # changed in the moment between the check above and its replace: kept, reported
    for result in changes:
        if not _same_file(result.path, seen[result.stem]):
            late.append(result)
            continue
        os.replace(result.staged, result.path)
        result.staged = None
        written += 1
        journal.pause(f"replaced-{written}")  # tests: a kill in the middle of the write phase
    for result in deletes:
        if not _same_file(result.path, seen[result.stem]):
            late.append(result)
            continue
        output.discard(result.path)  # gone already (removed by hand meanwhile) is as good
        pruned += 1
    journal.finish(p.out_dir)
    p.committed = False
    if late:
        discard(p)
        raise ErrorList([
            SpecError("E505", "changed while codegen was writing; kept as it is now (run again)", file=r.path) for r in late
        ])
    return written, unchanged, pruned


class _signals_deferred:
    """Hold SIGINT and SIGTERM back for the few milliseconds of the replaces, then act on them.

    Interrupted there, a run would leave the folder part old, part new (whole files, and a journal
    the next run finishes); deferred, it stops with the folder as a whole run leaves it.
    """

    def __enter__(self) -> None:
        import signal

        self.caught: list[int] = []
        self.previous = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, lambda number, frame: self.caught.append(number))
        except ValueError:  # not the main thread: signals are not ours to handle
            pass

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.caught:
            handler = self.previous.get(self.caught[0])
            if callable(handler):
                handler(self.caught[0], None)  # raises KeyboardInterrupt (or our SIGTERM's exception)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), self.caught[0])


def _unchanged_since_planning(result: Result) -> "tuple | None":
    """The target's identity now (None: missing; else its lstat), or None when it is no longer what planning saw."""
    try:
        st = os.lstat(result.path)
    except FileNotFoundError:
        return ("missing",) if result.status == "missing" else None
    if result.status == "missing" or result.old is None or not stat.S_ISREG(st.st_mode):
        return None
    try:
        now = output.read_regular(result.path, output.MAX_OUTPUT_BYTES)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if now == result.old else None


def _same_file(path: str, seen: tuple) -> bool:
    """Is ``path`` still as ``_unchanged_since_planning`` found it (by its lstat: a change moves the ctime)?"""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return seen == ("missing",)
    return seen == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def analyse_folder(spec_dir: "str | os.PathLike[str]") -> "dict[str, Block]":
    """Every spec in ``spec_dir``, checked and shape-inferred, keyed by stem (for tests and tools)."""
    from pathlib import Path

    from . import analyse, load

    folder, found = discover(output.clean(os.fspath(spec_dir)))
    raws = [load.load(Path(output.join(folder, entry.name))) for entry in found]
    blocks, errors = analyse.analyse(raws, {r.doc["name"] for r in raws})
    if errors:
        raise ErrorList(errors)
    return {b.raw.stem: b for b in blocks.values()}
