"""An 8N1 UART: a receiver and a transmitter, ``divisor`` clock cycles per bit.

``divisor`` is the clock frequency over the baud rate (:func:`divisor_for`); the receiver
samples each bit in its middle, so it needs ``divisor >= 4``.
"""

from amaranth.hdl import Module, Signal, Cat, Const
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer


__all__ = ["UARTReceiver", "UARTTransmitter", "divisor_for", "MIN_DIVISOR", "rx_layout"]

#: Fewest clock cycles per bit the receiver works with.
MIN_DIVISOR = 4
#: Largest divisor (a 24-bit bit counter).
MAX_DIVISOR = (1 << 24) - 1


def divisor_for(clock_hz, baud_rate):
    """Clock cycles per bit for ``baud_rate`` at ``clock_hz``; the baud rate must be met
    within 2 % (a UART's usual tolerance budget).

    Raises
    ------
    ValueError
        Naming ``baud_rate``.
    """
    check_integer("baud_rate", baud_rate, 1, 1 << 30, error=ValueError)
    divisor = round(clock_hz / baud_rate)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud_rate {baud_rate} is too high for a {clock_hz / 1e6:g} MHz "
                         f"clock: at most {int(clock_hz // MIN_DIVISOR)}")
    if divisor > MAX_DIVISOR:
        raise ValueError(f"baud_rate {baud_rate} is too low for a {clock_hz / 1e6:g} MHz clock")
    actual = clock_hz / divisor
    if abs(actual - baud_rate) > 0.02 * baud_rate:
        raise ValueError(f"baud_rate {baud_rate}: the nearest rate of a {clock_hz / 1e6:g} MHz "
                         f"clock is {actual:.0f} (more than 2 % off)")
    return divisor


def rx_layout():
    """Payload of the receiver's stream: the byte, whether its stop bit was low, whether
    bytes were lost before it (the previous one was not taken in time)."""
    return data.StructLayout({"data": 8, "framing_error": 1, "overrun": 1})


def _check_divisor(component, divisor):
    try:
        check_integer("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR, error=ValueError)
    except ValueError:
        # A component that failed to construct cannot be used; don't let Amaranth warn
        # that it was "created but never used" on top of the error.
        component._MustUse__silence = True
        raise


class UARTReceiver(wiring.Component):
    """8N1 receiver.

    Ports: ``rx`` (in, the line, idle high; synchronised here), ``bytes`` (stream out; a byte
    waits in a one-byte register until taken, and a byte completed while it waits replaces
    it, with ``overrun`` set), ``active`` (out: a byte is being received).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (>= 4).
    """

    def __init__(self, *, divisor):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "bytes": Out(stream.Signature(rx_layout())),
                          "active": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        line = Signal(2, init=0b11)
        m.d.sync += line.eq(Cat(self.rx, line[0]))
        rx = line[1]
        timer = Signal(range(d + d // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.comb += self.active.eq(timer != 0)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Middle of the first data bit: 1.5 bit periods from the falling edge.
                    m.d.sync += [timer.eq(d + d // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bit.eq(bit + 1),
                                 timer.eq(d - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [
                        self.bytes.valid.eq(1),
                        self.bytes.payload.data.eq(shift),
                        self.bytes.payload.framing_error.eq(~rx),
                        self.bytes.payload.overrun.eq(self.bytes.valid & ~self.bytes.ready),
                    ]
                    # A low stop bit: wait for the line to go idle before the next start.
                    m.next = "IDLE"
                    with m.If(~rx):
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """8N1 transmitter.

    Ports: ``bytes`` (stream in), ``tx`` (out, the line, idle high), ``active`` (out: a byte
    is being sent).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (>= 4).
    """

    def __init__(self, *, divisor):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__({"bytes": In(stream.Signature(8)), "tx": Out(1, init=1),
                          "active": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        shift = Signal(10, init=0x3FF)      # stop bit, data (LSB first), start bit
        bits = Signal(range(11))
        timer = Signal(range(d))
        m.d.comb += [self.tx.eq(shift[0]), self.active.eq(bits != 0),
                     self.bytes.ready.eq(bits == 0)]
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [shift.eq(Cat(Const(0, 1), self.bytes.payload, Const(1, 1))),
                         bits.eq(10), timer.eq(d - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), bits.eq(bits - 1),
                             timer.eq(d - 1)]
        return m
