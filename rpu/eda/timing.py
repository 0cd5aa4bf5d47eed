"""The static timing estimate: the critical path of a flattened, mapped netlist.

:func:`estimate_critical_path` times the netlist that Yosys writes as JSON after mapping
and flattening (:func:`rpu.eda.yosys.synthesize`), with the delay tables of the Liberty
library it is mapped to (:mod:`rpu.eda.liberty`), and returns a :class:`CriticalPath`:
its delay (clock-to-Q and setup included), start and end points named with the design's
own signal names, and the cells along it (:class:`PathStep`).

Why here and not in Yosys or ABC: Yosys's ``sta`` takes its delays from ``specify`` blocks
of cell models, not from a Liberty file; ABC's ``stime`` sees one module at a time (the
hierarchy is kept), only the logic between flip-flops, and names nets with its own names.

The estimate runs in five steps, one function each: classify the cells and sum the load
on every net (:func:`_classify`), set the arrival times of the start points
(:func:`_start_points`; an SRAM macro's read data start at its modelled access time,
:func:`rpu.eda.sram_model.sram_access_time_ns`), propagate arrival times and slews through
the combinational cells in topological order (:func:`_propagate`), pick the latest end
point (:func:`_latest_end_point`), and walk the path back to its start
(:func:`_trace_back`). :func:`estimate_macro_path` runs the same steps with the SRAM
macros' read data as the only start points: the slowest memory read path.
"""

import math
from dataclasses import dataclass, field

from rpu.eda.liberty import _Arc
from rpu.eda.sram_model import SRAMMacro


__all__ = ["BUFFER_FANOUT", "PathStep", "CriticalPath", "estimate_critical_path",
           "estimate_macro_path"]


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
    start_macro : rpu.eda.sram_model.SRAMMacro or None
        The SRAM macro whose read data start the path, if they do.
    start_access : float
        The start point's arrival: that macro's modelled read access time, library units
        (0 for a path that does not start at a macro).
    """

    delay: float
    time_unit_ns: float
    start: str
    end: str
    setup: float = 0.0
    steps: tuple = ()
    start_macro: SRAMMacro = None
    start_access: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.delay, (int, float)) and self.delay >= 0):
            raise ValueError(f"delay must be a number >= 0, not {self.delay!r}")
        if not (isinstance(self.time_unit_ns, (int, float)) and self.time_unit_ns > 0):
            raise ValueError(f"time_unit_ns must be positive, not {self.time_unit_ns!r}")
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.start_macro is not None and not isinstance(self.start_macro, SRAMMacro):
            raise ValueError(f"start_macro must be an SRAMMacro or None, not "
                             f"{self.start_macro!r}")
        if not (isinstance(self.start_access, (int, float)) and self.start_access >= 0):
            raise ValueError(f"start_access must be a number >= 0, not "
                             f"{self.start_access!r}")

    @property
    def delay_ns(self):
        """Path delay in ns."""
        return self.delay * self.time_unit_ns

    @property
    def f_max_mhz(self):
        """Estimated maximum clock frequency, MHz (None for a zero-delay path)."""
        return 1e3 / self.delay_ns if self.delay_ns > 0 else None

    @property
    def start_access_ns(self):
        """The start macro's read access time in ns (0 without one)."""
        return self.start_access * self.time_unit_ns

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
                "start_macro": (self.start_macro.path if self.start_macro is not None
                                else None),
                "start_access_ns_modelled": self.start_access_ns,
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


@dataclass
class _Timing:
    """The netlist as the estimate sees it, and the arrival times found so far."""

    names: dict                                     # net bit -> readable name
    comb: list = field(default_factory=list)        # (instance, LibertyCell, connections)
    seq: list = field(default_factory=list)         # likewise, flip-flops and latches
    opaque: list = field(default_factory=list)      # (instance, type, connections, dirs)
    load: dict = field(default_factory=dict)        # net bit -> capacitance driven
    driver_is_comb: set = field(default_factory=set)
    arrival: dict = field(default_factory=dict)     # net bit -> arrival time
    slew: dict = field(default_factory=dict)        # net bit -> slew (None: unknown)
    pred: dict = field(default_factory=dict)        # net bit -> how it was reached
    start_macro: dict = field(default_factory=dict)  # net bit -> SRAMMacro it starts at
    # Arrival of a net no start point reaches: 0 (it starts a path, as a constant or an
    # undriven net does), or -inf when only the paths from SRAM macros are timed.
    unreached: float = 0.0

    def net(self, bit):
        return self.names.get(bit, f"<net {bit}>")


