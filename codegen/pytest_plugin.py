"""pytest on generated output, for every repository: ``pytest --codegen``.

Installed with codegen (the ``pytest11`` entry point), it is turned on by
``--codegen`` or by ``codegen = true`` under ``[tool.pytest.ini_options]``;
without installing, ``-p codegen.pytest_plugin`` loads it. It collects each
spec of the configured folder (``[tool.codegen]``, see config.py) as test
items that build the generated class from the spec's example and check:

* ``shape``: the output shape (the example's, else the inferred one);
* ``gradients``: gradients reach every parameter and every input, finite, and
  no buffer is trained;
* ``docstring``: every figure of the docstring's shape table against torch;
* ``up_to_date``: the file is what ``codegen`` would write now.

A run with no paths on the command line gets them all; ``pytest specs/`` or
``pytest specs/mlp.json`` selects, and ``-k`` filters as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHECKS = ("shape", "gradients", "docstring", "up_to_date")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codegen")
    group.addoption("--codegen", action="store_true", help="test every spec's generated module (shapes, gradients, docstring, up to date)")
    parser.addini("codegen", type="bool", default=False, help="test every spec's generated module, as --codegen does")


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("codegen") or config.getini("codegen"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codegen: a check of a generated module, collected from its spec")


class Folders:
    """The repository's spec and output folders, and what is known of them (once per session)."""

    def __init__(self, rootpath: Path) -> None:
        from . import config

        settings = config.find(str(rootpath))
        self.settings = settings
        self.specs = Path(settings.specs) if settings else rootpath / config.DEFAULT_SPECS
        self.output = Path(settings.output) if settings else rootpath / config.DEFAULT_OUTPUT
        self._blocks: Any = None
        self._status: dict[str, str] | None = None
        self._built: Any = None

    def blocks(self) -> dict:
        """Every spec, checked and shape-inferred, by stem; a spec error fails every item (as one message)."""
        if self._blocks is None:
            from .errors import ErrorList, SpecError
            from .generate import analyse_folder

            try:
                self._blocks = analyse_folder(self.specs)
            except (SpecError, ErrorList) as exc:
                errors = exc.errors if isinstance(exc, ErrorList) else [exc]
                self._blocks = "\n".join(f"error: {e}" for e in errors)
        if isinstance(self._blocks, str):
            pytest.fail(self._blocks, pytrace=False)
        return self._blocks

    def blocks_or_none(self) -> dict:
        try:
            return self.blocks()
        except BaseException:  # pytest.fail's outcome: the items will report it
            return {}

    def built(self, block, index: int):
        """The module and inputs of example ``index``, kept for the next item (a spec's items run in a row)."""
        import torch

        key = (block.raw.stem, index)
        if self._built is None or self._built[0] != key:
            self._built = None  # the previous module's memory goes first (VGG-11 holds 0.5 GB)
            with torch.random.fork_rng():
                torch.manual_seed(0)  # the same weights and example inputs every run
                self._built = (key, *build(block, index, self.blocks(), self.output))
        return self._built[1], self._built[2]

    def status(self, stem: str) -> str:
        """What ``codegen --check`` would say of ``stem``'s output ("unchanged" if up to date)."""
        if self._status is None:
            from . import generate

            # No stat cache: a test run reads every file, and leaves the user's cache alone.
            p = generate.plan(str(self.specs), str(self.output), use_cache=False, settings=self.settings)
            todo = [r.stem for r in p.results.values() if r.status not in ("unchanged", "extra", "extra-foreign")]
            if todo:
                generate.build(p, todo)
                for name in todo:  # a stale fingerprint whose bytes come out the same is not drift
                    result = p.results[name]
                    if result.status == "stale" and result.new == result.old:
                        result.status = "unchanged"
            self._status = {name: result.status for name, result in p.results.items()}
        return self._status.get(stem, "missing")


def folders(config: pytest.Config) -> Folders:
    found = getattr(config, "_codegen_folders", None)
    if found is None:
        found = Folders(config.rootpath)
        config._codegen_folders = found  # type: ignore[attr-defined]
    return found


def is_spec(path: Path, spec_dir: Path) -> bool:
    return path.suffix == ".json" and not path.name.endswith(".schema.json") and path.parent.resolve() == spec_dir.resolve()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> "SpecFile | None":
    if enabled(parent.config) and is_spec(file_path, folders(parent.config).specs):
        return SpecFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)  # before the session collects its arguments
def pytest_collection(session: pytest.Session) -> None:
    """A run without paths tests every spec, wherever the spec folder is (testpaths need not name it)."""
    config = session.config
    if not enabled(config) or config.option.file_or_dir:
        return
    spec_dir = folders(config).specs.resolve()
    if spec_dir.is_dir() and not any(spec_dir.is_relative_to(Path(arg.split("::")[0]).resolve()) for arg in config.args):
        config.args.append(str(spec_dir))


