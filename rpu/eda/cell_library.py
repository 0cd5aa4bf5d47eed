"""The project's own generic standard-cell library, in gate equivalents.

Synthesis (:mod:`rpu.eda.yosys`) maps the RPU's logic onto this library unless a real
Liberty file is given. It is small on purpose: the cells that ABC and ``dfflibmap`` need
to map any logic, each with a documented area and a simple documented delay model.

Area
----
Areas are in **gate equivalents (GE)**: 1 GE is the area of one 2-input NAND. The ratios
between cells are those of the X1 (smallest drive) cells of the **Nangate 45 nm Open Cell
Library** (``NangateOpenCellLibrary_typical.lib``, 2011, the standard-cell library of
FreePDK45). Its cells are 1.4 um tall and a whole number of 0.19 um placement tracks wide,
so every area is a multiple of 0.266 um2; NAND2_X1 is 3 tracks, 0.798 um2, and one track is
therefore 1/3 GE. The Nangate cell each of our cells is priced after is given in the table
(:data:`GENERIC_CELLS`, field ``nangate_cell``, area ``nangate_area_um2``);
``area_ge = nangate_area_um2 / 0.798``.

Delay
-----
A linear (logical-effort) model, Sutherland, Sproull and Harris, *Logical Effort:
Designing Fast CMOS Circuits*, Morgan Kaufmann 1999, with the parasitic delay ``p`` and
logical effort ``g`` of each gate from their tables (as reproduced in Weste and Harris,
*CMOS VLSI Design*, 4th ed., table 4.2 and 4.3). Every cell is a unit-drive (X1) cell, so
a single-stage gate with effort ``g`` has input capacitance ``g * C_UNIT`` and delay

    d = TAU * (p + C_load / C_UNIT)

for a load ``C_load``; a non-inverting cell built of a first stage and an output
inverter (AND2, OR2, BUF, MUX2) adds the inverter: ``d = TAU * (p1 + 1 + 1 + C_load /
C_UNIT)`` (the first stage drives a unit inverter: effort delay 1, plus the inverter's
parasitic 1). The Liberty file writes this as a 2 x 4 NLDM table that depends on the
load only (not on the input slew), so it is exact under linear interpolation.

* ``TAU = 4 ps``: the FO4 inverter delay is 5 tau, and FO4 at 45 nm is about 20 ps by
  the usual rule of thumb of roughly 0.36 to 0.5 ps per nm of drawn gate length (Horowitz
  et al., "Scaling, power, and the future of CMOS", IEDM 2005; Weste and Harris sec. 4.4).
* ``C_UNIT = 1.7 fF``: the input capacitance of the Nangate 45 nm INV_X1.
* Flip-flops: clock-to-Q ``2 FO4 = 10 tau`` plus the load term, setup ``1 FO4 = 5 tau``,
  the usual figure of about 3 FO4 of sequencing overhead for a master-slave flip-flop.

These delays are an estimate for comparing designs and for a first clock estimate, not
sign-off timing: no wire load, no slew dependence, a single typical corner.
"""

from dataclasses import dataclass
from pathlib import Path


__all__ = [
    "NAND2_UM2_45NM", "TAU_NS", "C_UNIT_FF", "LIBRARY_NAME",
    "CellSpec", "GENERIC_CELLS", "cell", "write_generic_liberty", "generic_liberty_text",
]


#: Area of the Nangate 45 nm NAND2_X1 in um2: the size of one gate equivalent at 45 nm.
NAND2_UM2_45NM = 0.798
#: Logical-effort time constant tau at 45 nm, in ns.
TAU_NS = 0.004
#: Unit input capacitance (one unit inverter input), in fF.
C_UNIT_FF = 1.7
#: Name of the generated Liberty library.
LIBRARY_NAME = "rpu_generic_ge"

# NLDM table axes of the generated library (ns and fF).
_SLEW_INDEX = (0.001, 0.2)
_LOAD_INDEX = (0.0, 4.0, 16.0, 64.0)