def _nets(bits):
    """The net bits among ``bits`` (Yosys writes constant bits as the strings ``"0"``,
    ``"1"``, ``"x"`` and ``"z"``)."""
    return [b for b in bits if isinstance(b, int)]


def _add_load(t, bits, cap):
    for b in _nets(bits):
        t.load[b] = t.load.get(b, 0.0) + cap


def _classify(module, library):
    """Sort the cells into combinational, sequential and opaque (memories and other cells
    not in the library), and sum the input capacitance on every net."""
    t = _Timing(names=_net_names(module))
    no_timing = set()
    for cname, c in module["cells"].items():
        ctype = c["type"]
        if ctype == "$scopeinfo":
            continue
        conns = c.get("connections", {})
        lc = library.cells.get(ctype)
        if lc is None:
            dirs = c.get("port_directions", {})
            t.opaque.append((cname, ctype, conns, dirs))
            for pin, bits in conns.items():
                if dirs.get(pin, "input") in ("input", "inout"):
                    _add_load(t, bits, library.default_input_cap)
            continue
        for pin, bits in conns.items():
            if pin in lc.inputs:
                _add_load(t, bits, lc.inputs[pin])
        if not lc.has_timing:
            no_timing.add(ctype)
        if lc.sequential:
            t.seq.append((cname, lc, conns))
        else:
            t.comb.append((cname, lc, conns))
            for pin in lc.outputs:
                t.driver_is_comb.update(_nets(conns.get(pin, [])))
    warnings = []
    if no_timing:
        warnings.append(f"cells without delay data (timed as zero delay): "
                        f"{', '.join(sorted(no_timing))}")
    return t, warnings


def _start_points(t, module, buffers, macros, time_unit_ns):
    """Input ports (arrival 0), flip-flop outputs (clock-to-Q), outputs of SRAM macros
    (their read access time) and outputs of other opaque cells (arrival 0); only the SRAM
    macros' outputs when ``t.unreached`` is -inf."""
    if t.unreached == -math.inf:
        _macro_start_points(t, macros, time_unit_ns)
        return
    for pname, port in module.get("ports", {}).items():
        if port["direction"] in ("input", "inout"):
            for b in _nets(port["bits"]):
                if b not in t.driver_is_comb:
                    t.arrival[b], t.slew[b] = 0.0, None
                    t.pred[b] = ("start", f"input port {t.net(b)}")
    for cname, lc, conns in t.seq:
        for pin in lc.outputs:
            for b in _nets(conns.get(pin, [])):
                d, s, related = 0.0, None, None
                for arc in lc.arcs.get(pin, []):
                    if arc.timing_type in ("rising_edge", "falling_edge", "combinational") \
                            and (set(arc.related) & lc.clock_pins or not arc.related):
                        ad, a_slew = buffers.drive(arc, None, t.load.get(b, 0.0), b)
                        if ad >= d:
                            d, related = ad, (arc.related[0] if arc.related else "CK")
                            s = a_slew
                t.arrival[b], t.slew[b] = d, s
                t.pred[b] = ("start", f"{t.net(b)} ({lc.name} {cname}, "
                                      f"{related or 'clock'}->{pin})")
    for cname, ctype, conns, dirs in t.opaque:
        if cname in macros:
            continue
        for pin, bits in conns.items():
            if dirs.get(pin, "input") in ("output", "inout"):
                for b in _nets(bits):
                    t.arrival[b], t.slew[b] = 0.0, None
                    t.pred[b] = ("start", f"{t.net(b)} (output {pin} of {ctype} {cname})")
    _macro_start_points(t, macros, time_unit_ns)


def _macro_start_points(t, macros, time_unit_ns):
    """The read data of the SRAM macros, at their modelled access time."""
    for cname, ctype, conns, dirs in t.opaque:
        macro = macros.get(cname)
        if macro is None:
            continue
        for pin, bits in conns.items():
            if dirs.get(pin, "input") in ("output", "inout"):
                for b in _nets(bits):
                    t.arrival[b], t.slew[b] = macro.access_time_ns / time_unit_ns, None
                    t.start_macro[b] = macro
                    t.pred[b] = ("start", f"{t.net(b)} (read data {pin} of SRAM macro "
                                          f"{macro.path}, {macro.words} x {macro.width} "
                                          f"{macro.ports}, access time "
                                          f"{macro.access_time_ns:.3f} ns modelled)")


