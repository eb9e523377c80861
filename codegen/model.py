"""The checked form of a spec: what the analyser builds and the renderer reads.

Every name in here has passed ``expressions.check_identifier`` and every
expression has passed the allowlist in ``expressions.check``; the renderer
emits nothing that is not held here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Union

from .load import RawSpec
from .values import REQUIRED


@dataclass
class Arg:
    name: str
    annotation: str  # from the schema's enum: "int", "tuple[int, int]", "nn.Module", ...
    default: Any = REQUIRED
    variadic: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()  # a str argument's allowed values
    source: str | None = None  # the default as emitted, where repr() is not it (a layer class)
    otherwise: ast.expr | None = None  # "or": `name = name or <otherwise>` first thing in __init__


@dataclass
class InitStep:
    """One step of an initialisation (see ``initialisers``).

    ``create``: ``torch.<func>(shape)``, times ``scale`` if given;
    ``init``: ``nn.init.<func>_(tensor, *args, **keywords)``;
    ``update``: ``tensor.data <op> value``, where ``value`` names the tensor by its own name.
    """

    kind: str
    func: str = ""
    args: list[ast.expr] = field(default_factory=list)
    keywords: dict[str, ast.expr] = field(default_factory=dict)
    scale: ast.expr | None = None
    op: str = ""
    value: ast.expr | None = None
    path: str = ""


@dataclass
class Init:
    """How one tensor is initialised: ``name`` is how its update steps refer to it."""

    name: str
    steps: list[InitStep]
    path: str


@dataclass
class InitRule:
    """A block's rule: every layer of these types gets these inits (``weight``, ``bias``)."""

    types: list[str]
    tensors: dict[str, Init]
    path: str


@dataclass
class TensorDef:
    """A parameter or buffer: created by its init, of a shape given per dimension or as one expression."""

    name: str
    shape: list[ast.expr] | ast.expr
    init: Init
    doc: str = ""
    persistent: bool = True  # buffers: False keeps it out of state_dict
    condition: ast.expr | None = None  # "if": built only when this holds, otherwise None
    after: str | None = None  # "after": made right after this layer in __init__, instead of before every layer


@dataclass
class LayerDef:
    path: str  # JSON path in the spec, for messages
    type: str
    kind: str = ""  # "layer" (catalogue), "block" (another spec), "container" (Sequential/ModuleList/ModuleDict),
    # "class" (type names a layer-class argument or derived value: `norm_layer(planes)`)
    key: str = ""  # a ModuleDict child's key
    name: str = ""  # a Sequential child's name (add_module), instead of its position
    args: dict[str, ast.expr] = field(default_factory=dict)
    children: list[Union["LayerDef", "RepeatDef"]] = field(default_factory=list)
    condition: ast.expr | None = None
    orelse: "LayerDef | None" = None  # "else": the layer built when the condition fails (instead of None)
    positional: list[ast.expr] = field(default_factory=list)  # a "class" layer's positional arguments
    doc: str = ""
    init: dict[str, Init] = field(default_factory=dict)  # "weight"/"bias" -> how the layer's tensor is initialised
    inferred: dict[str, Any] = field(default_factory=dict)  # filled by shape inference


@dataclass
class RepeatDef:
    path: str
    var: str
    iterable: ast.expr
    layers: list[LayerDef]
    prefix: str = ""  # children named prefix + str(var) instead of 0, 1, ...


@dataclass
class Assign:
    targets: list[str]  # local names, or "self.<buffer>" (forward's one assignment to self)
    op: str
    value: ast.expr
    path: str
    item: ast.Subscript | None = None  # X[index] = value: the checked target; targets holds X


@dataclass
class If:
    test: ast.expr
    then: list["Statement"]
    orelse: list["Statement"]
    path: str


@dataclass
class While:
    test: ast.expr
    body: list["Statement"]
    max_iterations: int
    path: str