@dataclass(frozen=True, kw_only=True)
class CellSpec:
    """One cell of the generic library.

    Parameters
    ----------
    name : str
        Cell name in the Liberty file.
    inputs : tuple of str
        Data input pins (for a flip-flop: ``D`` and, if any, the asynchronous reset).
    output : str
        The output pin.
    function : str
        Liberty Boolean function of the output (for a flip-flop: ``"IQ"``).
    nangate_cell : str
        The Nangate 45 nm cell the area is taken from.
    nangate_area_um2 : float
        That cell's area in um2.
    effort : tuple of float
        Logical effort ``g`` of each input of ``inputs``, which sets its capacitance.
    intrinsic_tau : float
        Delay at zero load in units of tau (for a flip-flop: clock to Q).
    clock : str or None
        Clock pin of a flip-flop (rising edge), ``None`` for combinational cells.
    clear : str or None
        Liberty ``clear`` expression of a flip-flop with asynchronous reset.
    setup_tau : float
        Setup time of a flip-flop's ``D`` pin in units of tau.
    """

    name: str
    inputs: tuple
    output: str
    function: str
    nangate_cell: str
    nangate_area_um2: float
    effort: tuple
    intrinsic_tau: float
    clock: str = None
    clear: str = None
    setup_tau: float = 0.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, not {self.name!r}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "effort", tuple(float(g) for g in self.effort))
        if not self.inputs or not all(isinstance(p, str) and p for p in self.inputs):
            raise ValueError(f"cell {self.name}: inputs must be a non-empty tuple of names")
        if len(self.effort) != len(self.inputs):
            raise ValueError(f"cell {self.name}: one effort per input is needed")
        if not (isinstance(self.nangate_area_um2, (int, float)) and self.nangate_area_um2 > 0):
            raise ValueError(f"cell {self.name}: nangate_area_um2 must be positive")
        if not self.intrinsic_tau >= 0 or not self.setup_tau >= 0 \
                or any(g <= 0 for g in self.effort):
            raise ValueError(f"cell {self.name}: delays must be >= 0 and efforts > 0")
        if self.clear is not None and self.clock is None:
            raise ValueError(f"cell {self.name}: only a flip-flop has a clear")

    @property
    def area_ge(self):
        """Area in gate equivalents, ``nangate_area_um2 / NAND2_UM2_45NM``."""
        return self.nangate_area_um2 / NAND2_UM2_45NM

    @property
    def is_sequential(self):
        """Whether the cell is a flip-flop."""
        return self.clock is not None

    @property
    def intrinsic_ns(self):
        """Delay at zero load (clock to Q for a flip-flop), in ns."""
        return self.intrinsic_tau * TAU_NS

    @property
    def slope_ns_per_ff(self):
        """Delay per fF of load, in ns (``TAU / C_UNIT`` for every X1 cell)."""
        return TAU_NS / C_UNIT_FF

    @property
    def setup_ns(self):
        """Setup time in ns (0 for combinational cells)."""
        return self.setup_tau * TAU_NS

    def input_capacitance_ff(self, pin):
        """Input capacitance of ``pin`` in fF (the clock pin is one unit load)."""
        if pin == self.clock:
            return C_UNIT_FF
        return self.effort[self.inputs.index(pin)] * C_UNIT_FF

    def delay_ns(self, load_ff):
        """Delay of the cell driving ``load_ff`` fF, in ns."""
        return self.intrinsic_ns + self.slope_ns_per_ff * load_ff


