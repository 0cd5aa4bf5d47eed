"""A FIFO whose storage has an output register, for the host link's x and h FIFOs.

Amaranth's :class:`~amaranth.lib.fifo.SyncFIFOBuffered` keeps its words in a memory that
Yosys maps to block RAM without the block's output register: its head leaves the block 5.8 ns
after the clock edge on the ECP5, and the register that takes it is placed where its
consumer is, however many registers follow. Measured on S at 100 MHz (ULX3S 85F, seed 2),
the host link's FIFOs were then the critical paths: the h FIFO's head, 10.3 ns (5.8 ns of
clock-to-out, 4.1 ns of routing), and the x FIFO's into a stream buffer placed beside the
RPU's, 11.0 ns. :class:`RegisteredFIFO` keeps its words in :class:`pim.sram.SRAM` s with
``output_register``, which the ECP5 platform maps to block RAMs with their own output
registers (:mod:`rpu.fpga.bram`); its reads are pipelined into a queue of registers, so
that it gives a word per cycle, as the RPU takes x words in its input columns.
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer
from pim.sram import SRAM


__all__ = ["RegisteredFIFO", "READ_CYCLES", "QUEUE_DEPTH"]

#: Cycles from the read of a word to the cycle in which it can be the head (``r_rdy``): the
#: RAM's read, its output register, the queue's register.
READ_CYCLES = 3

#: Words of the queue of registers behind the RAMs: the reads in flight (``READ_CYCLES - 1``)
#: and enough more that a word can be read in every cycle while one is taken in every cycle.
QUEUE_DEPTH = 4


class RegisteredFIFO(wiring.Component):
    """A synchronous first-in first-out queue of ``depth`` words with the ports of
    :class:`~amaranth.lib.fifo.SyncFIFOBuffered`.

    A word is written in a cycle with ``w_en`` and ``w_rdy``; the head ``r_data`` is valid
    while ``r_rdy`` and is taken in a cycle with ``r_en``. Words wait in ``parts`` RAMs of
    ``width / parts`` bits side by side (each with its output register, see
    :class:`pim.sram.SRAM`), at most ``depth - QUEUE_DEPTH`` of them, then in a queue of
    :data:`QUEUE_DEPTH` registers whose first is the head. A word is read from the RAMs in
    every cycle in which they hold one and the reads in flight and the queue hold fewer than
    :data:`QUEUE_DEPTH` words; it reaches the queue :data:`READ_CYCLES` cycles later. A
    word written into empty RAMs is the head 4 cycles later; from then on, one word per
    cycle flows through.

    Parameters
    ----------
    width : int
        Bits of a word.
    depth : int
        Words the FIFO holds (at least ``QUEUE_DEPTH + 1``).
    parts : int
        RAMs side by side (default 1), each ``width / parts`` bits wide: on an FPGA, as many
        as make each RAM a shape the block RAM's output register takes.

    Attributes
    ----------
    w_data : In(width)
    w_en : In(1)
    w_rdy : Out(1)
        Fewer than ``depth - QUEUE_DEPTH`` words wait in the RAMs.
    r_data : Out(width)
    r_en : In(1)
    r_rdy : Out(1)
    level : Out(range(depth + 1))
        Words held: in the RAMs, in flight and in the queue.
    """

    def __init__(self, *, width, depth, parts=1):
        try:
            self.width = check_integer("width", width, 1)
            self.depth = check_integer("depth", depth, QUEUE_DEPTH + 1)
            self.parts = check_integer("parts", parts, 1, self.width)
            if self.width % self.parts:
                raise ValueError(f"width {self.width} is not a multiple of parts "
                                 f"{self.parts}")
        except ValueError:
            self._MustUse__silence = True
            raise
        super().__init__({
            "w_data": In(self.width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(self.width), "r_en": In(1), "r_rdy": Out(1),
            "level": Out(range(self.depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        inner_depth = self.depth - QUEUE_DEPTH
        part = self.width // self.parts
        memories = []
        for index in range(self.parts):
            memory = SRAM(depth=inner_depth, shape=part, output_register=True)
            m.submodules[f"storage{index}"] = memory
            memories.append(memory)
        produce = Signal(range(inner_depth))
        consume = Signal(range(inner_depth))
        inner = Signal(range(inner_depth + 1))     # words in the RAMs
        in_flight = Signal(READ_CYCLES - 1)         # reads issued 1 and 2 cycles ago
        queue = [Signal(self.width, name=f"queue{index}") for index in range(QUEUE_DEPTH)]
        queued = Signal(range(QUEUE_DEPTH + 1))
        write = self.w_en & self.w_rdy
        flight = sum(in_flight)
        read = (inner != 0) & (queued + flight < QUEUE_DEPTH)
        m.d.comb += self.w_rdy.eq(inner != inner_depth)
        for index, memory in enumerate(memories):
            m.d.comb += [
                memory.wr_addr.eq(produce), memory.wr_en.eq(write),
                memory.wr_data.eq(self.w_data[index * part:(index + 1) * part]),
                memory.rd_addr.eq(consume), memory.rd_en.eq(1),
            ]
        with m.If(write):
            m.d.sync += produce.eq(Mux(produce == inner_depth - 1, 0, produce + 1))
        with m.If(read):
            m.d.sync += consume.eq(Mux(consume == inner_depth - 1, 0, consume + 1))
        m.d.sync += [inner.eq(inner + write - read), in_flight.eq(Cat(read, in_flight))]
        # The queue: the head in queue[0]; a pop shifts it, and the word read
        # READ_CYCLES - 1 cycles ago, leaving the RAMs' output registers now, enters behind
        # the words that stay.
        pop = self.r_en & self.r_rdy
        arrive = in_flight[-1]
        word = Cat(*(memory.rd_data for memory in memories))
        with m.If(pop):
            m.d.sync += [queue[index].eq(queue[index + 1])
                         for index in range(QUEUE_DEPTH - 1)]
        with m.If(arrive):
            with m.Switch(queued - pop):
                for index in range(QUEUE_DEPTH):
                    with m.Case(index):
                        m.d.sync += queue[index].eq(word)
        m.d.sync += queued.eq(queued + arrive - pop)
        m.d.comb += [self.r_data.eq(queue[0]), self.r_rdy.eq(queued != 0),
                     self.level.eq(inner + flight + queued)]
        return m
