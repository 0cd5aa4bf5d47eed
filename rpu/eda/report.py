"""Synthesis report of a generated RPU: area per component, SRAM macros, clock estimate.

:func:`synthesize_rpu` generates the RPU of a configuration (``rpu.v`` with every RAM an
``rpu_sram`` macro instance, and ``rpu_sram.v``), synthesizes it with Yosys
(:func:`rpu.eda.yosys.synthesize`: hierarchy kept, logic mapped with ABC onto the
project's generic library in gate equivalents, or onto a named library of
:mod:`rpu.eda.libraries` or a given Liberty file in um2), and reports:

* **area per component**, from the synthesized hierarchy. Amaranth emits every submodule
  as its own Verilog module, named by its path (``rpu.pim0.lane3``, ``rpu.engine.act1``,
  ...), and synthesis prices each module's own cells (``ModuleArea.local_area``). Every
  module's own area goes to exactly one component by the rules of
  :data:`COMPONENT_RULES` (first match on the module's path below the top), so the
  components add up to the logic area of the whole design:

  ========================================  ==============================================
  component                                 modules (path below ``rpu``)
  ========================================  ==============================================
  PIM MAC lanes                             ``pimN``, ``pimN.laneK`` and below:
                                            multipliers, accumulators, narrowing, the
                                            logic around the lane's weight macro
  activation units                          ``engine.actN`` (the table ROM is a macro)
  element-wise units                        ``engine.ewN``
  interconnect                              ``engine.interconnect`` (route multiplexers)
  controller                                ``controller`` (column issue, addresses,
                                            layer and step loops)
  cell engine buffers and sequencing        ``engine`` itself: pre-activation, gate, cell,
                                            tanh and hidden shift buffers, context
                                            sequencing, pipeline tags
  state memories (logic)                    ``x_memory``, ``h_memory``,
                                            ``engine.cell_memory``: logic around their
                                            macros (none when a macro takes it all)
  delta units                               ``x_delta``, ``h_delta`` (with ``delta``):
                                            compare, list and count logic
  top-level glue                            ``rpu`` itself: program registers, weight and
                                            state load decoding, operand multiplexer,
                                            cycle/saturation/activity counters, output
                                            register
  other                                     anything else (none in the current RTL)
  ========================================  ==============================================

* **SRAM macros**, on their own lines: every memory is kept out of the logic and priced
  by the density model of :mod:`rpu.eda.sram_model` at the library's node (modelled): the
  lane weight memories, the x, h and cell-state memories (``rpu_sram`` instances) and the
  activation units' table ROMs (Amaranth memories that synthesis keeps as memories).
* **a clock estimate**: the critical path of the mapped netlist (static timing estimate
  of :func:`rpu.eda.timing.estimate_critical_path`: no wire load, one corner; paths from
  an SRAM macro start at its modelled read access time), its delay, the estimated f_max,
  start and end points, and the macro a path starts at with its access time.

The output directory gets ``synth.json`` and ``synth.md`` (the report), ``synth.log``
(Yosys's log), ``rpu.v`` and ``rpu_sram_blackbox.v`` (what was synthesized: the RTL and the
SRAM macro as a black box, :data:`SRAM_BLACKBOX_VERILOG`), ``rpu_sram.v`` (the macro's
behavioural model, for simulation) and, with the default library, ``rpu_generic_ge.lib``.
Everything is written at the end, all or nothing.
"""

import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pim.sram import SRAM_BLACKBOX_VERILOG, SRAM_MODEL_VERILOG, SRAM_MODULE
from rpu.eda.cell_library import LIBRARY_NAME
from rpu.config import RPUConfig
from rpu.eda.sram_model import UM2_PER_GE, SRAMAreaReport, um2_to_ge
from rpu.eda.errors import SynthesisError, SynthInputError
from rpu.eda.liberty import check_mappable, read_liberty
from rpu.eda.libraries import liberty_library, resolve_library
from rpu.eda.yosys import SynthesisFlow, SynthesisReport, synthesize


__all__ = ["COMPONENTS", "COMPONENT_RULES", "MEMORY_RULES", "SRAM_BLACKBOX_VERILOG",
           "SynthInputError",
           "RPUSynthesis", "component_of", "memory_kind_of", "check_liberty",
           "synthesize_rpu"]


#: Component names, in report order.
COMPONENTS = ("PIM MAC lanes", "activation units", "element-wise units", "interconnect",
              "controller", "cell engine buffers and sequencing", "state memories (logic)",
              "delta units", "top-level glue", "other")

