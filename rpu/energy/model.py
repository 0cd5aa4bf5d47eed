"""The RPU's energy model: counted actions times per-action energies at 45 nm.

Simulation counts how often each *action* happens (a MAC, a weight-memory read, ...);
:func:`energy_report` multiplies the counts by the energies of :data:`ACTION_ENERGY_PJ`.
Every number that comes out is **modelled**, never measured, and is labelled so.

Sources
-------
M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
digest of technical papers, pp. 10-14 (45 nm, 0.9 V), gives:

==========================  ==========
integer add 8 bit           0.03 pJ
integer add 32 bit          0.1 pJ
integer multiply 8 bit      0.2 pJ
integer multiply 32 bit     3.1 pJ
SRAM read, 64 bit, 8 KB     10 pJ
SRAM read, 64 bit, 32 KB    20 pJ
SRAM read, 64 bit, 1 MB     100 pJ
==========================  ==========

The widths the RPU builds (16-bit data and weights by default, but 4 to 20 bits by
configuration) are priced by stated scaling rules, the same for every configuration:

* **adder**: energy linear in width (the 8 and 32-bit points are about 3.1 to 3.75 fJ per
  bit): interpolated linearly between the two points, ``add(16) = 0.03 + (0.1 - 0.03) *
  8 / 24 = 0.0533 pJ``; wider adders extrapolate on the same line from 32 bit.
* **multiplier**: energy about quadratic in width (3.1 / 0.2 = 15.5 for 4x the width):
  the power law through both points, ``mult(16) = sqrt(0.2 * 3.1) = 0.787 pJ``. An
  ``a x b`` multiply of unequal widths: an array multiplier has ``a * b`` partial-product
  cells (one AND gate and one full adder each; Weste and Harris, *CMOS VLSI Design*, 4th
  ed., sec. 11.9), so its energy follows the product of the widths, ``mult(a, b) =
  0.2 pJ * (a * b / 64) ** (p / 2)`` with the same exponent ``p = log(15.5) / log(4)``
  (which is the power law above when ``a = b``): an 8 x 16 multiply costs
  ``2 ** (-p / 2)``, about 0.50 times a 16 x 16 one.
* **SRAM read**: energy proportional to the bits read and to the square root of the
  capacity (bit-line and word-line length), which fits the three points within 15 %:
  ``E = 10 pJ * (bits / 64) * sqrt(capacity / 8 KB)`` (:func:`sram_access_energy_pj`).
  Writes are taken equal to reads. A memory of narrower words has the same number of
  words, so both its bits read and its capacity shrink: an 8-bit weight read of a memory
  of the same depth costs ``(8 / 16) * sqrt(8 / 16)``, about 0.35 times a 16-bit one.

:func:`action_energy_table` prices every action at the widths a configuration builds
(data width ``W``, weight width, accumulator width); :data:`ACTION_ENERGY_PJ` is that table
at the reference widths of the default configuration (``W`` = 16, 16-bit weights, 40-bit
accumulator), and :func:`rpu.energy.activity.action_energies` gives a configuration its
own. Pipeline registers are priced per 16 flip-flops whatever the widths: the count of
register updates (:func:`rpu.energy.activity.action_counts`) already counts the bits
the configuration's registers hold.

Two actions are not in Horowitz's table and are derived otherwise (see each entry):
on-chip wires, from S. W. Keckler, W. J. Dally, B. Khailany, M. Garland, D. Glasco,
"GPUs and the future of parallel computing", IEEE Micro 31(5), 2011 (about 0.1 pJ per
bit per mm at 40 nm), and pipeline registers, from ``E = C V^2``.

What is not modelled: leakage, the clock tree, control logic, off-chip I/O. Weight
memories of the large configurations are bigger than 8 KB; a caller that knows the size
can pass a size-scaled ``weight_read`` energy (``energies=`` of :func:`energy_report`,
computed with :func:`sram_access_energy_pj` or ``action_energy_table(weight_memory_bytes=
...)``), as :func:`rpu.energy.activity.action_energies` does.
"""

import math
from dataclasses import dataclass, field

from lstm_ref.checks import is_integer


__all__ = [
    "ACTIONS", "ACTION_ENERGY_PJ", "ACTION_SOURCES", "HOROWITZ_2014_PJ",
    "REFERENCE_WIDTHS", "int_add_energy_pj", "int_mult_energy_pj", "sram_access_energy_pj",
    "action_energy_table",
    "EnergyReport", "energy_report",
]


