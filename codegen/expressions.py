"""Expressions in specs: parsed with ``ast``, checked against an allowlist,
re-emitted from the checked tree.

Spec text never reaches the output as text. A string in a spec is parsed as
a Python expression; the tree is walked node by node and anything not on the
allowlist is rejected; the output is ``ast.unparse`` of that checked tree, so
what is written is exactly what was checked.

Two contexts:

* ``init``: constructor arithmetic (``num_channels * i + input_channels``,
  ``c2[0]``, ``in_channels if i == 0 else out_channels``) over the
  constructor arguments and repeat variables; evaluated concretely for
  shape inference.
* ``forward``: tensor code (``F.relu(self.bn1(self.conv1(X)))``,
  ``torch.cat((X, Y), dim=1)``, ``X.abs().sum() > 1``, ``X[:, None, :k]``,
  ``~mask & (X > 0)``); evaluated on shapes by the analyser.

Both contexts may call ``math.sqrt``, ``math.log`` (and ``exp``, ``ceil``,
``floor``) and read ``math.pi`` and ``math.e``; constructor arithmetic also
``int`` and ``round``, forward ``len``, ``int`` and ``float``.
"""

from __future__ import annotations

import ast
import keyword
import math
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import SpecError
from .values import LayerClass

# Names a spec may not define: they would shadow what generated code relies on.
RESERVED = frozenset(
    {"self", "torch", "nn", "F", "super", "None", "True", "False", "Optional", "annotations"}
    | {
        # nn.Module attributes a member must not shadow
        "forward", "training", "to", "cuda", "cpu", "eval", "train", "state_dict",
        "load_state_dict", "parameters", "named_parameters", "buffers", "named_buffers",
        "children", "named_children", "modules", "named_modules", "register_buffer",
        "register_parameter", "register_module", "add_module", "apply", "zero_grad",
        "requires_grad_", "type", "float", "double", "half", "bfloat16", "share_memory",
        "extra_repr", "get_submodule", "get_parameter", "get_buffer", "dump_patches",
        "call_super_init", "compile", "xpu", "ipu", "mtia", "to_empty", "get_extra_state",
        "set_extra_state", "register_forward_hook", "register_forward_pre_hook",
        "register_full_backward_hook", "register_backward_hook",
        "register_full_backward_pre_hook", "register_state_dict_pre_hook",
        "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
        "register_state_dict_post_hook", "set_submodule", "T_destination",
    }
    # builtins and modules a generated file calls
    | {"range", "len", "min", "max", "enumerate", "str", "int", "isinstance", "RuntimeError", "round", "math"}
    # names generated code introduces itself
    | {"layers", "idx", "module", "steps"}
    # what layer-class arguments are written with (from functools import partial; typing.Callable)
    | {"partial", "Callable", "functools"}
)

# nn.Sequential's own methods: add_module refuses a child of one of these names (they are attributes already).
SEQUENTIAL_METHODS = frozenset({"append", "extend", "insert", "pop"})

# The attributes a forward expression may read on a tensor (anything but self, torch, math).
TENSOR_ATTRIBUTES = frozenset({"shape", "T", "device"})

# torch.is_grad_enabled(): takes no arguments and is decided at run time, so shape
# inference runs both arms of an if on it. (self.training is a member: see analyse.)
MODE_FUNCTIONS = frozenset({"torch.is_grad_enabled"})

INIT_FUNCTIONS = {"range": (1, 3), "len": (1, 1), "min": (2, 8), "max": (2, 8), "int": (1, 1), "round": (1, 2)}
FORWARD_BUILTINS = {"len": (1, 1), "int": (1, 1), "float": (1, 1)}
MATH_FUNCTIONS = {"sqrt": (1, 1), "log": (1, 2), "exp": (1, 1), "ceil": (1, 1), "floor": (1, 1)}
MATH_CONSTANTS = {"pi": math.pi, "e": math.e}
TORCH_NAMES = frozenset({"float32", "long", "bool"})  # dtypes forward may name: torch.long
MAX_INT = 2**31
# Functions and methods the catalogue leaves to an operator: what to write instead.
OPERATORS = {"add": "a + b", "sub": "a - b", "subtract": "a - b", "mul": "a * b", "multiply": "a * b",
             "div": "a / b", "divide": "a / b", "matmul": "a @ b", "pow": "a ** b", "neg": "-a"}
MAX_DEPTH = 50  # syntax tree levels of one expression; the specs use at most 7

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
_FORWARD_BINOPS = (ast.BitAnd, ast.BitOr)  # on tensors (masks), so forward only
_SYMBOLS = {ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|"}
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot)
_INIT_CMPOPS = _CMPOPS + (ast.In, ast.NotIn)  # `stride not in (1, 2)`: constructor checks


