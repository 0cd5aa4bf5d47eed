"""The boards the RPU is built for, and the board top: the host link (UART, protocol engine,
RPU; :class:`rpu.fpga.link.HostLink`) wired to a board's serial pins and LEDs.

==============  =====================================  ===========  ==================
``--board``     platform (amaranth-boards)             device       serial port
==============  =====================================  ===========  ==================
ulx3s-85f       ``ULX3S_85F_Platform``                 LFE5U-85F    the on-board FTDI (US1)
ulx3s-45f       ``ULX3S_45F_Platform``                 LFE5U-45F    the on-board FTDI (US1)
ulx3s-25f       ``ULX3S_25F_Platform``                 LFE5U-25F    the on-board FTDI (US1)
ulx3s-12f       ``ULX3S_12F_Platform``                 LFE5U-12F    the on-board FTDI (US1)
orangecrab-85f  ``OrangeCrabR0_2_85FPlatform``         LFE5U-85F    a 3.3 V USB serial adapter
orangecrab-25f  ``OrangeCrabR0_2_25FPlatform``         LFE5U-25F    on header pins 0 (RX), 1 (TX)
==============  =====================================  ===========  ==================

The OrangeCrab's USB port goes straight to the FPGA (no serial bridge), so its link is a UART
on the Feather header: pin ``0`` is the board's RX (connect the adapter's TX), pin ``1`` its
TX. LED 0 (the OrangeCrab's red) shows a run in progress, LED 1 (green) a link error.

The platforms are used as amaranth-boards defines them, except that building needs neither
openFPGALoader (ULX3S) nor dfu-suffix (OrangeCrab): they only program a board or add a DFU
suffix, which ``python -m rpu fpga`` does not do (program the ``.bit`` with
``openFPGALoader -b ulx3s`` or ``dfu-suffix`` + ``dfu-util`` yourself).
"""

from dataclasses import dataclass

from amaranth.build import Attrs, ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, Shape
from amaranth.lib import io
from amaranth_boards.resources import UARTResource
from amaranth_boards.ulx3s import (ULX3S_12F_Platform, ULX3S_25F_Platform, ULX3S_45F_Platform,
                                   ULX3S_85F_Platform)
from amaranth_boards.orangecrab_r0_2 import (OrangeCrabR0_2_25FPlatform,
                                             OrangeCrabR0_2_85FPlatform)
from amaranth.vendor import LatticeECP5Platform

from rpu.config import RPUConfig
from rpu.fpga import protocol
from rpu.fpga.bram import ECP5RegisteredSRAM, dp16kd_shape
from rpu.fpga.clock import PLLClock
from rpu.fpga.dsp import ECP5RegisteredProduct, fits_mult18x18
from rpu.fpga.link import HostLink
from rpu.fpga.uart import divisor_for


__all__ = ["BOARDS", "Board", "BoardTop", "board", "TIMEOUT_SECONDS"]

#: Gap in the byte stream (seconds) that ends a broken frame on a real board: longer than a
#: USB serial bridge's latency between two packets of one frame.
TIMEOUT_SECONDS = 0.05


def _registered_product(platform, product):
    """A :class:`pim.product.RegisteredProduct` on the ECP5: a MULT18X18D with its own output
    register when the operands fit one (:mod:`rpu.fpga.dsp`), else the generic logic."""
    if fits_mult18x18(product):
        return ECP5RegisteredProduct(product)
    return product.elaborate_generic()


def _registered_sram(platform, sram):
    """A :class:`pim.sram.SRAM` with ``output_register`` on the ECP5: DP16KD blocks with their
    own output registers when its shape allows (:mod:`rpu.fpga.bram`), else the generic
    memory and register."""
    if dp16kd_shape(sram.depth, Shape.cast(sram.shape).width) is not None:
        return ECP5RegisteredSRAM(sram)
    return sram.elaborate_generic()


def _buildable(platform_class, *, dfu_suffix=False):
    """``platform_class`` without the programming tools among its required tools (and, for
    the OrangeCrab, without its dfu-suffix step), with the ECP5's registered multipliers
    (``get_registered_product``) and block RAMs with their output registers
    (``get_registered_sram``)."""
    namespace = {
        "required_tools": property(lambda self: list(LatticeECP5Platform.required_tools
                                                     .__get__(self))),
        "get_registered_product": _registered_product,
        "get_registered_sram": _registered_sram,
    }
    if dfu_suffix:
        namespace["command_templates"] = property(
            lambda self: list(LatticeECP5Platform.command_templates.__get__(self)))
    return type(f"Buildable{platform_class.__name__}", (platform_class,), namespace)