#: Horowitz, ISSCC 2014, 45 nm, 0.9 V: the published points the model is built on (pJ).
HOROWITZ_2014_PJ = {
    "int_add_8": 0.03,
    "int_add_32": 0.1,
    "int_mult_8": 0.2,
    "int_mult_32": 3.1,
    "sram_read_64b_8KB": 10.0,
    "sram_read_64b_32KB": 20.0,
    "sram_read_64b_1MB": 100.0,
}

#: Wire energy on chip, pJ per bit per mm (Keckler et al., IEEE Micro 2011, 40 nm).
WIRE_PJ_PER_BIT_MM = 0.1
#: Assumed average distance of one interconnect transfer, mm (about the side of the
#: paper's 1.51 mm2 chip).
INTERCONNECT_DISTANCE_MM = 1.0
#: Energy of one flip-flop update, pJ: about 10 fF switched (clock and data of a
#: master-slave flip-flop) at 0.9 V, E = C V^2 = 8.1 fJ.
FLIPFLOP_UPDATE_PJ = 10e-15 * 0.9 ** 2 * 1e12


def int_add_energy_pj(bits):
    """Energy of an integer add of ``bits`` bits, pJ (linear through Horowitz's points).

    Parameters
    ----------
    bits : int
        Adder width (>= 1).

    Returns
    -------
    float
        ``0.03 + (0.1 - 0.03) * (bits - 8) / 24``, floored at 0.
    """
    if not is_integer(bits) or bits < 1:
        raise ValueError(f"bits must be a positive integer, not {bits!r}")
    a8, a32 = HOROWITZ_2014_PJ["int_add_8"], HOROWITZ_2014_PJ["int_add_32"]
    return max(0.0, a8 + (a32 - a8) * (bits - 8) / 24)


def int_mult_energy_pj(bits, other_bits=None):
    """Energy of a ``bits`` x ``other_bits`` integer multiply, pJ (power law through
    Horowitz's 8 and 32-bit points, exponent ``p = log(15.5) / log(4)``, about 1.98, in
    the geometric mean of the two widths).

    Parameters
    ----------
    bits : int
        Width of one operand (>= 1).
    other_bits : int, optional
        Width of the other operand (>= 1); default ``bits``.

    Returns
    -------
    float
        ``0.2 * (bits * other_bits / 64) ** (p / 2)``: proportional to the array
        multiplier's ``bits * other_bits`` partial-product cells raised to ``p / 2``;
        ``0.2 * (bits / 8) ** p`` for a square multiply.
    """
    if not is_integer(bits) or bits < 1:
        raise ValueError(f"bits must be a positive integer, not {bits!r}")
    if other_bits is None:
        other_bits = bits
    if not is_integer(other_bits) or other_bits < 1:
        raise ValueError(f"other_bits must be a positive integer, not {other_bits!r}")
    m8, m32 = HOROWITZ_2014_PJ["int_mult_8"], HOROWITZ_2014_PJ["int_mult_32"]
    exponent = math.log(m32 / m8) / math.log(4)
    return m8 * (bits * other_bits / 64) ** (exponent / 2)


def sram_access_energy_pj(capacity_bytes, word_bits):
    """Energy of reading (or writing) one word of an SRAM, pJ.

    Parameters
    ----------
    capacity_bytes : int or float
        Capacity of the memory (array) in bytes.
    word_bits : int
        Bits accessed.

    Returns
    -------
    float
        ``10 pJ * (word_bits / 64) * sqrt(capacity_bytes / 8192)``: Horowitz's 8 KB point,
        proportional to the bits read and to the square root of the capacity.
    """
    if not capacity_bytes > 0:
        raise ValueError(f"capacity_bytes must be positive, not {capacity_bytes!r}")
    if not is_integer(word_bits) or word_bits < 1:
        raise ValueError(f"word_bits must be a positive integer, not {word_bits!r}")
    return (HOROWITZ_2014_PJ["sram_read_64b_8KB"] * (word_bits / 64)
            * math.sqrt(capacity_bytes / 8192))


#: The action names, in report order.
ACTIONS = ("mac", "weight_read", "state_read", "state_write", "activation",
           "elementwise", "interconnect_transfer", "register_update")

#: The widths :data:`ACTION_ENERGY_PJ` is priced at (the default configuration's), and
#: the default arguments of :func:`action_energy_table`.
REFERENCE_WIDTHS = {"data_width": 16, "weight_width": 16, "acc_width": 40}