class SpecFile(pytest.File):
    def collect(self):
        """The four checks; shape and gradients once more for each further example (``shape[1]``, ...)."""
        block = folders(self.config).blocks_or_none().get(self.path.stem)
        count = len(block.examples) if block is not None else 1  # a spec that does not analyse: its items say why
        for check in CHECKS:
            yield SpecItem.from_parent(self, name=check, check=check, index=0)
            if check in ("shape", "gradients"):
                for index in range(1, count):
                    yield SpecItem.from_parent(self, name=f"{check}[{index}]", check=check, index=index)


class SpecItem(pytest.Item):
    def __init__(self, *, check: str, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.index = index  # which example
        self.stem = self.path.stem
        self.add_marker("codegen")

    def reportinfo(self):
        return self.path, None, self.name

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AssertionError):
            return f"{self.path.name} ({self.name}): {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def runtest(self) -> None:
        found = folders(self.config)
        if self.check == "up_to_date":
            status = found.status(self.stem)
            assert status == "unchanged", f"{status}: run `codegen` to regenerate {found.output / (self.stem + '.py')}"
            return
        import torch

        block = found.blocks()[self.stem]
        net, inputs = found.built(block, self.index)
        inputs = [fresh(X) for X in inputs]
        with torch.random.fork_rng():
            torch.manual_seed(0)  # dropout draws the same every run
            if self.check == "shape":
                check_shape(block, self.index, net, inputs, found.blocks())
            elif self.check == "gradients":
                check_gradients(net, inputs, block.examples[self.index])
            elif block.kind == "function":
                check_function_docstring(block, net, inputs, found.output)
            else:
                # A builder's docstring is the function's; its rows name the returned Sequential's children.
                module = import_generated(found.output / f"{self.stem}.py")
                doc = getattr(module, block.name).__doc__ if block.kind == "builder" else type(net).__doc__
                check_docstring_table(net, inputs, doc or "")


# ---------------------------------------------------------------------------- the checks


def import_generated(path: Path):
    """``path`` imported as a plain module, as a user would use it."""
    import importlib.util
    import sys

    name = f"_codegen_{path.stem}_{abs(hash(str(path.resolve())))}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None, f"cannot import {path}"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def make_input(value):
    """An example input: a shape (float32), None (an optional input left out), {shape, dtype, high}, a pair of shapes or {"list": [...]}."""
    import torch

    if value is None:
        return None
    if isinstance(value, dict) and "list" in value:  # a list input, e.g. one state per layer
        return [make_input(v) for v in value["list"]]
    if isinstance(value, list) and value and isinstance(value[0], list):  # a pair input, e.g. an LSTM's (H, C)
        return tuple(make_input(v) for v in value)
    if isinstance(value, dict):
        if value["dtype"] == "long":
            return torch.randint(0, value.get("high", 2), tuple(value["shape"]))
        if value["dtype"] == "bool":
            return torch.rand(*value["shape"]) < 0.5
        return torch.randn(*value["shape"])
    return torch.randn(*value)


def build(block, index: int, blocks: dict, output: Path):
    """What example ``index`` builds (the block, or the function with its arguments bound), and its inputs."""
    import functools

    import torch
    from torch import nn

    from . import render

    path = output / f"{block.raw.stem}.py"
    assert path.is_file(), f"{path} is missing: run `codegen`"
    module = import_generated(path)
    example = block.examples[index]
    inputs = [make_input(value) for value in example["inputs"].values()]
    if block.kind == "function":
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in example.get("args", {}).items()}
        return functools.partial(getattr(module, block.name), **args), inputs
    by_name = {b.name: b for b in blocks.values()}
    source = render.example_constructor(block, by_name, index)
    namespace = {"nn": nn, "torch": torch, "partial": functools.partial, **vars(module)}  # layer-class arguments
    net = eval(source, namespace)  # source built by the generator from the checked spec
    return net, inputs


def fresh(value):
    """A copy of an example input (a tensor, None or a pair) that no earlier item has touched."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(fresh(v) for v in value)
    if isinstance(value, list):
        return [fresh(v) for v in value]
    return value.detach().clone()


def shapes_of(value):
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    return tuple(shapes_of(v) for v in value)


def shapes_of_abstract(value):
    from .values import Tensor, TensorList

    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, TensorList):
        value = value.items
    return tuple(shapes_of_abstract(v) for v in value)


def leaves(value) -> list:
    import torch

    return [value] if isinstance(value, torch.Tensor) else [t for v in value for t in leaves(v)]


def check_shape(block, index: int, net, inputs, blocks: dict) -> None:
    """The output's shapes: those codegen inferred for the example, and those it declares."""
    import torch

    from .shapes import ShapeChecker, build_example, example_inputs

    example = block.examples[index]
    train(net, example)
    with torch.no_grad():
        output = net(*inputs)
    checker = ShapeChecker({b.name: b for b in blocks.values()})
    inst = build_example(checker, block, index)
    inferred = shapes_of_abstract(checker.run(inst, example_inputs(example), inst.hyper if block.kind == "function" else None))
    assert shapes_of(output) == inferred, f"output shape {shapes_of(output)}, inferred {inferred}"
    if example.get("output") is not None:
        declared = tuple(example["output"])
        assert tuple(output.shape) == declared, f"output shape {tuple(output.shape)}, expected {declared}"