@dataclass(frozen=True)
class Board:
    """A board: its platform, and where its UART is."""
    name: str
    platform: type
    device: str
    #: A UART resource to add (None: the platform has one).
    uart: tuple = None

    def make_platform(self):
        platform = self.platform()
        if self.uart is not None:
            rx, tx, connector = self.uart
            platform.add_resources([UARTResource(0, rx=rx, tx=tx, conn=connector,
                                                 attrs=Attrs(IO_TYPE="LVCMOS33"))])
        return platform

    @property
    def clock_hz(self):
        return self.platform().default_clk_frequency


_ORANGECRAB_UART = ("0", "1", ("io", 0))

BOARDS = {board.name: board for board in (
    Board("ulx3s-85f", _buildable(ULX3S_85F_Platform), "LFE5U-85F"),
    Board("ulx3s-45f", _buildable(ULX3S_45F_Platform), "LFE5U-45F"),
    Board("ulx3s-25f", _buildable(ULX3S_25F_Platform), "LFE5U-25F"),
    Board("ulx3s-12f", _buildable(ULX3S_12F_Platform), "LFE5U-12F"),
    Board("orangecrab-85f", _buildable(OrangeCrabR0_2_85FPlatform, dfu_suffix=True),
          "LFE5U-85F", _ORANGECRAB_UART),
    Board("orangecrab-25f", _buildable(OrangeCrabR0_2_25FPlatform, dfu_suffix=True),
          "LFE5U-25F", _ORANGECRAB_UART),
)}


def board(name):
    """The :class:`Board` called ``name``.

    Raises
    ------
    ValueError
        Naming ``--board`` and the boards there are.
    """
    if name not in BOARDS:
        raise ValueError(f"--board must be one of {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]


class BoardTop(Elaboratable):
    """The host link on a board's clock, UART pins and LEDs.

    Parameters
    ----------
    config : RPUConfig
    baud_rate : int
        The UART's rate (default :data:`rpu.fpga.protocol.DEFAULT_BAUD_RATE`).
    clock_hz : float
        The frequency of the sync domain the link and the RPU run on: the board clock's,
        or with ``pll`` the PLL's output.
    pll : rpu.fpga.clock.PLLParameters or None
        Run on a PLL's output (:class:`rpu.fpga.clock.PLLClock`) instead of the board clock.
    """

    def __init__(self, *, config, clock_hz, baud_rate=protocol.DEFAULT_BAUD_RATE,
                 max_payload=protocol.DEFAULT_MAX_PAYLOAD,
                 fifo_depth=protocol.DEFAULT_FIFO_DEPTH, pll=None):
        if not isinstance(config, RPUConfig):
            raise TypeError(f"config must be an RPUConfig, not {config!r}")
        if pll is not None and pll.output_hz != clock_hz:
            self._MustUse__silence = True
            raise ValueError(f"clock_hz {clock_hz} is not the PLL's output {pll.output_hz}")
        self.config = config
        self.pll = pll
        self.divisor = divisor_for(clock_hz, baud_rate)
        self.link = HostLink(config=config, divisor=self.divisor, max_payload=max_payload,
                             fifo_depth=fifo_depth,
                             timeout_cycles=max(int(TIMEOUT_SECONDS * clock_hz),
                                                40 * self.divisor))

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            m.submodules.clock = clock = PLLClock(self.pll)
            m.domains.sync = ClockDomain("sync", reset_less=True)
            m.d.comb += ClockSignal("sync").eq(clock.clk)
        m.submodules.link = link = self.link
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx.i), tx.o.eq(link.tx)]
        try:
            leds = [platform.request("led", index, dir="-") for index in range(2)]
        except ResourceError:           # the OrangeCrab: one RGB LED
            rgb = platform.request("rgb_led", 0, dir="-")
            leds = [rgb.r, rgb.g]
        for index, (port, signal) in enumerate(zip(leds, (link.busy, link.error))):
            m.submodules[f"led{index}"] = led = io.Buffer("o", port)
            m.d.comb += led.o.eq(signal)
        return m