#: Words of the weight memory the table prices a weight read of (8 KB of 16-bit words).
WEIGHT_TABLE_WORDS = 4096
#: Words of a state memory (the h/c/x memories; 1024 words, the L configuration).
STATE_MEMORY_WORDS = 1024
#: Entries of an activation table (slope and offset of ``2 * W`` bits; 512 B at W = 16).
ACTIVATION_TABLE_ENTRIES = 128


def _width(name, value):
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def action_energy_table(*, data_width=16, weight_width=16, acc_width=40,
                        weight_memory_bytes=None, weight_word_bits=None):
    """Energy of each action at 45 nm for the widths a configuration builds, pJ.

    Parameters
    ----------
    data_width : int
        Width ``W`` of the data (x, h, c, gate values), bits.
    weight_width : int
        Width of a weight, bits.
    acc_width : int
        Width of a lane's accumulator, bits.
    weight_memory_bytes : int or float, optional
        Capacity of the weight memory a weight is read from, bytes; default the table's
        ``WEIGHT_TABLE_WORDS`` words of ``weight_word_bits`` bits (8 KB at 16 bits).
    weight_word_bits : int, optional
        Bits of a weight memory word (one read); default ``weight_width`` (one weight per
        word).

    Returns
    -------
    dict of str to float
        One energy per action of :data:`ACTIONS` (see :data:`ACTION_SOURCES`):

        * ``mac``: a ``data_width x weight_width`` multiply plus an ``acc_width`` add;
        * ``weight_read``: a word (``weight_word_bits``) of the weight memory;
        * ``state_read``, ``state_write``: ``W`` bits of a ``STATE_MEMORY_WORDS``-word
          memory of ``W``-bit words;
        * ``activation``: a ``2W``-bit entry of a ``ACTIVATION_TABLE_ENTRIES``-entry
          table, a ``W x W`` multiply and a ``W``-bit add;
        * ``elementwise``: two ``W x W`` multiplies and a ``2W``-bit add;
        * ``interconnect_transfer``: ``W`` bits over the assumed wire length;
        * ``register_update``: 16 flip-flop updates (the unit of the count).

        At the default (reference) widths, :data:`ACTION_ENERGY_PJ`.
    """
    w = _width("data_width", data_width)
    ww = _width("weight_width", weight_width)
    acc = _width("acc_width", acc_width)
    word = ww if weight_word_bits is None else _width("weight_word_bits", weight_word_bits)
    if weight_memory_bytes is None:
        weight_memory_bytes = WEIGHT_TABLE_WORDS * word / 8
    mult_w = int_mult_energy_pj(w)
    return {
        "mac": int_mult_energy_pj(w, ww) + int_add_energy_pj(acc),
        "weight_read": sram_access_energy_pj(weight_memory_bytes, word),
        "state_read": sram_access_energy_pj(STATE_MEMORY_WORDS * w / 8, w),
        "state_write": sram_access_energy_pj(STATE_MEMORY_WORDS * w / 8, w),
        "activation": (sram_access_energy_pj(ACTIVATION_TABLE_ENTRIES * 2 * w / 8, 2 * w)
                       + mult_w + int_add_energy_pj(w)),
        "elementwise": 2 * mult_w + int_add_energy_pj(2 * w),
        "interconnect_transfer": w * WIRE_PJ_PER_BIT_MM * INTERCONNECT_DISTANCE_MM,
        "register_update": 16 * FLIPFLOP_UPDATE_PJ,
    }


#: Energy of each action at 45 nm and the reference widths (16-bit data and weights,
#: 40-bit accumulator), pJ (modelled).
ACTION_ENERGY_PJ = action_energy_table(**REFERENCE_WIDTHS)

