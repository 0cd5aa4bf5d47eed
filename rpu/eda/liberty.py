"""The Liberty reader: cells, areas, pins and NLDM delay tables of a standard-cell library.

:func:`read_liberty` parses a Liberty (``.lib``) file into a :class:`LibertyLibrary` of
:class:`LibertyCell` records: the area of each cell (for the area report of
:func:`rpu.eda.yosys.synthesize`), its pins and their capacitance, whether it is sequential
(and its clock and asynchronous pins), and its timing arcs with their delay, transition and
constraint tables (for the timing estimate of :mod:`rpu.eda.timing`). Tables are evaluated
with linear inter- and extrapolation. :func:`check_mappable` refuses, up front, a library
that ABC cannot map onto.

The reader accepts the syntax of commercial libraries (header attributes, ``define``, wire
loads, templates, line continuations, a missing ``;`` at the end of a line) and reports
malformed files with the file name and line.
"""

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from rpu.eda.errors import SynthesisError


__all__ = ["LibertyCell", "LibertyLibrary", "read_liberty", "check_mappable"]


# --------------------------------------------------------------------------------------
# Tokens and groups
# --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'''
    (?P<ws>[ \t\r\f]+|\\\r?\n)       # blanks and line continuations
  | (?P<nl>\n)
  | (?P<comment>/\*.*?\*/)
  | (?P<linecomment>//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<punct>[(){}:;,])
  | (?P<word>[^\s(){}:;,"]+)
''', re.VERBOSE | re.DOTALL)


class _Group:
    __slots__ = ("kind", "args", "attrs", "complex", "groups", "line")

    def __init__(self, kind, args, line):
        self.kind, self.args, self.line = kind, args, line
        self.attrs, self.complex, self.groups = {}, [], []

    def sub(self, kind):
        return [g for g in self.groups if g.kind == kind]

    def complex_attr(self, name):
        for n, args in self.complex:
            if n == name:
                return args
        return None


def _tokenize(text, path):
    tokens, line, pos = [], 1, 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise SynthesisError(f"liberty file {path}: line {line}: cannot read "
                                 f"{text[pos:pos + 20]!r}")
        kind, value = m.lastgroup, m.group()
        if kind in ("string", "punct", "word"):
            if kind == "string":
                value = value[1:-1]
            tokens.append((kind, value, line))
        line += value.count("\n") if kind != "string" else 0
        pos = m.end()
    return tokens


class _Parser:
    """Recursive-descent parser of the token list into nested :class:`_Group` records."""

    def __init__(self, tokens, path):
        self.tokens, self.path, self.i = tokens, path, 0

    def error(self, msg, at=None):
        tokens, n = self.tokens, len(self.tokens)
        line = tokens[min(at if at is not None else self.i, n - 1)][2] if tokens else 1
        raise SynthesisError(f"liberty file {self.path}: line {line}: {msg}")

    def at_punct(self, chars):
        """Whether the current token is one of the punctuation characters ``chars``."""
        return (self.i < len(self.tokens) and self.tokens[self.i][0] == "punct"
                and self.tokens[self.i][1] in chars)

    def body(self, group, toplevel=False):
        """Attributes and sub-groups up to the closing ``}`` (or the end of the file)."""
        tokens, n = self.tokens, len(self.tokens)
        while True:
            if self.i >= n and toplevel:
                return
            if self.i >= n:
                self.error(f"missing '}}' closing group {group.kind} (opened on line "
                           f"{group.line})", n - 1)
            kind, value, _ = tokens[self.i]
            if kind == "punct" and value == "}":
                if toplevel:
                    self.error("unbalanced '}'")
                self.i += 1
                return
            if kind == "punct" and value == ";":
                self.i += 1
                continue
            if kind not in ("word", "string"):
                self.error(f"expected an attribute or group name, found {value!r}")
            name = value
            self.i += 1
            if self.i >= n:
                self.error(f"unexpected end of file after {name!r}", n - 1)
            kind, value, _ = tokens[self.i]
            if kind == "punct" and value == ":":
                self.i += 1
                group.attrs[name] = self.simple_value(name)
            elif kind == "punct" and value == "(":
                self.i += 1
                self.group_or_complex(group, name, self.arguments(name))
            else:
                self.error(f"expected ':' or '(' after {name!r}, found {value!r}")

    def simple_value(self, name):
        """The value of ``name : value ;`` (the ``;`` may be missing at a line's end)."""
        tokens, n = self.tokens, len(self.tokens)
        parts = []
        while self.i < n:
            k, v, ln = tokens[self.i]
            if k == "punct" and v in ";}":
                break
            if parts and ln != tokens[self.i - 1][2]:
                break       # a missing ';' at the end of a line
            if k == "punct" and v in "{(:":
                self.error(f"unexpected {v!r} in the value of attribute {name!r}")
            parts.append(v)
            self.i += 1
        if not parts:
            self.error(f"attribute {name!r} has no value")
        if self.at_punct(";"):
            self.i += 1
        return " ".join(parts)

    def arguments(self, name):
        """The comma-separated arguments of ``name ( ... )``, up to the ``)``."""
        tokens, n = self.tokens, len(self.tokens)
        args, current = [], []
        while True:
            if self.i >= n:
                self.error(f"missing ')' after {name}(", n - 1)
            k, v, _ = tokens[self.i]
            if k == "punct" and v == ")":
                self.i += 1
                break
            if k == "punct" and v == ",":
                args.append(" ".join(current))
                current = []
            elif k == "punct" and v in "{};:(":
                self.error(f"unexpected {v!r} in the arguments of {name!r}")
            else:
                current.append(v)
            self.i += 1
        if current or args:
            args.append(" ".join(current))
        return args

    def group_or_complex(self, group, name, args):
        """``name (args) { ... }`` (a sub-group) or ``name (args) ;`` (a complex attribute)."""
        if self.at_punct("{"):
            self.i += 1
            child = _Group(name, args, self.tokens[self.i - 1][2])
            self.body(child)
            group.groups.append(child)
        else:
            if self.at_punct(";"):
                self.i += 1
            group.complex.append((name, args))


def _parse_liberty_text(text, path):
    if "/*" in text and text.count("/*") > text.count("*/"):
        raise SynthesisError(f"liberty file {path}: unterminated /* comment")
    tokens = _tokenize(text, path)
    if not tokens:
        raise SynthesisError(f"liberty file {path}: the file is empty")
    if tokens[0][1] != "library":
        raise SynthesisError(f"liberty file {path}: line {tokens[0][2]}: expected "
                             f"'library (name) {{', found {tokens[0][1]!r}")
    root = _Group("<file>", [], 1)
    _Parser(tokens, path).body(root, toplevel=True)
    libraries = root.sub("library")
    if len(libraries) != 1 or root.attrs or root.complex or len(root.groups) != 1:
        raise SynthesisError(f"liberty file {path}: expected exactly one "
                             f"'library (name) {{ ... }}' group")
    return libraries[0]


def _float(value, what, path):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SynthesisError(f"liberty file {path}: {what} is not a number: "
                             f"{value!r}") from None


def _float_list(text, what, path):
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    return [_float(p, what, path) for p in parts]


# --------------------------------------------------------------------------------------
# Delay tables
# --------------------------------------------------------------------------------------

_SLEW_VARS = ("input_net_transition", "input_transition_time", "constrained_pin_transition")
_LOAD_VARS = ("total_output_net_capacitance",)
_CLOCK_SLEW_VARS = ("related_pin_transition",)


class _Table:
    """An NLDM lookup table (0 to 2 dimensions) with linear inter/extrapolation."""

    __slots__ = ("variables", "indexes", "values")

    def __init__(self, variables, indexes, values):
        self.variables, self.indexes, self.values = variables, indexes, values

    @staticmethod
    def _axis_value(var, index, slew, load, clock_slew):
        if var in _LOAD_VARS:
            x = load
        elif var in _CLOCK_SLEW_VARS:
            x = clock_slew
        elif var in _SLEW_VARS:
            x = slew
        else:
            x = None
        return index[0] if x is None else x

    @staticmethod
    def _interp(index, x):
        # Segment and weight for linear interpolation (extrapolating at the ends).
        if len(index) == 1:
            return 0, 0, 0.0
        k = bisect.bisect_right(index, x) - 1
        k = min(max(k, 0), len(index) - 2)
        x0, x1 = index[k], index[k + 1]
        t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
        return k, k + 1, t

    def __call__(self, *, slew=None, load=0.0, clock_slew=None):
        if not self.indexes:
            return self.values[0][0]
        xs = [self._axis_value(v, idx, slew, load, clock_slew)
              for v, idx in zip(self.variables, self.indexes)]
        if len(self.indexes) == 1:
            a, b, t = self._interp(self.indexes[0], xs[0])
            row = self.values[0] if len(self.values) == 1 else [r[0] for r in self.values]
            return row[a] + (row[b] - row[a]) * t
        a1, b1, t1 = self._interp(self.indexes[0], xs[0])
        a2, b2, t2 = self._interp(self.indexes[1], xs[1])
        v = self.values
        top = v[a1][a2] + (v[a1][b2] - v[a1][a2]) * t2
        bot = v[b1][a2] + (v[b1][b2] - v[b1][a2]) * t2
        return top + (bot - top) * t1


def _read_table(group, templates, path, cell_name):
    template = group.args[0].strip() if group.args else "scalar"
    tvars, tidx = templates.get(template, ([], []))
    indexes = []
    for k in (1, 2, 3):
        arg = group.complex_attr(f"index_{k}")
        if arg is not None:
            indexes.append(_float_list(",".join(arg), f"cell {cell_name}: index_{k}", path))
        elif k <= len(tidx):
            indexes.append(tidx[k - 1])
    values_arg = group.complex_attr("values")
    if values_arg is None:
        raise SynthesisError(f"liberty file {path}: cell {cell_name}: table "
                             f"{group.kind} (line {group.line}) has no values")
    rows = [_float_list(r, f"cell {cell_name}: values", path) for r in values_arg]
    if template == "scalar" or not indexes:
        return _Table([], [], [[rows[0][0]]])
    if len(indexes) > 2:
        indexes = indexes[:2]
    variables = list(tvars) + [None] * (len(indexes) - len(tvars))
    if len(indexes) == 2:
        if len(rows) != len(indexes[0]) or any(len(r) != len(indexes[1]) for r in rows):
            raise SynthesisError(f"liberty file {path}: cell {cell_name}: table "
                                 f"{group.kind} (line {group.line}) has "
                                 f"{len(rows)} x {len(rows[0])} values for "
                                 f"{len(indexes[0])} x {len(indexes[1])} indexes")
    else:
        flat = [x for r in rows for x in r]
        if len(flat) != len(indexes[0]):
            raise SynthesisError(f"liberty file {path}: cell {cell_name}: table "
                                 f"{group.kind} (line {group.line}) has {len(flat)} values "
                                 f"for {len(indexes[0])} index points")
        rows = [flat]
    return _Table(variables[:len(indexes)], indexes, rows)


# --------------------------------------------------------------------------------------
# Cells and libraries
# --------------------------------------------------------------------------------------

@dataclass
class _Arc:
    related: tuple
    timing_type: str
    delay: list          # tables or callables giving a delay
    transition: list
    constraint: list


@dataclass(kw_only=True)
class LibertyCell:
    """One cell of a Liberty library, as far as synthesis reports need it.

    Attributes
    ----------
    name : str
    area : float
        In the library's area unit.
    inputs, outputs : dict of str to float
        Pins and their capacitance (inputs; 0 for outputs).
    sequential : bool
        Has an ``ff`` or ``latch`` group.
    clock_pins, async_pins : frozenset of str
        Pins in ``clocked_on``/``enable`` and in ``clear``/``preset`` expressions.
    """

    name: str
    area: float
    inputs: dict
    outputs: dict
    sequential: bool
    clock_pins: frozenset
    async_pins: frozenset
    functions: dict = field(default_factory=dict, repr=False)  # output pin -> function
    arcs: dict = field(default_factory=dict, repr=False)   # output pin -> [_Arc]
    checks: dict = field(default_factory=dict, repr=False)  # input pin -> [_Arc]
    has_timing: bool = False
    missing_transition: tuple = ()


@dataclass(kw_only=True)
class LibertyLibrary:
    """A parsed Liberty library.

    Attributes
    ----------
    path : str
    name : str
    time_unit_ns : float
        One library time unit in ns.
    cells : dict of str to LibertyCell
    default_input_cap : float
    """

    path: str
    name: str
    time_unit_ns: float
    cells: dict
    default_input_cap: float = 0.0


def _pin_names(expr):
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_\[\]]*", expr or ""))


def _time_unit_ns(text, path):
    m = re.fullmatch(r"\s*([0-9.]+)?\s*(fs|ps|ns|us|ms|s)\s*", text or "1ns")
    if m is None:
        raise SynthesisError(f"liberty file {path}: cannot read time_unit {text!r}")
    scale = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[m.group(2)]
    return float(m.group(1) or 1) * scale


_LIBERTY_CACHE = {}


def read_liberty(path):
    """Read a Liberty file: cells, areas, pins and delay tables.

    Results are cached per file (path, size and modification time).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    LibertyLibrary

    Raises
    ------
    SynthesisError
        If the file does not exist or cannot be read, is not a Liberty library, or has
        no cells; the message names the file (and the line, for syntax errors).
    """
    path = Path(path)
    if not path.exists():
        raise SynthesisError(f"liberty file {path} does not exist")
    if not path.is_file():
        raise SynthesisError(f"liberty file {path} is not a file")
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in _LIBERTY_CACHE:
            return _LIBERTY_CACHE[key]
        text = path.read_text(errors="replace")
    except OSError as e:
        raise SynthesisError(f"liberty file {path} cannot be read: {e}") from None
    library = _read_liberty_text(text, path)
    if len(_LIBERTY_CACHE) > 8:
        _LIBERTY_CACHE.clear()
    _LIBERTY_CACHE[key] = library
    return library


def _templates(lib, path):
    """Table templates by name: their variables and default indexes."""
    templates = {}
    for kind in ("lu_table_template", "power_lut_template"):
        for g in lib.sub(kind):
            if not g.args:
                continue
            tvars = [g.attrs.get(f"variable_{k}") for k in (1, 2, 3)
                     if g.attrs.get(f"variable_{k}") is not None]
            tidx = [_float_list(",".join(g.complex_attr(f"index_{k}")),
                                f"template {g.args[0]}: index_{k}", path)
                    for k in (1, 2, 3) if g.complex_attr(f"index_{k}") is not None]
            templates[g.args[0].strip()] = (tvars, tidx)
    return templates


def _read_liberty_text(text, path):
    lib = _parse_liberty_text(text, path)
    templates = _templates(lib, path)
    default_cap = _float(lib.attrs.get("default_input_pin_cap", "0"),
                         "default_input_pin_cap", path)
    cells = {}
    for cg in lib.sub("cell"):
        if not cg.args or not cg.args[0].strip():
            raise SynthesisError(f"liberty file {path}: line {cg.line}: cell without a name")
        cell = _read_cell(cg, templates, default_cap, path)
        cells[cell.name] = cell
    if not cells:
        raise SynthesisError(f"liberty file {path}: the library has no cells")
    return LibertyLibrary(path=str(path), name=(lib.args[0].strip() if lib.args else ""),
                          time_unit_ns=_time_unit_ns(lib.attrs.get("time_unit"), path),
                          cells=cells, default_input_cap=default_cap)


def _read_cell(cg, templates, default_cap, path):
    """One ``cell`` group: area, sequential groups, pins and their timing arcs."""
    name = cg.args[0].strip()
    area = _float(cg.attrs.get("area", "0"), f"cell {name}: area", path)
    seq_groups = [g for g in cg.groups if g.kind in ("ff", "latch", "ff_bank",
                                                     "latch_bank", "statetable")]
    clock_pins, async_pins = set(), set()
    for g in seq_groups:
        clock_pins |= _pin_names(g.attrs.get("clocked_on"))
        clock_pins |= _pin_names(g.attrs.get("clocked_on_also"))
        clock_pins |= _pin_names(g.attrs.get("enable"))
        async_pins |= _pin_names(g.attrs.get("clear"))
        async_pins |= _pin_names(g.attrs.get("preset"))
    inputs, outputs, arcs, checks, functions = {}, {}, {}, {}, {}
    has_timing = False
    missing_transition = []
    for pg in cg.groups:
        if pg.kind not in ("pin", "bus", "bundle"):
            continue
        direction = pg.attrs.get("direction", "input").strip()
        if pg.attrs.get("clock", "false").strip() == "true" and direction == "input":
            clock_pins |= set(a.strip() for a in pg.args)
        cap = _pin_capacitance(pg, name, default_cap, path)
        for pin in (a.strip() for a in pg.args):
            pin_arcs = []
            for tg in pg.sub("timing"):
                arc = _read_arc(tg, templates, path, name)
                if arc.delay or arc.constraint:
                    has_timing = True
                if any(t.kind in ("cell_rise", "cell_fall") for t in tg.groups) \
                        and not arc.transition:
                    missing_transition.append(f"{name}/{pin}")
                pin_arcs.append(arc)
            if direction == "output":
                outputs[pin] = 0.0
                arcs[pin] = pin_arcs
                if pg.attrs.get("function") is not None:
                    functions[pin] = pg.attrs["function"].strip()
            elif direction == "input":
                inputs[pin] = cap
                checks[pin] = pin_arcs
            else:                       # inout / internal: treat as both
                inputs[pin] = cap
                outputs[pin] = 0.0
                arcs[pin] = pin_arcs
    return LibertyCell(name=name, area=area, inputs=inputs, outputs=outputs,
                       sequential=bool(seq_groups), clock_pins=frozenset(clock_pins),
                       async_pins=frozenset(async_pins), functions=functions, arcs=arcs,
                       checks=checks, has_timing=has_timing,
                       missing_transition=tuple(missing_transition))


def _pin_capacitance(pg, name, default_cap, path):
    cap = pg.attrs.get("capacitance")
    if cap is None:
        caps = [pg.attrs.get(k) for k in ("rise_capacitance", "fall_capacitance")]
        caps = [c for c in caps if c is not None]
        return max((_float(c, f"cell {name}: capacitance", path) for c in caps),
                   default=default_cap)
    return _float(cap, f"cell {name}: capacitance", path)


def _read_arc(tg, templates, path, name):
    """One ``timing`` group: its delay, transition and constraint tables."""
    related = tuple(tg.attrs.get("related_pin", "").split())
    ttype = tg.attrs.get("timing_type", "combinational").strip()
    delay, trans, cons = [], [], []
    for t in tg.groups:
        if t.kind in ("cell_rise", "cell_fall"):
            delay.append(_read_table(t, templates, path, name))
        elif t.kind in ("rise_transition", "fall_transition"):
            trans.append(_read_table(t, templates, path, name))
        elif t.kind in ("rise_constraint", "fall_constraint"):
            cons.append(_read_table(t, templates, path, name))
    for edge in ("rise", "fall"):
        intrinsic = tg.attrs.get(f"intrinsic_{edge}")
        if intrinsic is not None and not delay:
            # The generic CMOS delay model: intrinsic delay plus resistance times load.
            d0 = _float(intrinsic, f"cell {name}: intrinsic_{edge}", path)
            r = _float(tg.attrs.get(f"{edge}_resistance", "0"),
                       f"cell {name}: {edge}_resistance", path)
            delay.append(lambda *, slew=None, load=0.0, clock_slew=None,
                         d0=d0, r=r: d0 + r * load)
    return _Arc(related, ttype, delay, trans, cons)


def check_mappable(library, path):
    """Raise :class:`SynthesisError` naming ``path`` if ABC cannot map onto ``library``."""
    # ABC's Liberty reader rejects delay tables without output-transition tables
    # ("Table cannot be found"); say so before running Yosys.
    missing = sorted({m for c in library.cells.values() for m in c.missing_transition})
    if missing:
        raise SynthesisError(
            f"liberty file {path}: timing arcs with cell_rise/cell_fall tables but no "
            f"rise_transition/fall_transition tables, which ABC cannot read: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if not any(not c.sequential and c.outputs for c in library.cells.values()):
        raise SynthesisError(f"liberty file {path}: the library has no "
                             "combinational cells to map logic to")