#: ``(regular expression on the module path below the top, component)``; first match wins.
#: The top module itself has the empty path.
#: With a batch, sequence b > 0 has ``engine_b``, ``x_memory_b`` and ``h_memory_b``.
COMPONENT_RULES = (
    (r"pim\d+(\..*)?", "PIM MAC lanes"),
    (r"engine(_\d+)?\.act\d+(\..*)?", "activation units"),
    (r"engine(_\d+)?\.ew\d+(\..*)?", "element-wise units"),
    (r"engine(_\d+)?\.interconnect(\..*)?", "interconnect"),
    (r"controller(\..*)?", "controller"),
    (r"(x_memory(_\d+)?|h_memory(_\d+)?|engine(_\d+)?\.cell_memory)(\..*)?",
     "state memories (logic)"),
    (r"engine(_\d+)?", "cell engine buffers and sequencing"),
    (r"(x_delta|h_delta)(\..*)?", "delta units"),
    # The two-word x and h stream buffers (rpu.hw.stream_buffer) are the top level's I/O.
    (r"(x_buffer|h_buffer)(\..*)?", "top-level glue"),
    (r"", "top-level glue"),
)

#: Memory kinds, in report order.
MEMORY_KINDS = ("weight memories", "x memory", "h memory", "cell-state memory",
                "activation ROMs", "pre-activation memories", "delta references and lists",
                "other memories")

#: ``(regular expression on the memory's instance path below the top, kind)``.
MEMORY_RULES = (
    (r"pim\d+\.lane\d+\.weights(\..*)?", "weight memories"),
    (r"x_memory(_\d+)?(\..*)?", "x memory"),
    (r"h_memory(_\d+)?(\..*)?", "h memory"),
    (r"engine(_\d+)?\.cell_memory(\..*)?", "cell-state memory"),
    (r"engine(_\d+)?\.act\d+\..*", "activation ROMs"),
    # With delta: the delta units' references and lists, the lanes' pre-activation words.
    (r"(x_delta|h_delta)\.(reference|entries)(\..*)?", "delta references and lists"),
    (r"pim\d+\.lane\d+\.state(\..*)?", "pre-activation memories"),
)


# Synthesis reads rpu_sram as pim.sram.SRAM_BLACKBOX_VERILOG, not the behavioural model:
# Yosys derives the model's body for every parameter set even when the module is declared a
# black box afterwards, and for the L configuration's 131136-word weight memories (the
# model's ``initial`` loop over every word) it did not finish ``hierarchy`` within 25
# minutes; the black box takes under a second.


def _below(path, top):
    if path == top:
        return ""
    if path.startswith(top + "."):
        return path[len(top) + 1:]
    return None


def component_of(module, top="rpu"):
    """The component a synthesized module's own cells belong to (:data:`COMPONENT_RULES`).

    Parameters
    ----------
    module : str
        Module name as Amaranth emits it, e.g. ``"rpu.pim0.lane3"``.
    top : str
        Name of the top module.

    Returns
    -------
    str
        One of :data:`COMPONENTS` (``"other"`` for a module outside the top's namespace).
    """
    rel = _below(module, top)
    if rel is None:
        return "other"
    for pattern, component in COMPONENT_RULES:
        if re.fullmatch(pattern, rel):
            return component
    return "other"


def memory_kind_of(path, top="rpu"):
    """The kind of a memory from its instance path (:data:`MEMORY_RULES`)."""
    rel = _below(path, top)
    if rel is not None:
        for pattern, kind in MEMORY_RULES:
            if re.fullmatch(pattern, rel):
                return kind
    return "other memories"


def _is_buffer(cell):
    if cell.sequential:
        return False
    for function in cell.functions.values():
        m = re.fullmatch(r"\(?\s*([A-Za-z_]\w*)\s*\)?", function or "")
        if m and m.group(1) in cell.inputs:
            return True
    return False