# Names that read like 1 and 0: pycodestyle (ruff's E741, E742, E743) flags them as a variable,
# argument, class or function, and generated code is promised lint-clean.
AMBIGUOUS = frozenset({"l", "O", "I"})
# What a spec may name so all the same: these become attributes (self.l), dictionary keys,
# a child's name (add_module("l", ...)) or part of one, which no linter reads as a variable.
NOT_VARIABLES = frozenset({"member", "ModuleDict key", "child name", "child name prefix"})


def check_identifier(name: str, what: str, path: str) -> None:
    """Reject (never rename) names that are keywords or shadow what generated code uses."""
    if not name.isidentifier() or not name.isascii():
        raise SpecError("E310", f"{what} {name!r} is not an ASCII Python identifier", path=path)
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise SpecError("E310", f"{what} {name!r} is a Python keyword", path=path)
    if name in RESERVED or name.startswith("__"):
        raise SpecError("E310", f"{what} {name!r} is reserved: it would shadow a name generated code uses", path=path)
    if name in AMBIGUOUS and what not in NOT_VARIABLES:
        raise SpecError(
            "E319",
            f"{what} {name!r} is ambiguous: l, O and I read like 1 and 0, and linters flag them "
            "(pycodestyle E741); give it a longer name, as specs/lstm_scratch.json names its gates I_gate and O_gate",
            path=path,
        )


def parse(text: str, path: str) -> ast.expr:
    if "\x00" in text:
        raise SpecError("E301", "expression contains a NUL character", path=path)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError("E301", f"not a valid expression: {text!r} ({exc.msg})", path=path) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a lone surrogate, a parser stack overflow
        raise SpecError("E301", f"not a valid expression: {text!r} ({type(exc).__name__})", path=path) from None
    # Every later stage (checker, evaluator, analyser, unparse, black) recurses over the tree.
    stack = [(tree.body, 1)]
    node_type = ast.AST
    while stack:  # by hand: ast.iter_child_nodes' generators cost more than parsing
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError("E301", f"expression nested more than {MAX_DEPTH} levels deep", path=path)
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                stack.extend((item, depth + 1) for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type):
                stack.append((value, depth + 1))
    return tree.body


def from_json(value: Any, path: str) -> ast.expr:
    """A JSON value -> expression tree. Strings are expressions; arrays are tuples."""
    if isinstance(value, str):
        return parse(value, path)
    if isinstance(value, list):
        return ast.Tuple([from_json(v, f"{path}[{i}]") for i, v in enumerate(value)], ast.Load())
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError("E105", f"{value!r} is not a finite number", path=path)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise SpecError("E324", f"{value} is out of range (at most {MAX_INT} in magnitude)", path=path)
    return ast.Constant(value)


def unparse(tree: ast.expr) -> str:
    """``ast.unparse(tree)``; the commonest leaves (a name, a number, a bool) directly, as unparse's visitor costs 15 µs a call."""
    kind = type(tree)
    if kind is ast.Name:
        return tree.id
    if kind is ast.Constant and (type(tree.value) in (int, bool, type(None)) or (type(tree.value) is float and math.isfinite(tree.value))):
        return repr(tree.value)
    return ast.unparse(tree)


@dataclass
class Scope:
    """What names an expression may use."""

    context: str  # "init" or "forward"
    names: frozenset[str]
    members: frozenset[str] = frozenset()  # self.<member> (forward only)
    functions: frozenset[str] = frozenset()  # "F.relu", "torch.cat" (forward only)
    methods: frozenset[str] = frozenset()  # tensor methods (forward only)
    callables: frozenset[str] = frozenset()  # function specs forward may call by name
    buffers: frozenset[str] = frozenset()  # members forward may assign (self.<buffer> = ...)
    classes: frozenset[str] = frozenset()  # init: spec classes usable as layer classes (nn.<catalogued> always are)
    helpers: frozenset[str] = frozenset()  # forward: the block's private helper methods, self._name(...)


def check(tree: ast.expr, scope: Scope, path: str) -> None:
    """Raise SpecError unless every node of ``tree`` is on the allowlist."""
    _Checker(scope, path).visit(tree)


