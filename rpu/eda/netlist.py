"""What Yosys's output says about a design: area per module and the memories.

:func:`areas_from_stat` turns the per-module cell counts of ``stat -json`` into a
:class:`ModuleArea` per module of the hierarchy (its own cells, its total with submodules,
how often it is instantiated), with areas recomputed in double precision from the Liberty
cell areas. :func:`collect_memories` (and :func:`memory_cells`, by cell name) lists the
memories of the flattened netlist as :class:`rpu.eda.sram_model.SRAMMacro` records: the
``$mem_v2`` cells that ``memory -nomap`` keeps, and the instances of hand-instantiated
SRAM macro modules. :func:`yosys_warnings`
keeps one of each kind of Yosys warning.
"""

import re
from dataclasses import dataclass, field

from lstm_ref.checks import is_integer
from rpu.eda.errors import SynthesisError
from rpu.eda.sram_model import REFERENCE_NODE_NM, SRAMMacro


__all__ = ["ModuleArea", "areas_from_stat", "collect_memories", "memory_cells",
           "yosys_warnings",
           "module_name"]


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
        if not is_integer(self.instances) or self.instances < 0:
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


def module_name(yosys_name):
    """A Yosys name without the leading ``\\`` of public names."""
    return yosys_name[1:] if yosys_name.startswith("\\") else yosys_name


def _local_areas(mods, library, sram_modules):
    """Per module: own area, own sequential area, cell counts, submodules, memories, and
    the cell types that are in neither the library nor the design."""
    local, local_seq, counts, subs, mems, unknown = {}, {}, {}, {}, {}, {}
    for mname, info in mods.items():
        a = s = 0.0
        cc, sc, nm = {}, {}, 0
        for ctype, n in info.get("num_cells_by_type", {}).items():
            ctype = module_name(ctype)
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
    return local, local_seq, counts, subs, mems, unknown


def areas_from_stat(stat, library, top, sram_modules):
    """Area per module from Yosys's ``stat -json`` output.

    Returns
    -------
    modules : dict of str to ModuleArea
        The modules under ``top``, parents before children.
    warnings : list of str
        Cells that are not in the library (no area counted).
    """
    mods = {module_name(k): v for k, v in stat["modules"].items()}
    if top not in mods:
        raise SynthesisError(f"yosys statistics have no module {top!r}")
    local, local_seq, counts, subs, mems, unknown = _local_areas(mods, library,
                                                                 sram_modules)
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


def _inferred_memory(cname, p, path, parent, node_nm):
    """A ``$mem_v2`` cell as an SRAM macro (None if it is never read)."""
    rd_cont = str(p.get("RD_WIDE_CONTINUATION", "0"))
    wr_cont = str(p.get("WR_WIDE_CONTINUATION", "0"))
    rd = _param_int(p["RD_PORTS"])
    wr = _param_int(p["WR_PORTS"])
    rd_logical = rd_cont.count("0") if rd else 0
    wr_logical = wr_cont.count("0") if wr else 0
    clk_en = str(p.get("RD_CLK_ENABLE", "1"))
    memid = module_name(str(p.get("MEMID", cname)))
    if rd_logical == 0:
        return None             # never read: nothing to build
    return SRAMMacro(
        name=memid.split(".")[-1] or cname, path=path, module=parent,
        words=_param_int(p["SIZE"]), width=_param_int(p["WIDTH"]),
        read_ports=rd_logical, write_ports=wr_logical,
        sync_read=(set(clk_en) <= {"1"}) if rd else True, source="inferred",
        node_nm=node_nm)


def _macro_instance(netlist, ctype, p, path, name, parent, node_nm):
    """An instance of an SRAM macro module as an SRAM macro."""
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
    return SRAMMacro(name=name, path=path, module=parent, words=words, width=width,
                     read_ports=rdp, write_ports=wrp, single_port=single,
                     source="blackbox", node_nm=node_nm)


def memory_cells(netlist, top, sram_modules, *, node_nm=REFERENCE_NODE_NM):
    """The memories of the flattened netlist (``$mem_v2`` cells that are read, and
    instances of the ``sram_modules``) by cell name of the top module, as
    :class:`SRAMMacro` records at ``node_nm``, in cell-name order."""
    module = netlist["modules"][top]
    scope_module = {(): top}
    for cname, c in module["cells"].items():
        if c["type"] == "$scopeinfo":
            hdl = c.get("attributes", {}).get("hdlname", cname)
            mod = c.get("attributes", {}).get("module", "")
            scope_module[tuple(hdl.split(" "))] = module_name(mod)
    memories = {}
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
            macro = _inferred_memory(cname, p, path, parent, node_nm)
            if macro is not None:
                memories[cname] = macro
        else:
            memories[cname] = _macro_instance(netlist, ctype, p, path, hdl[-1], parent,
                                              node_nm)
    return memories


def collect_memories(netlist, top, sram_modules, *, node_nm=REFERENCE_NODE_NM):
    """The memories of the flattened netlist (``$mem_v2`` cells that are read, and
    instances of the ``sram_modules``), as :class:`SRAMMacro` records at ``node_nm`` in
    name order (the records of :func:`memory_cells`)."""
    return list(memory_cells(netlist, top, sram_modules, node_nm=node_nm).values())


def yosys_warnings(log_text, limit=20):
    """Yosys's warnings from its log, one per kind (numbers and bit indexes ignored),
    at most ``limit`` of them."""
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