#: Where each entry of :data:`ACTION_ENERGY_PJ` comes from (at the reference widths; the
#: rules of :func:`action_energy_table` scale them).
ACTION_SOURCES = {
    "mac": "Horowitz ISSCC 2014 (45 nm): 16-bit mult = sqrt(0.2 * 3.1) pJ (power law "
           "between the 8 and 32-bit mults; a x b mults by the product of the widths) + "
           "40-bit add by linear scaling of the 8/32-bit adds (the accumulator width)",
    "weight_read": "Horowitz ISSCC 2014: 8 KB SRAM 64-bit read 10 pJ, scaled to 16 bits "
                   "(x 16/64; proportional to the bits read, sqrt of the capacity)",
    "state_read": "Horowitz ISSCC 2014: SRAM read scaled to 16 bits and to a 2 KB array "
                  "(x sqrt(2/8))",
    "state_write": "as state_read (write energy taken equal to read)",
    "activation": "Horowitz ISSCC 2014: 32-bit read of a 512 B table (SRAM scaling) + "
                  "16-bit mult + 16-bit add",
    "elementwise": "Horowitz ISSCC 2014: two 16-bit mults + one 32-bit add",
    "interconnect_transfer": "Keckler et al., IEEE Micro 2011: ~0.1 pJ/bit/mm on-chip "
                             "wire; 16 bits over an assumed 1 mm",
    "register_update": "derived: 16 flip-flops x C V^2 with ~10 fF switched per bit at "
                       "0.9 V (8.1 fJ/bit)",
}


def _check_count(name, value):
    if not is_integer(value) or value < 0:
        raise ValueError(f"count of action {name!r} must be a non-negative integer, "
                         f"not {value!r}")


@dataclass(frozen=True, kw_only=True)
class EnergyReport:
    """Modelled energy of a run of LSTM steps.

    Parameters
    ----------
    action_counts : dict of str to int
        How often each action happened over the whole run.
    energies_pj : dict of str to float
        Energy of one of each action, pJ (defaults: :data:`ACTION_ENERGY_PJ`).
    steps : int
        LSTM steps in the run (>= 1).
    ops_per_step : int
        Operations per step (docs/architecture.md, "expansion model": ``8H(I+H) + 13H``).
    seconds_per_step : float or None
        Time per step (from the simulated cycles and the estimated clock), if known.
    """

    action_counts: dict
    energies_pj: dict = field(default_factory=lambda: dict(ACTION_ENERGY_PJ))
    steps: int
    ops_per_step: int
    seconds_per_step: float = None

    def __post_init__(self):
        counts = dict(self.action_counts)
        energies = dict(self.energies_pj)
        for name in energies:
            if name not in ACTION_ENERGY_PJ:
                raise ValueError(f"unknown action {name!r} in energies; the actions are "
                                 f"{', '.join(ACTIONS)}")
        for name, value in counts.items():
            if name not in ACTION_ENERGY_PJ:
                raise ValueError(f"unknown action {name!r}; the actions are "
                                 f"{', '.join(ACTIONS)}")
            _check_count(name, value)
        for name, value in energies.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not value >= 0 or math.isinf(value):
                raise ValueError(f"energy of action {name!r} must be a finite number "
                                 f">= 0 pJ, not {value!r}")
        missing = [a for a in counts if a not in energies]
        if missing:
            raise ValueError(f"no energy given for action(s) {', '.join(missing)}")
        if not is_integer(self.steps) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, not {self.steps!r}")
        if not isinstance(self.ops_per_step, (int, float)) or isinstance(self.ops_per_step, bool) \
                or not self.ops_per_step > 0:
            raise ValueError(f"ops_per_step must be positive, not {self.ops_per_step!r}")
        if self.seconds_per_step is not None and (
                not isinstance(self.seconds_per_step, (int, float))
                or isinstance(self.seconds_per_step, bool)
                or not self.seconds_per_step > 0 or math.isinf(self.seconds_per_step)):
            raise ValueError(f"seconds_per_step must be a positive number or None, "
                             f"not {self.seconds_per_step!r}")
        object.__setattr__(self, "action_counts", counts)
        object.__setattr__(self, "energies_pj", energies)

    @property
    def breakdown_pj(self):
        """Energy of each counted action over the run, pJ, in :data:`ACTIONS` order."""
        return {a: self.action_counts[a] * self.energies_pj[a]
                for a in ACTIONS if a in self.action_counts}

    @property
    def total_pj(self):
        """Total energy of the run, pJ."""
        return sum(self.breakdown_pj.values())

    @property
    def per_step_pj(self):
        """Energy per LSTM step, pJ."""
        return self.total_pj / self.steps

    @property
    def total_ops(self):
        """Operations of the run, ``ops_per_step * steps``."""
        return self.ops_per_step * self.steps

    @property
    def gops_per_watt(self):
        """Modelled energy efficiency, ``total_ops / (total_pj * 1e-12) / 1e9``
        (GOPS/W = ops per nJ); ``None`` if the energy is zero."""
        if self.total_pj == 0:
            return None
        return self.total_ops / (self.total_pj * 1e-12) / 1e9

    @property
    def power_w(self):
        """Average modelled power, ``per_step_pj * 1e-12 / seconds_per_step``, or None."""
        if self.seconds_per_step is None:
            return None
        return self.per_step_pj * 1e-12 / self.seconds_per_step

    @property
    def gops(self):
        """Throughput ``ops_per_step / seconds_per_step / 1e9``, or None."""
        if self.seconds_per_step is None:
            return None
        return self.ops_per_step / self.seconds_per_step / 1e9

    def to_dict(self):
        """A JSON-able dict; every energy figure is labelled modelled."""
        total = self.total_pj
        return {
            "kind": "modelled",
            "model": "action counts x per-action energies at 45 nm (rpu.energy)",
            "steps": self.steps,
            "ops_per_step": self.ops_per_step,
            "seconds_per_step": self.seconds_per_step,
            "action_counts": {a: self.action_counts[a] for a in ACTIONS
                              if a in self.action_counts},
            "energy_per_action_pj": {a: self.energies_pj[a] for a in ACTIONS
                                     if a in self.energies_pj},
            "energy_sources": {a: ACTION_SOURCES[a] for a in ACTIONS},
            "breakdown_pj_modelled": self.breakdown_pj,
            "breakdown_fraction_modelled": {a: (e / total if total else 0.0)
                                            for a, e in self.breakdown_pj.items()},
            "total_pj_modelled": total,
            "per_step_pj_modelled": self.per_step_pj,
            "gops_per_watt_modelled": self.gops_per_watt,
            "power_w_modelled": self.power_w,
            "gops": self.gops,
        }

    def to_markdown(self):
        """A Markdown summary: the breakdown table and the totals, labelled modelled."""
        total = self.total_pj
        lines = ["Energy (modelled: action counts x per-action energies at 45 nm, "
                 "Horowitz ISSCC 2014 and derived; no leakage, clock tree or control)", "",
                 "| action | count | pJ each | pJ total | share |",
                 "|---|---:|---:|---:|---:|"]
        for a, e in self.breakdown_pj.items():
            share = e / total if total else 0.0
            lines.append(f"| {a} | {self.action_counts[a]:,} | {self.energies_pj[a]:.4g} "
                         f"| {e:,.4g} | {share:.1%} |")
        lines.append(f"| **total** | | | **{total:,.4g}** | |")
        lines.append("")
        lines.append(f"- steps: {self.steps}; ops per step: {self.ops_per_step:,}")
        lines.append(f"- energy per step (modelled): {self.per_step_pj:,.4g} pJ")
        gw = self.gops_per_watt
        lines.append("- efficiency (modelled): "
                     + (f"{gw:,.1f} GOPS/W" if gw is not None else "n/a (zero energy)"))
        if self.seconds_per_step is not None:
            lines.append(f"- throughput: {self.gops:,.3g} GOPS at "
                         f"{self.seconds_per_step:.4g} s per step")
            lines.append(f"- average power (modelled): {self.power_w * 1e3:,.4g} mW")
        return "\n".join(lines) + "\n"