class _Checker(ast.NodeVisitor):
    def __init__(self, scope: Scope, path: str) -> None:
        self.scope = scope
        self.path = path

    def fail(self, code: str, message: str) -> None:
        raise SpecError(code, message, path=self.path)

    def generic_visit(self, node: ast.AST) -> None:
        self.fail("E302", f"{type(node).__name__} is not allowed in an expression")

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                self.fail("E324", f"{value} is out of range (at most {MAX_INT} in magnitude)")
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail("E105", f"{value!r} is not a finite number")
            return
        if isinstance(value, str) and self.scope.context == "init":
            self._string(value)
            return
        self.fail("E302", f"literal {value!r} is not allowed here")

    def _string(self, value: str) -> None:
        """A string literal where one is allowed: data, re-emitted by repr, never code."""
        if len(value) > 64 or not value.isprintable():
            self.fail("E302", "string literals must be short and printable")

    def _string_operand(self, node: ast.expr) -> bool:
        """In forward, a string is allowed only as a keyword argument's value (F.gelu(x, approximate='tanh'))
        or compared with == / != to a name or self.<attribute> (self.mode == 'avg'); it is checked here."""
        if self.scope.context == "forward" and isinstance(node, ast.Constant) and isinstance(node.value, str):
            self._string(node.value)
            return True
        return False

    def visit_Name(self, node: ast.Name) -> None:
        if node.id not in self.scope.names and node.id not in self.scope.classes:
            from .errors import did_you_mean

            hint = did_you_mean(node.id, self.scope.names)
            if not hint and self.scope.context == "init" and node.id.isalpha() and node.id.islower():
                # "padding": "same" reads as the name same: a string needs its own quotes.
                hint = f" (a string needs quotes inside the JSON string: \"'{node.id}'\")"
            self.fail("E303", f"unknown name {node.id!r}" + hint)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        for elt in node.elts:
            self.visit(elt)

    visit_List = visit_Tuple

    def visit_BinOp(self, node: ast.BinOp) -> None:
        forward_only = isinstance(node.op, _FORWARD_BINOPS)
        if not isinstance(node.op, _BINOPS) and not forward_only:
            self.fail("E302", f"operator {type(node.op).__name__} is not allowed")
        if (isinstance(node.op, ast.MatMult) or forward_only) and self.scope.context == "init":
            self.fail("E302", f"{_SYMBOLS[type(node.op)]} is only allowed in forward")
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Invert):
            if self.scope.context == "init":
                self.fail("E302", "~ is only allowed in forward")
        elif not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            self.fail("E302", f"operator {type(node.op).__name__} is not allowed")
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        allowed = _INIT_CMPOPS if self.scope.context == "init" else _CMPOPS
        for op, right in zip(node.ops, node.comparators):
            if not isinstance(op, allowed):
                self.fail("E302", f"comparison {type(op).__name__} is not allowed")
            if isinstance(op, (ast.Is, ast.IsNot)) and not (
                isinstance(right, ast.Constant) and right.value is None
            ):
                self.fail("E302", "'is' and 'is not' may only compare with None")
        operands = [node.left, *node.comparators]
        for i, operand in enumerate(operands):
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str) and len(operands) == 2 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                other = operands[1 - i]
                if isinstance(other, ast.Name) or _is_member(other):
                    if self._string_operand(operand):
                        continue
            self.visit(operand)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        self.visit(node.body)
        self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)
        key = node.slice
        if self.scope.context == "forward" and isinstance(key, ast.Constant) and isinstance(key.value, str):
            # A ModuleDict key: a checked identifier, never other text (shape inference checks the owner).
            check_identifier(key.value, "ModuleDict key", self.path)
            return
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for item in items:
            if isinstance(item, ast.Slice):
                for part in (item.lower, item.upper, item.step):
                    if part is not None:
                        self.visit(part)
            elif isinstance(item, ast.Constant) and item.value is Ellipsis:
                if self.scope.context == "init":
                    self.fail("E302", "... is only allowed in forward")
            else:
                self.visit(item)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # Attributes appear only as self.<member>, tensor.shape/.T/.device, torch.<dtype>,
        # math.<constant> and (in constructor arithmetic) nn.<catalogued layer>; calls handle the rest.
        if self.scope.context == "init" and isinstance(node.value, ast.Name) and node.value.id == "nn":
            from . import catalogue

            if node.attr not in catalogue.LAYERS:
                from .errors import did_you_mean

                self.fail("E320", f"unknown layer class nn.{node.attr}" + did_you_mean(node.attr, catalogue.LAYERS))
            return
        if node.attr.startswith("_"):
            self.fail("E302", f"private attribute {node.attr!r} is not allowed")
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner == "math":
            if node.attr not in MATH_CONSTANTS:
                from .errors import did_you_mean

                self.fail("E303", f"unknown name math.{node.attr}" + did_you_mean(node.attr, MATH_CONSTANTS))
            return
        if self.scope.context == "forward":
            if owner == "self":
                if node.attr not in self.scope.members:
                    from .errors import did_you_mean

                    self.fail("E305", f"unknown member self.{node.attr}" + did_you_mean(node.attr, self.scope.members))
                return
            if owner == "torch":
                if node.attr not in TORCH_NAMES:
                    from .errors import did_you_mean

                    self.fail("E303", f"unknown name torch.{node.attr}" + did_you_mean(node.attr, TORCH_NAMES))
                return
            if node.attr in TENSOR_ATTRIBUTES:
                self.visit(node.value)
                return
        self.fail("E302", f"attribute .{node.attr} is not allowed here")

    def visit_Call(self, node: ast.Call) -> None:
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail("E302", "*args in a call is not allowed")
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg is None:
                self.fail("E302", "**kwargs in a call is not allowed")
            if not self._string_operand(kw.value):
                self.visit(kw.value)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math":
            self._arity(node, f"math.{func.attr}", MATH_FUNCTIONS.get(func.attr), MATH_FUNCTIONS, "math.")
            return
        if self.scope.context == "init":
            if isinstance(func, ast.Name) and func.id == "partial":
                self._partial(node)
                return
            if isinstance(func, ast.Name) and func.id in INIT_FUNCTIONS:
                self._arity(node, func.id, INIT_FUNCTIONS[func.id], INIT_FUNCTIONS)
                return
            self.fail("E304", f"call of {ast.unparse(func)!r} is not allowed in constructor arithmetic")
        if isinstance(func, ast.Name) and func.id in FORWARD_BUILTINS:
            self._arity(node, func.id, FORWARD_BUILTINS[func.id], FORWARD_BUILTINS)
            return
        # forward: self.layer(...), a loop variable bound to a module, F.x / torch.x, tensor.method()
        if isinstance(func, ast.Attribute):
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id == "self":
                if func.attr in self.scope.helpers:
                    return  # a private helper method the block declares under "methods"
                self.visit(func)
                return
            if isinstance(owner, ast.Name) and owner.id in ("F", "torch"):
                qualname = f"{owner.id}.{func.attr}"
                if qualname in MODE_FUNCTIONS:
                    if node.args or node.keywords:
                        self.fail("E302", f"{qualname}() takes no arguments")
                    return
                if qualname not in self.scope.functions:
                    from .errors import did_you_mean

                    hint = did_you_mean(qualname, self.scope.functions)
                    if func.attr in OPERATORS and not hint:
                        hint = f" (write the operator: {OPERATORS[func.attr]})"
                    self.fail("E304", f"unknown function {qualname}" + hint)
                return
            if func.attr.startswith("_") or func.attr not in self.scope.methods:
                from .errors import did_you_mean

                hint = did_you_mean(func.attr, self.scope.methods)
                if func.attr in OPERATORS and not hint:
                    hint = f" (write the operator: {OPERATORS[func.attr]})"
                self.fail("E304", f"unknown tensor method .{func.attr}()" + hint)
            self.visit(owner)
            return
        if isinstance(func, ast.Name):
            if func.id in self.scope.callables:
                return  # a function spec the block declares under "functions"
            self.visit(func)  # a loop variable bound to a module; the analyser checks it is one
            return
        if isinstance(func, ast.Subscript) and _is_member(func.value):
            self.visit(func)  # self.blks[i](X), self.heads['name'](X): the analyser checks it is a layer
            return
        self.fail("E302", f"call of {ast.unparse(func)!r} is not allowed")

    def _arity(self, node: ast.Call, name: str, bounds: tuple[int, int] | None, known: dict, prefix: str = "") -> None:
        if bounds is None:
            from .errors import did_you_mean

            self.fail("E304", f"unknown function {name}" + did_you_mean(name, {prefix + k for k in known}))
        low, high = bounds
        if node.keywords or not low <= len(node.args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            self.fail("E302", f"{name}() takes {count} positional argument{'s' if high > 1 else ''}")


    def _partial(self, node: ast.Call) -> None:
        """``partial(nn.LayerNorm, eps=1e-6)``, ``partial(nn.GroupNorm, 4)``: one layer class, then arguments
        it takes (keywords checked here for nn.<layer>; the count of positional ones where the class is called)."""
        if not node.args or (len(node.args) == 1 and not node.keywords):
            self.fail("E302", "partial() takes one layer class and arguments for it")
        target = node.args[0]
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "nn":
            from . import catalogue
            from .errors import did_you_mean

            known = [p.name for p in catalogue.LAYERS[target.attr].params] if target.attr in catalogue.LAYERS else []
            for kw in node.keywords:
                if target.attr in catalogue.LAYERS and kw.arg not in known:
                    self.fail("E321", f"nn.{target.attr} has no argument {kw.arg!r}" + did_you_mean(kw.arg or "", known))
        elif not (isinstance(target, ast.Name) and target.id in self.scope.classes):
            self.fail("E302", "partial() takes nn.<catalogued layer> or a spec's class")


def _is_member(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def names_in(tree: ast.expr) -> Iterable[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


# ---------------------------------------------------------------- evaluation


def evaluate(tree: ast.expr, env: dict[str, Any], path: str) -> Any:
    """Evaluate checked constructor arithmetic on concrete values."""
    try:
        return _eval(tree, env)
    except SpecError as exc:
        exc.path = exc.path or path
        raise
    except (TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError, KeyError) as exc:
        raise SpecError("E306", f"cannot evaluate {ast.unparse(tree)!r}: {exc}", path=path) from None


def bounded(value: Any) -> Any:
    """``value`` if it is in range (ints within 2**31, finite floats); else SpecError E324 or E105."""
    return _bounded(value)


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise SpecError("E324", f"value {value} is out of range (at most {MAX_INT} in magnitude)")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError("E105", f"value {value!r} is not a finite number")
    return value


def _eval(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(e, env) for e in node.elts)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow) and isinstance(right, int) and abs(right) > 64:
            raise SpecError("E324", f"exponent {right} is too large")
        if isinstance(left, (tuple, str)) or isinstance(right, (tuple, str)):
            if not isinstance(node.op, ast.Add):
                raise TypeError("only + applies to tuples")
        return _bounded(_BINOP_FUNCS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not operand
        return _bounded(-operand if isinstance(node.op, ast.USub) else +operand)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env) for v in node.values]
        result = values[0]
        for v in values[1:]:
            result = (result and v) if isinstance(node.op, ast.And) else (result or v)
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env)
            if not _CMP_FUNCS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, ast.Subscript):
        value = _eval(node.value, env)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else _eval(p, env) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            return value[slice(*parts)]
        return value[_eval(node.slice, env)]
    if isinstance(node, ast.Attribute):  # nn.<catalogued layer> (a layer class), math.pi, math.e
        if isinstance(node.value, ast.Name) and node.value.id == "nn":
            return LayerClass(node.attr, "layer")
        return MATH_CONSTANTS[node.attr]
    if isinstance(node, ast.Call):
        args = [_eval(a, env) for a in node.args]
        if isinstance(node.func, ast.Attribute):
            return _bounded(call_math(node.func.attr, args))
        name = node.func.id  # type: ignore[attr-defined]
        if name == "partial":
            target = args[0]
            if not isinstance(target, LayerClass):
                raise TypeError(f"partial() needs a layer class, found {target!r}")
            keywords = dict(target.keywords)
            keywords.update((k.arg, _eval(k.value, env)) for k in node.keywords)
            return LayerClass(target.name, target.kind, tuple(keywords.items()), target.positional + tuple(args[1:]))
        if name == "range":
            result = range(*args)
            if len(result) > 4096:
                raise SpecError("E324", f"range of {len(result)} items is too long (at most 4096)")
            return tuple(result)
        if name in ("int", "round"):
            if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
                raise TypeError(f"{name}() takes numbers here")
            return _bounded(int(args[0]) if name == "int" else round(*args))
        return {"len": len, "min": min, "max": max}[name](*args)
    raise TypeError(f"{type(node).__name__} cannot be evaluated")


def call_math(name: str, args: list[Any]) -> Any:
    """``math.<name>(*args)`` on numbers (TypeError for anything else, ValueError out of its domain)."""
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise TypeError(f"math.{name}() takes numbers")
    return getattr(math, name)(*args)


import operator as _op  # noqa: E402

_BINOP_FUNCS = {
    ast.Add: _op.add, ast.Sub: _op.sub, ast.Mult: _op.mul, ast.Div: _op.truediv,
    ast.FloorDiv: _op.floordiv, ast.Mod: _op.mod, ast.Pow: _op.pow, ast.MatMult: _op.matmul,
}
_CMP_FUNCS = {
    ast.Eq: _op.eq, ast.NotEq: _op.ne, ast.Lt: _op.lt, ast.LtE: _op.le, ast.Gt: _op.gt,
    ast.GtE: _op.ge, ast.Is: _op.is_, ast.IsNot: _op.is_not,
    ast.In: lambda a, b: _op.contains(b, a), ast.NotIn: lambda a, b: not _op.contains(b, a),
}