@dataclass
class For:
    var: str
    iterable: ast.expr  # for enumerate(self.blks): self.blks, with ``index`` set
    body: list["Statement"]
    path: str
    index: str | None = None  # for index, var in enumerate(iterable)
    over: str = "modules"  # "modules" (a container or the variadic argument) or "values" (a tensor's first dim, a list)


@dataclass
class Append:
    """``outputs.append(H)`` on a list forward built with ``outputs = []``."""

    target: str
    value: ast.expr
    path: str


@dataclass
class Return:
    value: ast.expr
    path: str


Statement = Union[Assign, If, While, For, Append, Return]


@dataclass
class Check:
    """Constructor validation: ``if <test>: raise <error>(<message>)`` or ``assert <test>, <message>``."""

    kind: str  # "raise" or "assert"
    test: ast.expr  # raise: the failing condition; assert: the condition that must hold
    message: str  # emitted as a string literal, never formatted
    path: str
    error: str = "ValueError"  # raise only


@dataclass
class Derived:
    """A value computed in __init__: ``hidden_dim = int(round(inp * expand_ratio))``; kept as self.<name> when forward reads it."""

    name: str
    value: ast.expr
    path: str
    kept: bool = False


@dataclass
class Method:
    """A method besides forward: a private helper forward calls (``def _scale(self, input: torch.Tensor) -> torch.Tensor``),
    or a public one callers use (d2l's ``init_state``), run on the inputs each example gives it."""

    name: str
    inputs: list[str]
    body: list[Statement]
    path: str
    returns: str = "torch.Tensor"
    types: dict[str, str] = field(default_factory=dict)  # input -> its annotation: torch.Tensor, a pair, a list

    @property
    def public(self) -> bool:
        return not self.name.startswith("_")


@dataclass
class ConstructorAssign:
    """A constructor statement: ``name = value`` or ``self.<buffer>[...] = value``."""

    target: ast.expr
    value: ast.expr
    path: str


@dataclass
class TableRow:
    name: str
    output: str
    parameters: int


@dataclass
class Block:
    raw: RawSpec
    name: str
    doc: str
    args: list[Arg]
    parameters: list[TensorDef]
    buffers: list[TensorDef]
    layers: dict[str, LayerDef]
    inputs: list[str]
    body: list[Statement]
    examples: list[dict[str, Any]]
    kind: str = "block"  # or "function": a module-level def
    optional: frozenset[str] = frozenset()  # inputs that default to None
    pairs: frozenset[str] = frozenset()  # inputs that are a pair of tensors (an LSTM's (H, C))
    lists: frozenset[str] = frozenset()  # inputs that are a list of tensors (one state per layer)
    kept: list[str] = field(default_factory=list)  # arguments forward reads as self.<name>
    constructor: list[ConstructorAssign] = field(default_factory=list)  # after parameters and buffers
    functions: list[str] = field(default_factory=list)  # function specs forward calls
    examples_key: str = "example"  # where the examples are in the spec, for messages
    uses: set[str] = field(default_factory=set)  # names of other specs it builds or calls
    init_rules: list[InitRule] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    derived: list[Derived] = field(default_factory=list)
    methods: list[Method] = field(default_factory=list)
    # Filled by shape inference on the example:
    table: list[TableRow] = field(default_factory=list)
    total_parameters: int = 0
    output_shape: tuple[int, ...] | None = None
    output_text: str = ""  # the output's shape(s) as the docstring shows them
    returns: str = "torch.Tensor"

    @property
    def example(self) -> dict[str, Any]:
        """The first example: the docstring's and the tests'."""
        return self.examples[0]

    def example_path(self, index: int) -> str:
        return "example" if self.examples_key == "example" else f"examples[{index}]"

    @property
    def file(self) -> str:
        return str(self.raw.path)

    @property
    def variadic(self) -> Arg | None:
        return next((a for a in self.args if a.variadic), None)
