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

The RPU's data are 16-bit, so 16-bit values are derived by stated scaling:

* **adder**: energy linear in width (the 8 and 32-bit points are about 3.1 to 3.75 fJ per
  bit): interpolated linearly between the two points, ``add(16) = 0.03 + (0.1 - 0.03) *
  8 / 24 = 0.0533 pJ``; wider adders extrapolate on the same line from 32 bit.
* **multiplier**: energy about quadratic in width (3.1 / 0.2 = 15.5 for 4x the width):
  the power law through both points, ``mult(16) = sqrt(0.2 * 3.1) = 0.787 pJ``.
* **SRAM read**: energy proportional to the bits read and to the square root of the
  capacity (bit-line and word-line length), which fits the three points within 15 %:
  ``E = 10 pJ * (bits / 64) * sqrt(capacity / 8 KB)`` (:func:`sram_access_energy_pj`).
  Writes are taken equal to reads.

Two actions are not in Horowitz's table and are derived otherwise (see each entry):
on-chip wires, from S. W. Keckler, W. J. Dally, B. Khailany, M. Garland, D. Glasco,
"GPUs and the future of parallel computing", IEEE Micro 31(5), 2011 (about 0.1 pJ per
bit per mm at 40 nm), and pipeline registers, from ``E = C V^2``.

What is not modelled: leakage, the clock tree, control logic, off-chip I/O. Weight
memories of the large configurations are bigger than 8 KB; a caller that knows the size
can pass a size-scaled ``weight_read`` energy (``energies=`` of :func:`energy_report`,
computed with :func:`sram_access_energy_pj`).
"""

import math
from dataclasses import dataclass, field


__all__ = [
    "ACTIONS", "ACTION_ENERGY_PJ", "ACTION_SOURCES", "HOROWITZ_2014_PJ",
    "int_add_energy_pj", "int_mult_energy_pj", "sram_access_energy_pj",
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
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, not {bits!r}")
    a8, a32 = HOROWITZ_2014_PJ["int_add_8"], HOROWITZ_2014_PJ["int_add_32"]
    return max(0.0, a8 + (a32 - a8) * (bits - 8) / 24)


def int_mult_energy_pj(bits):
    """Energy of a ``bits`` x ``bits`` integer multiply, pJ (power law through Horowitz's
    8 and 32-bit points, exponent ``log(15.5) / log(4)``, about 1.98).

    Parameters
    ----------
    bits : int
        Operand width (>= 1).

    Returns
    -------
    float
    """
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, not {bits!r}")
    m8, m32 = HOROWITZ_2014_PJ["int_mult_8"], HOROWITZ_2014_PJ["int_mult_32"]
    exponent = math.log(m32 / m8) / math.log(4)
    return m8 * (bits / 8) ** exponent


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
    if not isinstance(word_bits, int) or word_bits < 1:
        raise ValueError(f"word_bits must be a positive integer, not {word_bits!r}")
    return (HOROWITZ_2014_PJ["sram_read_64b_8KB"] * (word_bits / 64)
            * math.sqrt(capacity_bytes / 8192))


_ADD16 = int_add_energy_pj(16)
_MULT16 = int_mult_energy_pj(16)

#: The action names, in report order.
ACTIONS = ("mac", "weight_read", "state_read", "state_write", "activation",
           "elementwise", "interconnect_transfer", "register_update")

#: Energy of each action at 45 nm, pJ (modelled).
ACTION_ENERGY_PJ = {
    # 16 x 16 multiply plus a 40-bit accumulate (the accumulator is wide enough that the
    # MVM cannot overflow; 40 bits by the linear adder rule).
    "mac": _MULT16 + int_add_energy_pj(40),
    # One 16-bit word of an 8 KB lane weight SRAM.
    "weight_read": sram_access_energy_pj(8192, 16),
    # One 16-bit word of a 2 KB h/c/x state memory (1024 words, the L configuration).
    "state_read": sram_access_energy_pj(2048, 16),
    "state_write": sram_access_energy_pj(2048, 16),
    # One sigmoid/tanh: a 32-bit entry (slope and offset) of a 512-byte table, then a
    # 16-bit multiply and a 16-bit add (interpolation).
    "activation": sram_access_energy_pj(512, 32) + _MULT16 + _ADD16,
    # a*b + c*d: two 16-bit multiplies and a 32-bit add of the products.
    "elementwise": 2 * _MULT16 + int_add_energy_pj(32),
    # 16 bits over INTERCONNECT_DISTANCE_MM of on-chip wire.
    "interconnect_transfer": 16 * WIRE_PJ_PER_BIT_MM * INTERCONNECT_DISTANCE_MM,
    # 16 flip-flop updates.
    "register_update": 16 * FLIPFLOP_UPDATE_PJ,
}

#: Where each entry of :data:`ACTION_ENERGY_PJ` comes from.
ACTION_SOURCES = {
    "mac": "Horowitz ISSCC 2014 (45 nm): 16-bit mult = sqrt(0.2 * 3.1) pJ (power law "
           "between the 8 and 32-bit mults) + 40-bit add by linear scaling of the 8/32-bit "
           "adds",
    "weight_read": "Horowitz ISSCC 2014: 8 KB SRAM 64-bit read 10 pJ, scaled to 16 bits "
                   "(x 16/64)",
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
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
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
        Operations per step (DESIGN.md section 3: ``8H(I+H) + 13H``).
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
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
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
