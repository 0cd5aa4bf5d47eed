"""A two-entry stream buffer whose ``ready`` and ``valid`` come from a register."""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out


__all__ = ["StreamBuffer", "DEPTH"]

#: Words a :class:`StreamBuffer` holds.
DEPTH = 2


class StreamBuffer(wiring.Component):
    """Two words of buffering between a stream's producer and its consumer.

    The point is timing: ``w.ready`` and ``r.valid`` are decoded from the buffer's
    registered fill level alone (``level != 2``, ``level != 0``), never from the other side's
    ``valid`` or ``ready``, so that a stall decided by the RPU's run enable does not run
    through the stream's other end, and the run enable is a function of registers. The
    words are held in flip-flops (not a memory, which synthesis would price as an SRAM
    macro).

    A word written in cycle t can be read from cycle t + 1. One word per cycle flows
    through at full rate: a full buffer refuses a write, but a read leaves it with one word,
    and from then on a write and a read in the same cycle keep it there.

    Parameters
    ----------
    shape : shape-like
        Shape of a word (of the payload of both streams).

    Attributes
    ----------
    w : In(stream.Signature(shape))
        Words in; ``w.ready`` is ``level != DEPTH``.
    r : Out(stream.Signature(shape))
        Words out, oldest first; ``r.valid`` is ``level != 0``.
    level : Out(range(DEPTH + 1))
        Words held.
    level_next : Out(range(DEPTH + 1))
        Words held in the next cycle (the input of ``level``'s register).
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({
            "w": In(stream.Signature(shape)),
            "r": Out(stream.Signature(shape)),
            "level": Out(range(DEPTH + 1)),
            "level_next": Out(range(DEPTH + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        second = Signal(self._shape, name="second")
        write = self.w.valid & self.w.ready
        read = self.r.valid & self.r.ready
        m.d.comb += [
            self.w.ready.eq(self.level != DEPTH),
            self.r.valid.eq(self.level != 0),
        ]
        with m.If(read):
            # The head moves on: to the second word, or to the word written now (a write in
            # the cycle of a read only happens with one word held).
            m.d.sync += self.r.payload.eq(Mux(self.level == DEPTH, second, self.w.payload))
        with m.Elif(write & (self.level == 0)):
            m.d.sync += self.r.payload.eq(self.w.payload)
        with m.If(write & (self.level == 1) & ~read):
            m.d.sync += second.eq(self.w.payload)
        m.d.comb += self.level_next.eq(self.level + write - read)
        m.d.sync += self.level.eq(self.level_next)
        return m