# Parasitic delays p and logical efforts g: Sutherland, Sproull and Harris (1999),
# Weste and Harris (4th ed.) tables 4.2/4.3. Two-stage (non-inverting) cells:
# p1 + 1 (first stage driving a unit inverter) + 1 (inverter parasitic).
GENERIC_CELLS = (
    CellSpec(name="INV", inputs=("A",), output="Y", function="!A",
             nangate_cell="INV_X1", nangate_area_um2=0.532,
             effort=(1.0,), intrinsic_tau=1.0),
    CellSpec(name="BUF", inputs=("A",), output="Y", function="A",
             nangate_cell="BUF_X1", nangate_area_um2=0.798,
             effort=(1.0,), intrinsic_tau=3.0),
    CellSpec(name="NAND2", inputs=("A", "B"), output="Y", function="!(A&B)",
             nangate_cell="NAND2_X1", nangate_area_um2=0.798,
             effort=(4 / 3, 4 / 3), intrinsic_tau=2.0),
    CellSpec(name="NOR2", inputs=("A", "B"), output="Y", function="!(A|B)",
             nangate_cell="NOR2_X1", nangate_area_um2=0.798,
             effort=(5 / 3, 5 / 3), intrinsic_tau=2.0),
    CellSpec(name="AND2", inputs=("A", "B"), output="Y", function="(A&B)",
             nangate_cell="AND2_X1", nangate_area_um2=1.064,
             effort=(4 / 3, 4 / 3), intrinsic_tau=4.0),
    CellSpec(name="OR2", inputs=("A", "B"), output="Y", function="(A|B)",
             nangate_cell="OR2_X1", nangate_area_um2=1.064,
             effort=(5 / 3, 5 / 3), intrinsic_tau=4.0),
    CellSpec(name="XOR2", inputs=("A", "B"), output="Y", function="(A^B)",
             nangate_cell="XOR2_X1", nangate_area_um2=1.596,
             effort=(4.0, 4.0), intrinsic_tau=4.0),
    CellSpec(name="XNOR2", inputs=("A", "B"), output="Y", function="!(A^B)",
             nangate_cell="XNOR2_X1", nangate_area_um2=1.596,
             effort=(4.0, 4.0), intrinsic_tau=4.0),
    CellSpec(name="NAND3", inputs=("A", "B", "C"), output="Y", function="!(A&B&C)",
             nangate_cell="NAND3_X1", nangate_area_um2=1.064,
             effort=(5 / 3,) * 3, intrinsic_tau=3.0),
    CellSpec(name="NOR3", inputs=("A", "B", "C"), output="Y", function="!(A|B|C)",
             nangate_cell="NOR3_X1", nangate_area_um2=1.064,
             effort=(7 / 3,) * 3, intrinsic_tau=3.0),
    CellSpec(name="AOI21", inputs=("A", "B", "C"), output="Y", function="!((A&B)|C)",
             nangate_cell="AOI21_X1", nangate_area_um2=1.064,
             effort=(2.0, 2.0, 5 / 3), intrinsic_tau=7 / 3),
    CellSpec(name="OAI21", inputs=("A", "B", "C"), output="Y", function="!((A|B)&C)",
             nangate_cell="OAI21_X1", nangate_area_um2=1.064,
             effort=(2.0, 2.0, 5 / 3), intrinsic_tau=7 / 3),
    CellSpec(name="AOI22", inputs=("A", "B", "C", "D"), output="Y", function="!((A&B)|(C&D))",
             nangate_cell="AOI22_X1", nangate_area_um2=1.330,
             effort=(2.0,) * 4, intrinsic_tau=4.0),
    CellSpec(name="OAI22", inputs=("A", "B", "C", "D"), output="Y", function="!((A|B)&(C|D))",
             nangate_cell="OAI22_X1", nangate_area_um2=1.330,
             effort=(2.0,) * 4, intrinsic_tau=4.0),
    # MUX2: an inverting (tristate) multiplexer, p = 4, g = 2, and an output inverter.
    CellSpec(name="MUX2", inputs=("A", "B", "S"), output="Y", function="((S&B)|(!S&A))",
             nangate_cell="MUX2_X1", nangate_area_um2=1.862,
             effort=(2.0, 2.0, 2.0), intrinsic_tau=6.0),
    # Flip-flops: clock to Q 2 FO4 = 10 tau, setup 1 FO4 = 5 tau.
    CellSpec(name="DFF", inputs=("D",), output="Q", function="IQ",
             nangate_cell="DFF_X1", nangate_area_um2=4.522,
             effort=(1.0,), intrinsic_tau=10.0, clock="CK", setup_tau=5.0),
    CellSpec(name="DFFR", inputs=("D", "RN"), output="Q", function="IQ",
             nangate_cell="DFFR_X1", nangate_area_um2=5.320,
             effort=(1.0, 1.0), intrinsic_tau=10.0, clock="CK", clear="!RN", setup_tau=5.0),
)