def train(net, example: dict) -> None:
    """The mode the example asks for (``"training": false``: eval), training by default."""
    from torch import nn

    if isinstance(net, nn.Module):
        net.train(example.get("training", True))


def copies(value):
    """A tensor needing gradients as a fresh non-leaf copy (so a block may write into it), nested values alike."""
    if value is None or not hasattr(value, "requires_grad") and not isinstance(value, (tuple, list)):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(copies(v) for v in value)
    return value * 1 if value.requires_grad else value


def check_gradients(net, inputs, example: dict) -> None:
    import torch
    from torch import nn

    floats = [X for X in leaves([X for X in inputs if X is not None]) if X.is_floating_point()]
    for X in floats:
        X.requires_grad_(True)
    train(net, example)
    if isinstance(net, nn.Module):
        net.zero_grad(set_to_none=True)
    # Not the leaves themselves: a block may write into its input, as the book's masked_softmax does.
    output = net(*[copies(X) for X in inputs])
    if not any(t.requires_grad for t in leaves(output)):
        # A constant result (dropout_layer with dropout 1 returns zeros): only a function may give one.
        assert not isinstance(net, nn.Module), "a block's output does not depend on its parameters or inputs"
        return
    sum(t.sum() for t in leaves(output)).backward()
    if isinstance(net, nn.Module):
        for name, param in net.named_parameters():
            assert param.grad is not None, f"{name} got no gradient"
            assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        for name, buffer in net.named_buffers():
            assert buffer.grad is None and not buffer.requires_grad, f"buffer {name} is trained"
    # Some inputs may feed only detached outputs (batch_norm's moving statistics); the others get finite gradients.
    assert not floats or any(X.grad is not None for X in floats), "no input got a gradient"
    for i, X in enumerate(floats):
        assert X.grad is None or torch.isfinite(X.grad).all(), f"input {i} has a non-finite gradient"


def check_function_docstring(block, fn, inputs, output: Path) -> None:
    """A function spec's docstring ends with its output's shape for the first example."""
    doc = getattr(import_generated(output / f"{block.raw.stem}.py"), block.name).__doc__ or ""
    shown = shape_text(fn(*inputs))
    # Compared word by word: a long line of the docstring is wrapped at 88 columns.
    assert " ".join(doc.split()).endswith(f"output {shown}"), f"the docstring does not end with: output {shown}"


def parse_table(doc: str) -> tuple[list[tuple[str, str, int]], tuple[str, int]]:
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split() == ["layer", "output", "parameters"]), None)
    assert start is not None, "the docstring has no shape table"
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split()
        if parts[0] == "total":
            return rows, (" ".join(parts[1:-1]), int(parts[-1].replace(",", "")))
        count = int(parts[-1].replace(",", ""))
        rows.append((parts[0], " ".join(parts[1:-1]), count))
    raise AssertionError("the shape table has no total row")


def shape_text(value) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        dims = tuple(value.shape)
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
    if isinstance(value, list):  # a list forward built: as codegen.values.TensorList shows it
        texts = [shape_text(v) for v in value]
        return f"[{len(texts)} x {texts[0]}]" if texts and len(set(texts)) == 1 else "[" + ", ".join(texts) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(shape_text(v) for v in value) + ")"
    return repr(value)


def check_docstring_table(net, inputs, doc: str) -> None:
    """Every figure in the docstring's table, checked against the real module."""
    import torch

    rows, (total_output, total) = parse_table(doc)
    modules = dict(net.named_modules())
    seen: dict[str, list[str]] = {}
    hooks = []
    for name, _, _ in rows:
        if name in modules:
            def record(mod, args, out, name=name):
                text = shape_text(out)
                if text not in seen.setdefault(name, []):
                    seen[name].append(text)

            hooks.append(modules[name].register_forward_hook(record))
    net.eval()
    try:
        with torch.no_grad():
            output = net(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    assert total_output == shape_text(output), f"total output {total_output}, torch gives {shape_text(output)}"
    for name, shown, count in rows:
        if name in modules:
            actual = " / ".join(seen[name]) if name in seen else "-"
            assert shown == actual, f"{name}: output {shown}, torch gives {actual}"
            params = sum(p.numel() for p in modules[name].parameters())
            assert count == params, f"{name}: {count:,} parameters, torch counts {params:,}"
        else:  # the block's own parameter
            param = dict(net.named_parameters()).get(name)
            assert param is not None, f"{name}: neither a layer nor a parameter of the module"
            assert shown == "-" and count == param.numel(), f"{name}: {count:,} parameters, torch counts {param.numel():,}"
    params = sum(p.numel() for p in net.parameters())
    assert total == params, f"total {total:,} parameters, torch counts {params:,}"
