"""The RPU's clock on an ECP5 board: the board's oscillator itself, or a faster clock that an
ECP5 PLL (``EHXPLLL``) synthesizes from it.

:func:`pll_parameters` chooses the PLL's dividers for a requested frequency (the one nearest
to it, within the ranges of the ECP5 family data sheet, Lattice FPGA-DS-02012, table
"sysCLOCK PLL Timing"); :class:`PLLClock` makes the PLL's output clock and holds the
design in reset until the PLL has locked, as Amaranth's own default domain on Lattice does on
the board clock (a two-flip-flop synchronizer into the SGSR global reset); the board top
(:class:`rpu.fpga.boards.BoardTop`) defines the reset-less ``sync`` domain on it.

nextpnr derives the PLL output's clock constraint from the board clock's (the platform's
``FREQUENCY PORT`` constraint) and the dividers ("Derived frequency constraint of ... MHz" in
its log), so that its timing-driven placement and its report are for the clock the RPU
actually runs at. The ``FREQUENCY_PIN_CLKI``/``FREQUENCY_PIN_CLKOP`` attributes on the
instance are those Lattice's own tools write.
"""

from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Instance, Module, Signal
from amaranth.lib import io


__all__ = ["PLLParameters", "pll_parameters", "PLLClock", "OUTPUT_HZ"]

#: Ranges of the EHXPLLL (ECP5 data sheet, sysCLOCK PLL timing): the phase detector's input
#: (the input clock over CLKI_DIV), the VCO and the CLKOP output.
PFD_HZ = (3.125e6, 400e6)
VCO_HZ = (400e6, 800e6)
VCO_MIDDLE_HZ = sum(VCO_HZ) / 2
OUTPUT_HZ = (3.125e6, 400e6)
#: Ranges of the dividers (the EHXPLLL's parameters).
CLKI_DIVS = range(1, 129)
CLKFB_DIVS = range(1, 81)
CLKOP_DIVS = range(1, 129)


@dataclass(frozen=True)
class PLLParameters:
    """The dividers of an EHXPLLL whose CLKOP feeds back (``FEEDBK_PATH="CLKOP"``):
    ``output_hz = input_hz / clki_div * clkfb_div``, ``vco_hz = output_hz * clkop_div``."""
    input_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def output_hz(self):
        return self.input_hz / self.clki_div * self.clkfb_div

    @property
    def vco_hz(self):
        return self.output_hz * self.clkop_div

    def to_dict(self):
        return {"input_mhz": self.input_hz / 1e6, "output_mhz": self.output_hz / 1e6,
                "vco_mhz": self.vco_hz / 1e6, "clki_div": self.clki_div,
                "clkfb_div": self.clkfb_div, "clkop_div": self.clkop_div}


def pll_parameters(input_hz, output_hz):
    """The EHXPLLL dividers whose output is nearest to ``output_hz`` from ``input_hz``.

    Among equally near outputs, the one with the highest phase detector frequency (the
    smallest CLKI_DIV, less jitter), then the VCO nearest to the middle of its range.

    Raises
    ------
    ValueError
        ``output_hz`` is outside the PLL's output range (naming ``clock_hz`` and the range).
    """
    low, high = OUTPUT_HZ
    if not low <= output_hz <= high:
        raise ValueError(f"clock_hz must be between {low / 1e6:g} and {high / 1e6:g} MHz for "
                         f"the ECP5's PLL, not {output_hz / 1e6:g} MHz")
    best = None
    for clki_div in CLKI_DIVS:
        pfd = input_hz / clki_div
        if not PFD_HZ[0] <= pfd <= PFD_HZ[1]:
            continue
        for clkfb_div in CLKFB_DIVS:
            out = pfd * clkfb_div
            for clkop_div in CLKOP_DIVS:
                if not VCO_HZ[0] <= out * clkop_div <= VCO_HZ[1]:
                    continue
                key = (abs(out - output_hz), clki_div, abs(out * clkop_div - VCO_MIDDLE_HZ))
                if best is None or key < best[0]:
                    best = (key, PLLParameters(input_hz, clki_div, clkfb_div, clkop_div))
    if best is None:
        raise ValueError(f"no PLL setting reaches {output_hz / 1e6:g} MHz from a "
                         f"{input_hz / 1e6:g} MHz clock")
    return best[1]


class PLLClock(Elaboratable):
    """An EHXPLLL's output clock, from the platform's default clock, and the global reset
    held until it has locked.

    The parent defines the ``sync`` domain on ``clk``, reset-less (the global reset sets every
    flip-flop to its initial value), as Amaranth's default domain on Lattice is.

    Parameters
    ----------
    parameters : PLLParameters
        The PLL's dividers (:func:`pll_parameters`).

    Attributes
    ----------
    clk : Signal
        The PLL's output.
    """

    def __init__(self, parameters):
        if not isinstance(parameters, PLLParameters):
            raise TypeError(f"parameters must be PLLParameters, not {parameters!r}")
        self.parameters = parameters
        self.clk = Signal()

    def elaborate(self, platform):
        p = self.parameters
        m = Module()
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(platform.default_clk,
                                                                          dir="-"))
        clk = self.clk
        lock = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{p.input_hz / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{p.output_hz / 1e6:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=p.clki_div, p_CLKFB_DIV=p.clkfb_div, p_FEEDBK_PATH="CLKOP",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
            # Zero phase: the coarse phase counter one VCO period short of the divider.
            p_CLKOP_CPHASE=p.clkop_div - 1, p_CLKOP_FPHASE=0,
            i_CLKI=clk_buf.i, i_CLKFB=clk, o_CLKOP=clk, o_LOCK=lock,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
            i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0)
        # Every flip-flop of the design held in its initial state (the global reset, as
        # Amaranth's default domain on Lattice does) until the PLL has locked, released
        # synchronously to the PLL's clock.
        locked = [Signal(name=f"locked{i}") for i in range(2)]
        m.submodules += [
            Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=lock, o_Q=locked[0]),
            Instance("FD1S3AX", p_GSR="DISABLED", i_CK=clk, i_D=locked[0], o_Q=locked[1]),
            Instance("SGSR", i_CLK=clk, i_GSR=locked[1]),
        ]
        return m