def _latest_input(t, lc, conns, out, ob, buffers):
    """The latest arrival at output bit ``ob`` of a combinational cell, over its arcs:
    ``(time, slew, (input pin, input bit) or None)``."""
    c_load = t.load.get(ob, 0.0)
    best, best_slew, best_from = -math.inf, None, None
    arcs = lc.arcs.get(out) or [_Arc(tuple(lc.inputs), "combinational", [], [], [])]
    for arc in arcs:
        if arc.timing_type not in ("combinational", "combinational_rise",
                                   "combinational_fall"):
            continue
        for rp in arc.related or tuple(lc.inputs):
            bits = conns.get(rp, [])
            if not bits:
                continue
            ib = bits[0]
            a_in = t.arrival.get(ib, t.unreached) if isinstance(ib, int) else t.unreached
            s_in = t.slew.get(ib) if isinstance(ib, int) else None
            d, d_slew = buffers.drive(arc, s_in, c_load, ob)
            if a_in + d > best:
                best, best_from, best_slew = a_in + d, (rp, ib), d_slew
    if best_from is None:
        best = t.unreached
    return best, best_slew, best_from


def _propagate(t, buffers):
    """Arrival times through the combinational cells in topological order (Kahn's
    algorithm); returns the number of cells timed (fewer than all: a loop)."""
    users, indeg = {}, []
    for k, (cname, lc, conns) in enumerate(t.comb):
        count = 0
        for pin in lc.inputs:
            for b in _nets(conns.get(pin, [])):
                users.setdefault(b, []).append(k)
                if b in t.driver_is_comb:
                    count += 1
        indeg.append(count)
    ready = [k for k, d in enumerate(indeg) if d == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        cname, lc, conns = t.comb[k]
        for out in lc.outputs:
            for ob in _nets(conns.get(out, [])):
                best, best_slew, best_from = _latest_input(t, lc, conns, out, ob, buffers)
                t.arrival[ob], t.slew[ob] = best, best_slew
                t.pred[ob] = ("cell", cname, lc.name, best_from[0] if best_from else "",
                              out, best_from[1] if best_from else None)
                for u in users.get(ob, ()):
                    indeg[u] -= 1
                    if indeg[u] == 0:
                        ready.append(u)
    return done


def _latest_end_point(t, module):
    """The latest of the output ports, flip-flop data inputs (plus setup) and inputs of
    opaque cells: ``(time, bit, setup, description)``, or None if there is none."""
    best = None

    def consider(total, bit, setup, description):
        nonlocal best
        if total > -math.inf and (best is None or total > best[0]):
            best = (total, bit, setup, description)

    for pname, port in module.get("ports", {}).items():
        if port["direction"] in ("output", "inout"):
            for b in _nets(port["bits"]):
                if b in t.arrival:
                    consider(t.arrival[b], b, 0.0, f"output port {t.net(b)}")
    for cname, lc, conns in t.seq:
        qnet = None
        for pin in lc.outputs:
            for b in _nets(conns.get(pin, [])):
                qnet = t.net(b)
        for pin in lc.inputs:
            if pin in lc.clock_pins or pin in lc.async_pins:
                continue
            for b in _nets(conns.get(pin, [])):
                setup = 0.0
                for arc in lc.checks.get(pin, []):
                    if arc.timing_type.startswith("setup"):
                        setup = max(setup, _eval_max(arc.constraint, slew=t.slew.get(b)))
                consider(t.arrival.get(b, t.unreached) + setup, b, setup,
                         f"{pin} of {lc.name} {cname}" + (f" (register {qnet})"
                                                          if qnet else ""))
    for cname, ctype, conns, dirs in t.opaque:
        for pin, bits in conns.items():
            if dirs.get(pin, "input") in ("input", "inout"):
                for b in _nets(bits):
                    if b in t.arrival:
                        consider(t.arrival[b], b, 0.0, f"input {pin} of {ctype} {cname}")
    return best


def _trace_back(t, bit):
    """Walk the path ending at ``bit`` back to its start: ``(start, steps, start bit)``."""
    steps = []
    start = f"{t.net(bit)}"
    seen = set()
    while bit in t.pred and bit not in seen:
        seen.add(bit)
        p = t.pred[bit]
        if p[0] == "start":
            start = p[1]
            break
        _, cname, ctype, from_pin, to_pin, in_bit = p
        steps.append(PathStep(cell=cname, type=ctype, from_pin=from_pin, to_pin=to_pin,
                              net=t.net(bit), arrival=t.arrival[bit]))
        if not isinstance(in_bit, int):
            start = f"constant into {ctype} {cname}"
            break
        bit = in_bit
        if bit not in t.pred:
            start = f"{t.net(bit)} (undriven)"
    steps.reverse()
    return start, steps, bit


def estimate_critical_path(netlist, library, *, top, macros=None):
    """Estimate the critical path of a flattened, mapped netlist.

    A block-based static timing estimate: arrival times propagate forward through the
    combinational cells in topological order; each cell's delay is the worse of its
    ``cell_rise``/``cell_fall`` tables at the input slew and the output load (the sum of
    the input capacitances it drives); slews propagate likewise. Start points: input
    ports (arrival 0), flip-flop outputs (clock-to-Q arc), the read data of the SRAM
    macros in ``macros`` (their modelled read access time,
    :func:`rpu.eda.sram_model.sram_access_time_ns`, as their clock-to-Q: a macro's read
    port is registered; an asynchronous read port is timed the same way, from the clock
    edge rather than from its address, which a warning says) and outputs of other opaque
    cells (arrival 0). End
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
    library : rpu.eda.liberty.LibertyLibrary
        The library the netlist is mapped to.
    top : str
        Name of the top module in ``netlist``.
    macros : mapping of str to rpu.eda.sram_model.SRAMMacro, optional
        The SRAM macros among the cells of ``top``, by cell name
        (:func:`rpu.eda.netlist.memory_cells`); at the library's node.

    Returns
    -------
    CriticalPath or None
        None if the design has no timing end point.
    warnings : list of str
    """
    macros = _check_macros(macros)
    cp, warnings = _estimate(netlist["modules"][top], library, macros, only_macros=False)
    asynchronous = sorted(m.path for m in macros.values() if not m.sync_read)
    if asynchronous:
        warnings.append("SRAM macros with an asynchronous read port, timed from the clock "
                        "edge (their address arrival not added): "
                        + ", ".join(asynchronous))
    return cp, warnings


def estimate_macro_path(netlist, library, *, top, macros):
    """The longest path that starts at an SRAM macro's read data.

    The estimate of :func:`estimate_critical_path` with the macros' read data as the only
    start points (at their modelled access time): how close the memory read paths come
    to the critical path, which they need not be on.

    Parameters
    ----------
    netlist, library, top, macros
        As for :func:`estimate_critical_path`.

    Returns
    -------
    CriticalPath or None
        None if no macro's read data reach a timing end point.
    """
    macros = _check_macros(macros)
    if not macros:
        return None
    cp, _ = _estimate(netlist["modules"][top], library, macros, only_macros=True)
    return cp


def _check_macros(macros):
    macros = dict(macros or {})
    for cname, macro in macros.items():
        if not isinstance(macro, SRAMMacro):
            raise ValueError(f"macros must map cell names to SRAMMacro records, not "
                             f"{cname!r} to {macro!r}")
    return macros


def _estimate(module, library, macros, *, only_macros):
    """The five steps (module docstring): ``(CriticalPath or None, warnings)``."""
    buffers = _BufferModel(library)
    t, warnings = _classify(module, library)
    if only_macros:
        t.unreached = -math.inf
    _start_points(t, module, buffers, macros, library.time_unit_ns)
    done = _propagate(t, buffers)
    if done < len(t.comb):
        warnings.append(f"combinational loop: {len(t.comb) - done} cells on or behind a "
                        "loop were not timed")
    if buffers.buffered:
        n = sum(buffers.buffered.values())
        warnings.append(
            f"{len(buffers.buffered)} high-fanout nets timed as buffered by ideal "
            f"fanout-{BUFFER_FANOUT} trees of {buffers.cell.name} (or equivalent gate "
            f"sizing); such trees would add up to ~{n} buffers "
            f"(~{n * buffers.cell.area:.0f} area units), not in the area")
    best = _latest_end_point(t, module)
    if best is None:
        return None, warnings
    total, bit, setup, end = best
    start, steps, start_bit = _trace_back(t, bit)
    macro = t.start_macro.get(start_bit)
    return CriticalPath(delay=total, time_unit_ns=library.time_unit_ns, start=start,
                        end=end, setup=setup, steps=tuple(steps), start_macro=macro,
                        start_access=t.arrival[start_bit] if macro is not None else 0.0), \
        warnings