_BY_NAME = {spec.name: spec for spec in GENERIC_CELLS}


def cell(name):
    """The :class:`CellSpec` called ``name``.

    Parameters
    ----------
    name : str
        A cell name of :data:`GENERIC_CELLS`, e.g. ``"NAND2"``.

    Returns
    -------
    CellSpec

    Raises
    ------
    KeyError
        If there is no such cell.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"the generic library has no cell {name!r}; it has "
                       f"{', '.join(_BY_NAME)}") from None


def _fmt(x):
    return f"{x:.8g}"


def _table(kind, values_for_load):
    row = ", ".join(_fmt(values_for_load(c)) for c in _LOAD_INDEX)
    rows = ", \\\n          ".join(f'"{row}"' for _ in _SLEW_INDEX)
    return (f"        {kind} (delay_2x4) {{\n"
            f'          index_1 ("{", ".join(_fmt(s) for s in _SLEW_INDEX)}");\n'
            f'          index_2 ("{", ".join(_fmt(c) for c in _LOAD_INDEX)}");\n'
            f"          values ({rows});\n"
            f"        }}\n")


def _arc(spec, related, timing_type=None, sense=None):
    lines = ["      timing () {\n", f'        related_pin : "{related}";\n']
    if timing_type:
        lines.append(f"        timing_type : {timing_type};\n")
    if sense:
        lines.append(f"        timing_sense : {sense};\n")
    for kind in ("cell_rise", "cell_fall"):
        lines.append(_table(kind, spec.delay_ns))
    # Output transition: modelled as twice the load-dependent part plus one tau.
    for kind in ("rise_transition", "fall_transition"):
        lines.append(_table(kind, lambda c: TAU_NS + 2 * spec.slope_ns_per_ff * c))
    lines.append("      }\n")
    return "".join(lines)


def _sense(spec):
    f = spec.function
    if f.startswith("!"):
        return "negative_unate"
    if "^" in f or spec.name == "MUX2":
        return "non_unate"
    return "positive_unate"


def _cell_text(spec):
    out = [f"  /* {spec.name}: area of Nangate {spec.nangate_cell} "
           f"({spec.nangate_area_um2} um2) / {NAND2_UM2_45NM} um2 */\n",
           f"  cell ({spec.name}) {{\n",
           f"    area : {spec.area_ge:.6f};\n"]
    if spec.is_sequential:
        out.append("    ff (IQ, IQN) {\n")
        out.append(f'      next_state : "{spec.inputs[0]}";\n')
        out.append(f'      clocked_on : "{spec.clock}";\n')
        if spec.clear:
            out.append(f'      clear : "{spec.clear}";\n')
        out.append("    }\n")
        out.append(f"    pin ({spec.clock}) {{\n      direction : input;\n"
                   f"      capacitance : {_fmt(C_UNIT_FF)};\n      clock : true;\n    }}\n")
    for pin in spec.inputs:
        out.append(f"    pin ({pin}) {{\n      direction : input;\n"
                   f"      capacitance : {_fmt(spec.input_capacitance_ff(pin))};\n")
        if spec.is_sequential and pin == spec.inputs[0]:
            out.append("      timing () {\n"
                       f'        related_pin : "{spec.clock}";\n'
                       "        timing_type : setup_rising;\n"
                       "        rise_constraint (constraint_2x2) {\n"
                       '          index_1 ("0.001, 0.2");\n          index_2 ("0.001, 0.2");\n'
                       f'          values ("{_fmt(spec.setup_ns)}, {_fmt(spec.setup_ns)}", '
                       f'"{_fmt(spec.setup_ns)}, {_fmt(spec.setup_ns)}");\n'
                       "        }\n"
                       "        fall_constraint (constraint_2x2) {\n"
                       '          index_1 ("0.001, 0.2");\n          index_2 ("0.001, 0.2");\n'
                       f'          values ("{_fmt(spec.setup_ns)}, {_fmt(spec.setup_ns)}", '
                       f'"{_fmt(spec.setup_ns)}, {_fmt(spec.setup_ns)}");\n'
                       "        }\n"
                       "      }\n")
        out.append("    }\n")
    out.append(f"    pin ({spec.output}) {{\n      direction : output;\n"
               f'      function : "{spec.function}";\n')
    if spec.is_sequential:
        out.append(_arc(spec, spec.clock, timing_type="rising_edge"))
    else:
        for pin in spec.inputs:
            out.append(_arc(spec, pin, sense=_sense(spec)))
    out.append("    }\n  }\n\n")
    return "".join(out)


def generic_liberty_text():
    """The generic library as Liberty source text.

    Returns
    -------
    str
        A complete ``library (rpu_generic_ge) { ... }`` group: areas in GE, times in ns,
        capacitances in fF.
    """
    head = [
        "/* RPU generic standard-cell library (generated by rpu.eda.cell_library).\n"
        " * Areas in gate equivalents (1 GE = one NAND2), ratios of the Nangate 45 nm\n"
        " * Open Cell Library X1 cells. Delays: logical-effort model,\n"
        f" * d = tau * (p + C_load / C_unit), tau = {TAU_NS} ns, C_unit = {C_UNIT_FF} fF.\n"
        " * Estimates only; see the rpu.eda.cell_library docstring for sources. */\n",
        f"library ({LIBRARY_NAME}) {{\n",
        "  delay_model : table_lookup;\n",
        '  time_unit : "1ns";\n',
        '  voltage_unit : "1V";\n',
        '  current_unit : "1mA";\n',
        '  pulling_resistance_unit : "1kohm";\n',
        '  leakage_power_unit : "1nW";\n',
        "  capacitive_load_unit (1, ff);\n",
        "  nom_process : 1.0;\n  nom_voltage : 1.1;\n  nom_temperature : 25.0;\n",
        "  input_threshold_pct_rise : 50.0;\n  input_threshold_pct_fall : 50.0;\n",
        "  output_threshold_pct_rise : 50.0;\n  output_threshold_pct_fall : 50.0;\n",
        "  slew_lower_threshold_pct_rise : 30.0;\n  slew_lower_threshold_pct_fall : 30.0;\n",
        "  slew_upper_threshold_pct_rise : 70.0;\n  slew_upper_threshold_pct_fall : 70.0;\n",
        f"  default_input_pin_cap : {_fmt(C_UNIT_FF)};\n",
        "  default_output_pin_cap : 0.0;\n",
        "  default_max_transition : 1.0;\n\n",
        "  lu_table_template (delay_2x4) {\n"
        "    variable_1 : input_net_transition;\n"
        "    variable_2 : total_output_net_capacitance;\n"
        f'    index_1 ("{", ".join(_fmt(s) for s in _SLEW_INDEX)}");\n'
        f'    index_2 ("{", ".join(_fmt(c) for c in _LOAD_INDEX)}");\n'
        "  }\n",
        "  lu_table_template (constraint_2x2) {\n"
        "    variable_1 : constrained_pin_transition;\n"
        "    variable_2 : related_pin_transition;\n"
        '    index_1 ("0.001, 0.2");\n    index_2 ("0.001, 0.2");\n'
        "  }\n\n",
    ]
    return "".join(head) + "".join(_cell_text(spec) for spec in GENERIC_CELLS) + "}\n"


def write_generic_liberty(path):
    """Write the generic library to a Liberty file.

    Parameters
    ----------
    path : str or os.PathLike
        File to write (its directory must exist).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.write_text(generic_liberty_text())
    return path