def check_liberty(path, option="--liberty"):
    """Check a Liberty file before anything is generated.

    Parameters
    ----------
    path : str or os.PathLike
    option : str
        The command-line option that named the file, for the messages.

    Raises
    ------
    SynthInputError
        If it does not exist, cannot be parsed, has no combinational cells, or has delay
        tables that ABC cannot read (the checks :func:`rpu.eda.yosys.synthesize` makes),
        has no buffer (ABC fails without one) or no flip-flop.
    """
    try:
        library = read_liberty(path)
        check_mappable(library, path)
    except SynthesisError as error:
        raise SynthInputError(f"{option}: {error}") from None
    buffers = [c.name for c in library.cells.values() if _is_buffer(c)]
    if not buffers:
        # Found while building this: ABC's mapping then fails with "Can't open ABC output
        # file" (it needs a buffer for outputs driven straight by inputs).
        raise SynthInputError(f"{option}: liberty file {path}: the library has no buffer "
                              "cell (an output whose function is one input pin), which "
                              "ABC needs to map to it")
    if not any(c.sequential for c in library.cells.values()):
        raise SynthInputError(f"{option}: liberty file {path}: the library has no "
                              "flip-flops to map registers to")
    return library


@dataclass(frozen=True)
class RPUSynthesis:
    """The synthesis report of one RPU configuration.

    Attributes
    ----------
    config : RPUConfig
    synthesis : rpu.eda.yosys.SynthesisReport
        The underlying per-module report.
    generation_s : float
        Seconds to elaborate the RPU and emit its Verilog.
    synthesis_s : float
        Seconds of :func:`rpu.eda.yosys.synthesize` (Yosys and the timing estimate).
    """

    config: RPUConfig
    synthesis: SynthesisReport
    generation_s: float = 0.0
    synthesis_s: float = 0.0

    @property
    def unit(self):
        """Area unit of the logic: ``"GE"`` or ``"um2"``."""
        return self.synthesis.area_unit

    def components(self):
        """Logic area per component.

        Returns
        -------
        dict of str to dict
            For each of :data:`COMPONENTS` with any module: ``area`` (library unit),
            ``sequential_area``, ``area_um2``, ``area_ge``, ``share`` (of the logic area)
            and ``modules`` (names, with their instance counts).
        """
        syn = self.synthesis
        result = {}
        for name in COMPONENTS:
            result[name] = {"area": 0.0, "sequential_area": 0.0, "modules": {}}
        for module in syn.modules.values():
            entry = result[component_of(module.name, syn.top)]
            entry["area"] += module.local_area * module.instances
            entry["sequential_area"] += module.local_sequential_area * module.instances
            entry["modules"][module.name] = module.instances
        total = syn.logic_area
        scale = syn.um2_per_area_unit
        out = {}
        for name, entry in result.items():
            if not entry["modules"]:
                continue
            entry["area_um2"] = entry["area"] * scale
            entry["area_ge"] = entry["area_um2"] / UM2_PER_GE
            entry["share"] = entry["area"] / total if total else 0.0
            entry["modules"] = dict(sorted(entry["modules"].items()))
            out[name] = entry
        return out

    def memories(self):
        """SRAM macros grouped by kind (weights, x, h, cell state, activation ROMs).

        Returns
        -------
        dict of str to dict
            For each kind present: ``count``, ``geometry`` (distinct ``words x width
            ports`` strings), ``bits``, ``area_um2`` and ``area_ge`` (modelled),
            ``access_ns`` (the longest modelled read access time of the kind) and
            ``paths``.
        """
        groups = {}
        for macro in self.synthesis.memories:
            groups.setdefault(memory_kind_of(macro.path, self.synthesis.top), []).append(macro)
        out = {}
        for kind in MEMORY_KINDS:
            macros = groups.get(kind)
            if not macros:
                continue
            report = SRAMAreaReport(macros=tuple(macros))
            geometry = sorted({f"{m.words} x {m.width} {m.ports}" for m in macros})
            out[kind] = {"count": len(macros), "geometry": geometry,
                         "bits": report.total_bits, "area_um2": report.total_area_um2,
                         "area_ge": report.total_area_ge,
                         "access_ns": max(m.access_time_ns for m in macros),
                         "paths": [m.path for m in macros]}
        return out

    @property
    def logic_area_um2(self):
        return self.synthesis.logic_area_um2

    @property
    def memory_area_um2(self):
        return self.synthesis.memory_area_um2

    @property
    def total_area_um2(self):
        return self.synthesis.total_area_um2

    @property
    def f_max_mhz(self):
        return self.synthesis.f_max_mhz

    def clock(self):
        """The clock estimate as a dict (None values without a timed path)."""
        cp = self.synthesis.critical_path
        if cp is None or cp.f_max_mhz is None:
            return {"kind": "estimated", "critical_path_ns": None, "f_max_mhz": None,
                    "start": None, "end": None, "logic_depth": None,
                    "start_macro": None, "memory_path": None,
                    "note": "no timed path: the library has no delay tables"}
        return {"kind": "estimated", "critical_path_ns": cp.delay_ns,
                "f_max_mhz": cp.f_max_mhz, "start": cp.start, "end": cp.end,
                "logic_depth": cp.logic_depth,
                "setup_ns": cp.setup * cp.time_unit_ns,
                "start_macro": cp.start_macro.path if cp.start_macro is not None else None,
                "start_access_ns_modelled": cp.start_access_ns,
                "memory_path": self._memory_path(),
                "method": "static timing estimate of the flattened mapped netlist with the "
                          "library's delay tables; no wire load, one corner; SRAM macro "
                          "read data start at their modelled access time "
                          "(rpu.eda.timing.estimate_critical_path, "
                          "rpu.eda.sram_model.sram_access_time_ns)"}

    def _memory_path(self):
        """The slowest path from an SRAM macro as a short dict, or None."""
        mp = self.synthesis.memory_path
        if mp is None:
            return None
        return {"delay_ns": mp.delay_ns, "macro": mp.start_macro.path,
                "access_ns_modelled": mp.start_access_ns, "end": mp.end,
                "logic_depth": mp.logic_depth}

    def to_dict(self):
        """A JSON-able dict: configuration, components, memories, areas, clock, and the
        underlying synthesis report."""
        syn = self.synthesis
        return {
            "kind": "synthesis report of a generated RPU",
            "configuration": self.config.to_dict(),
            "mac_lanes": self.config.mac_lanes,
            "library": {"name": syn.library_name, "liberty": syn.liberty,
                        "area_unit": syn.area_unit,
                        "um2_per_area_unit": syn.um2_per_area_unit,
                        "node_nm": syn.node_nm, "flow": syn.flow.to_dict()},
            "area": {
                "logic": syn.logic_area,
                "logic_unit": syn.area_unit,
                "logic_ge": syn.logic_area_ge,
                "logic_um2": syn.logic_area_um2,
                "sequential": syn.sequential_area,
                "sram_um2_modelled": self.memory_area_um2,
                "sram_ge_modelled": um2_to_ge(self.memory_area_um2),
                "total_um2": self.total_area_um2,
                "total_mm2": self.total_area_um2 / 1e6,
            },
            "components": self.components(),
            "component_rules": [[p, c] for p, c in COMPONENT_RULES],
            "memories": self.memories(),
            "clock": self.clock(),
            "runtime_s": {"generation": self.generation_s, "synthesis": self.synthesis_s},
            "synthesis": syn.to_dict(),
            "notes": [
                "logic: Yosys + ABC mapping with the hierarchy kept; component areas are "
                "the modules' own cells grouped by component_rules, and add up to the "
                "logic area",
                "SRAM: memories are never synthesized into flip-flops; each is a macro "
                "priced by the density model of rpu.eda.sram_model (modelled)",
                "clock: estimated (no wire load, no placement, one corner)",
            ],
        }

    def to_markdown(self):
        """The report in Markdown."""
        syn = self.synthesis
        c = self.config
        u = syn.area_unit
        ge = u == "GE"
        lines = [
            f"# Synthesis of the RPU (I={c.input_size}, H={c.hidden_size}, "
            f"{c.mac_lanes} MAC lanes)", "",
            f"Configuration: {c.pim_arrays} PIM arrays x {c.lanes_per_array} lanes, "
            f"{c.activation_units} activation units, {c.elementwise_units} element-wise "
            f"units, {c.num_layers} layer(s), data Q{c.data_format.int_bits}."
            f"{c.data_frac_bits}, weights {c.weight_width} bits, "
            f"{c.activation_segments} activation segments.", "",
            f"Logic mapped by Yosys/ABC onto `{syn.library_name}` "
            + ("(the project's generic library, 1 GE = one 2-input NAND = "
               f"{UM2_PER_GE} um2 at 45 nm)" if ge else f"(`{syn.liberty}`, areas in um2)")
            + f"; {syn.yosys_version}; flow: {syn.flow.describe()}. "
            "Memories are SRAM macros priced by the density "
            f"model of `rpu.eda.sram_model` at {syn.node_nm} nm (modelled). The clock is a "
            "static timing estimate (no wire load, one corner).", "",
            "## Area", "",
            "| | um2 | mm2 | share |", "|---|---:|---:|---:|",
        ]
        total = self.total_area_um2
        for label, value in (("logic (synthesized)", self.logic_area_um2),
                             ("SRAM macros (modelled)", self.memory_area_um2),
                             ("**total**", total)):
            lines.append(f"| {label} | {value:,.0f} | {value / 1e6:.4f} | "
                         f"{value / total if total else 0:.1%} |")
        lines += ["", f"Logic: {syn.logic_area:,.1f} {u}"
                  + (f" ({syn.logic_area_ge:,.0f} GE equivalent)" if not ge else "")
                  + f", of which flip-flops {syn.sequential_area:,.1f} {u}.", "",
                  "### Logic per component", "",
                  f"| component | modules | area ({u}) | flip-flops ({u}) | um2 | share |",
                  "|---|---:|---:|---:|---:|---:|"]
        comps = self.components()
        for name, e in comps.items():
            lines.append(f"| {name} | {sum(e['modules'].values())} | {e['area']:,.1f} | "
                         f"{e['sequential_area']:,.1f} | {e['area_um2']:,.0f} | "
                         f"{e['share']:.1%} |")
        lines.append(f"| **logic total** | {len(syn.modules)} | **{syn.logic_area:,.1f}** | "
                     f"{syn.sequential_area:,.1f} | {syn.logic_area_um2:,.0f} | 100% |")
        lines += ["", "Which modules make a component (the module's path below `rpu`, "
                      "first match):", ""]
        for pattern, component in COMPONENT_RULES:
            lines.append(f"- `{pattern or '(the top itself)'}`: {component}")
        lines += ["", "### SRAM macros (modelled)", "",
                  "| memory | macros | words x width, ports | bits | um2 | GE equivalent "
                  "| access (ns) |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        mems = self.memories()
        for kind, e in mems.items():
            lines.append(f"| {kind} | {e['count']} | {', '.join(e['geometry'])} | "
                         f"{e['bits']:,} | {e['area_um2']:,.0f} | {e['area_ge']:,.0f} | "
                         f"{e['access_ns']:.3f} |")
        lines.append(f"| **SRAM total** | {sum(e['count'] for e in mems.values())} | | "
                     f"{sum(e['bits'] for e in mems.values()):,} | "
                     f"**{self.memory_area_um2:,.0f}** | "
                     f"{um2_to_ge(self.memory_area_um2):,.0f} | |")
        clock = self.clock()
        lines += ["", "## Clock (estimated)", ""]
        if clock["f_max_mhz"] is None:
            lines.append("No timed path: the library has no delay tables.")
        else:
            lines += [f"- critical path: {clock['critical_path_ns']:.3f} ns ({clock['logic_depth']} "
                      f"cells; clock-to-Q and setup ({clock['setup_ns']:.3f} ns) included)",
                      f"- f_max: {clock['f_max_mhz']:,.0f} MHz",
                      f"- from: `{clock['start']}`", f"- to: `{clock['end']}`"]
            if clock["start_macro"] is not None:
                lines.append(f"- the path starts at SRAM macro `{clock['start_macro']}`, "
                             f"read access time {clock['start_access_ns_modelled']:.3f} ns "
                             "(modelled, included)")
            mp = clock["memory_path"]
            if mp is not None:
                lines.append(f"- slowest path from an SRAM macro: {mp['delay_ns']:.3f} ns, "
                             f"from `{mp['macro']}` (read access time "
                             f"{mp['access_ns_modelled']:.3f} ns, modelled, included) to "
                             f"`{mp['end']}`")
        lines += ["", f"Run time: generation {self.generation_s:.1f} s, synthesis "
                      f"{self.synthesis_s:.1f} s.", "",
                  "## Details", "", "Per-module areas, the SRAM model's macros and the "
                  "critical path, as `rpu.eda.yosys` reports them:", ""]
        detail = syn.to_markdown().splitlines()
        # Demote the detail's headings below this report's.
        lines += [("#" + line) if line.startswith("## ") else line for line in detail]
        return "\n".join(lines) + "\n"


def _library(liberty, library):
    """The :class:`rpu.eda.libraries.Library` of ``synthesize_rpu(liberty=, library=)``,
    its Liberty file checked."""
    if liberty is not None and library is not None:
        raise SynthInputError("--library and --liberty: give one of them, not both")
    if liberty is not None:
        chosen, option = liberty_library(liberty), "--liberty"
    else:
        chosen = resolve_library(library)
        option = f"--library {chosen.name}" if library is not None else "--library"
    if chosen.liberty is not None:
        check_liberty(chosen.liberty, option)
    return chosen


def synthesize_rpu(config, out_dir, *, liberty=None, library=None, timeout=None, log=None,
                   flow=None):
    """Generate and synthesize the RPU of ``config``; write the report into ``out_dir``.

    Parameters
    ----------
    config : RPUConfig
    out_dir : str or os.PathLike
        Output directory (created if missing). It receives ``synth.json``, ``synth.md``,
        ``synth.log``, ``rpu.v``, ``rpu_sram.v``, ``rpu_sram_blackbox.v`` and, with the
        default library, ``rpu_generic_ge.lib``, all at the end or none.
    liberty : str or os.PathLike, optional
        Liberty library to map to (areas in um2, SRAM macros at 45 nm).
    library : str or rpu.eda.libraries.Library, optional
        A library by name (:data:`rpu.eda.libraries.LIBRARIES`: ``"generic"``,
        ``"osu018"``) or path (:func:`rpu.eda.libraries.resolve_library`); the SRAM macros
        are priced at its node. Default, and without ``liberty``: the generic library (GE,
        45 nm). Not together with ``liberty``.
    timeout : float, optional
        Seconds before Yosys is abandoned.
    log : callable, optional
        Called with progress messages.
    flow : rpu.eda.yosys.SynthesisFlow, optional
        How the logic is mapped; default: the library's own flow
        (:attr:`rpu.eda.libraries.Library.flow`: :data:`rpu.eda.libraries.OSU018_FLOW` on
        ``osu018``, Yosys's default elsewhere).

    Returns
    -------
    RPUSynthesis

    Raises
    ------
    SynthInputError
        An unknown or uninstalled library, both ``liberty`` and ``library``, a missing or
        malformed Liberty file, or an output path that is not a directory; nothing is
        written.
    rpu.eda.errors.SynthesisError
        Yosys failed; nothing is written.
    """
    from rpu.generator import emit_verilog, write_files_atomically

    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    if flow is not None and not isinstance(flow, SynthesisFlow):
        raise TypeError(f"flow must be a SynthesisFlow, not {flow!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SynthInputError(f"output directory {str(out_dir)!r} exists and is not a "
                              "directory")
    chosen = _library(liberty, library)
    liberty = chosen.liberty
    log = log or (lambda message: None)
    started = time.monotonic()
    verilog_text = emit_verilog(config)
    generation_s = time.monotonic() - started
    log(f"generated rpu.v in {generation_s:.1f} s; synthesizing {config.mac_lanes} MAC "
        "lanes with Yosys")
    # Yosys works in the system's temporary folder: the output folder's parent may be
    # read-only, and only the finished files go into the output folder (rpu.files).
    work = Path(tempfile.mkdtemp(prefix="rpu-synth-"))
    try:
        (work / "rpu.v").write_text(verilog_text)
        (work / "rpu_sram_blackbox.v").write_text(SRAM_BLACKBOX_VERILOG)
        started = time.monotonic()
        report = synthesize([work / "rpu.v", work / "rpu_sram_blackbox.v"], top="rpu",
                            liberty=liberty, workdir=work / "yosys",
                            area_unit=chosen.area_unit, sram_modules=[SRAM_MODULE],
                            timeout=timeout, node_nm=chosen.node_nm,
                            flow=flow if flow is not None else chosen.flow)
        synthesis_s = time.monotonic() - started
        files = {"rpu.v": verilog_text, "rpu_sram.v": SRAM_MODEL_VERILOG,
                 "rpu_sram_blackbox.v": SRAM_BLACKBOX_VERILOG,
                 "synth.log": (work / "yosys" / "synth.log").read_text(errors="replace")}
        lib_name = None
        if liberty is None:
            lib_name = f"{LIBRARY_NAME}.lib"
            files[lib_name] = (work / "yosys" / lib_name).read_text()
        # Name the files where they will be, not in the temporary directory.
        report = replace(report, log_path=str(out_dir / "synth.log"),
                         liberty=str(out_dir / lib_name) if lib_name else str(liberty))
        result = RPUSynthesis(config=config, synthesis=report, generation_s=generation_s,
                              synthesis_s=synthesis_s)
        files["synth.json"] = json.dumps(result.to_dict(), indent=2) + "\n"
        files["synth.md"] = result.to_markdown()
        write_files_atomically(out_dir, files)
    except SynthesisError as error:
        # A tool failure: keep the working directory (script, log) for a look.
        raise SynthesisError(f"{error}\n(the working directory {work} is kept)") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return result