def energy_report(action_counts, *, steps, ops_per_step, seconds_per_step=None,
                  energies=None):
    """Price counted actions with the per-action energies.

    Parameters
    ----------
    action_counts : mapping of str to int
        Count of each action over the run; names from :data:`ACTIONS` (a missing action
        counts zero).
    steps : int
        LSTM steps in the run.
    ops_per_step : int
        Operations per step.
    seconds_per_step : float, optional
        Time per step, for the average power and throughput.
    energies : mapping of str to float, optional
        Per-action energies (pJ) that replace those of :data:`ACTION_ENERGY_PJ`, e.g. a
        weight-read energy scaled to the real weight-memory size.

    Returns
    -------
    EnergyReport

    Raises
    ------
    ValueError
        On an unknown action name (the message names it), a negative or non-integer
        count, or a non-positive ``steps`` or ``ops_per_step``.
    """
    table = dict(ACTION_ENERGY_PJ)
    if energies is not None:
        for name in energies:
            if name not in ACTION_ENERGY_PJ:
                raise ValueError(f"unknown action {name!r} in energies; the actions are "
                                 f"{', '.join(ACTIONS)}")
        table.update(energies)
    return EnergyReport(action_counts=dict(action_counts), energies_pj=table, steps=steps,
                        ops_per_step=ops_per_step, seconds_per_step=seconds_per_step)
