"""The host link: a UART, the protocol engine of :mod:`rpu.fpga.protocol`, and the RPU it
drives, as one component with a serial line in and out.

:class:`HostLink` receives a frame into a payload buffer (a block RAM of ``max_payload``
bytes) while computing its CRC, checks it, and only then carries it out: it writes the
buffered words into the RPU's ``program``, ``weights`` or ``state`` stream or into the x FIFO,
starts a run, or answers with the board's information, its counters, or the (h, c) pairs of
the h FIFO. The RPU takes x from the x FIFO and puts (h, c) into the h FIFO on its own, so a
run proceeds while frames come and go.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer
from rpu.config import RPUConfig
from rpu.hw.top import RPU, ACTIVITY_COUNTERS
from rpu.fpga import protocol
from rpu.fpga.fifo import RegisteredFIFO
from rpu.fpga.onehot import OneHotFSM
from rpu.fpga.protocol import Command, Error, SYNC, CRC_INIT
from rpu.fpga.uart import UARTReceiver, UARTTransmitter


__all__ = ["HostLink", "crc16_next", "info_payload", "DEFAULT_TIMEOUT_BITS"]

#: Default gap (in bit periods) that ends a broken frame.
DEFAULT_TIMEOUT_BITS = 40


def crc16_next(crc, byte):
    """The XOR network of :func:`rpu.fpga.protocol.crc16_update` for Amaranth values."""
    bits = []
    for crc_bits, byte_bits in protocol.crc16_taps():
        term = Const(0, 1)
        for k in crc_bits:
            term = term ^ crc[k]
        for k in byte_bits:
            term = term ^ byte[k]
        bits.append(term)
    return Cat(*bits)


def info_payload(config, *, max_payload, fifo_depth):
    """The PING response payload (:data:`rpu.fpga.protocol.INFO_FIELDS`) of a link."""
    return protocol.pack_fields(protocol.INFO_FIELDS, {
        "version": protocol.PROTOCOL_VERSION, "config_id": protocol.config_id(config),
        "max_payload": max_payload, "x_depth": fifo_depth, "h_depth": fifo_depth,
        **{f"{name}_bytes": protocol.word_bytes(config, name)
           for name in ("program", "weights", "state", "x", "h")}})


def _field(value, nbits):
    """``value`` as exactly ``nbits`` unsigned bits."""
    value = value.as_unsigned() if hasattr(value, "as_unsigned") else value.as_value()
    if len(value) >= nbits:
        return value[:nbits]
    return Cat(value, Const(0, nbits - len(value)))


def _times(value, constant):
    """``value * constant`` as a sum of shifts: Yosys would map a product by a constant that
    is not a power of two to a DSP block, which the RPU's MACs need."""
    terms = [value << k for k in range(constant.bit_length()) if constant >> k & 1]
    return sum(terms[1:], terms[0])


def _kept_level(m, queue, reset, *, init, per_push):
    """A register that starts at ``init`` (again when ``reset``) and moves by ``per_push``
    with each push into ``queue`` (a :class:`~rpu.fpga.fifo.RegisteredFIFO`) and against it
    with each pop. The FIFO's level moves by exactly the pushes less the pops of
    the cycle before, so the register is ``init + per_push * queue.level`` in every cycle."""
    value = Signal(range(queue.depth + 1), init=init)
    pushed = queue.w_en & queue.w_rdy
    popped = queue.r_en & queue.r_rdy
    with m.If(reset):
        m.d.sync += value.eq(init)
    with m.Elif(pushed & ~popped):
        m.d.sync += value.eq(value + per_push)
    with m.Elif(popped & ~pushed):
        m.d.sync += value.eq(value - per_push)
    return value


#: The link's states: receiving a frame, checking and loading it, answering it.
STATES = ("R_SYNC", "R_COMMAND", "R_LENGTH0", "R_LENGTH1", "R_PAYLOAD", "R_CRC0", "R_CRC1",
          "DISCARD", "REPORT", "EXECUTE", "LOAD", "FETCH", "SHIFT", "PUSH",
          "T_SYNC", "T_COMMAND", "T_LENGTH0", "T_LENGTH1", "T_PAYLOAD", "T_CRC0", "T_CRC1")


class _Kind:
    """What a response's payload is."""
    NONE, INFO, STATUS, ERROR, PAIRS = range(5)


class HostLink(wiring.Component):
    """The RPU behind a UART speaking :mod:`rpu.fpga.protocol`.

    Ports: ``rx`` (in, the serial line from the host, idle high), ``tx`` (out, to the host),
    ``busy`` (out, the RPU runs), ``error`` (out, the link has seen an error since reset),
    ``quiescent`` (out: the link waits for a frame and the RPU is idle or waits for the host,
    so nothing changes until the host sends; simulations may sleep then).

    Parameters
    ----------
    config : RPUConfig
    divisor : int
        Clock cycles per bit of the UART (>= 4).
    max_payload : int
        Largest frame payload, bytes (64 to 65535; the payload buffer's size).
    fifo_depth : int
        Words of the x FIFO and pairs of the h FIFO (16 to 65535).
    timeout_cycles : int, optional
        Gap that ends a broken frame (default :data:`DEFAULT_TIMEOUT_BITS` bit periods).
    """

    def __init__(self, *, config, divisor, max_payload=protocol.DEFAULT_MAX_PAYLOAD,
                 fifo_depth=protocol.DEFAULT_FIFO_DEPTH, timeout_cycles=None):
        try:
            if not isinstance(config, RPUConfig):
                raise TypeError(f"config must be an RPUConfig, not {config!r}")
            if config.batch != 1:
                raise ValueError(f"config.batch must be 1: the host link streams one "
                                 f"sequence, not {config.batch}")
            self.divisor = check_integer("divisor", divisor, 4, (1 << 24) - 1)
            self.max_payload = check_integer("max_payload", max_payload, 64, 0xFFFF)
            self.fifo_depth = check_integer("fifo_depth", fifo_depth, 16, 0xFFFF)
            if timeout_cycles is None:
                timeout_cycles = DEFAULT_TIMEOUT_BITS * divisor
            self.timeout_cycles = check_integer("timeout_cycles", timeout_cycles,
                                                20 * divisor, 1 << 30)
        except (TypeError, ValueError):
            self._MustUse__silence = True       # see rpu.hw.activation
            raise
        self.config = config
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1),
                          "error": Out(1), "quiescent": Out(1)})

    def elaborate(self, platform):
        m = Module()
        engine = _Engine(self, m)
        fsm = engine.fsm
        engine.receive()
        engine.execute()
        engine.load()
        engine.transmit()
        fsm.check()
        core = engine.core
        waiting = ~core.busy | core.stalled
        m.d.comb += self.quiescent.eq(fsm.ongoing("R_SYNC") & ~engine.receiver.active
                                      & ~engine.rx.valid & ~engine.transmitter.active
                                      & waiting)
        return m


class _Engine:
    """The protocol engine of one :class:`HostLink`, built into module ``m``: the datapath
    and registers (constructor), then the states of the link's FSM, one method per phase."""

    def __init__(self, link, m):
        self.m = m
        # One-hot (rpu.fpga.onehot): each state's decoding is a flip-flop, and each state's
        # next value depends only on the transitions into and out of it (S on the ULX3S, with
        # Amaranth's encoded FSM: 98.1 MHz at nextpnr seed 2, the received command through
        # EXECUTE's checks into the encoded state's next value).
        self.fsm = OneHotFSM(m, STATES, init="R_SYNC", name="link")
        config = link.config
        self.max_payload, self.timeout_cycles = link.max_payload, link.timeout_cycles
        self.sizes = {name: protocol.word_bytes(config, name)
                      for name in ("program", "weights", "state", "x", "h")}
        self.start_bytes = protocol.fields_size(protocol.START_FIELDS)
        self.word_bytes = max(*self.sizes.values(), self.start_bytes)
        self.max_pairs = protocol.max_pairs(config, link.max_payload)
        self._datapath(link)
        self._registers(link)
        self._targets()
        self._payload_byte(link)

    def _datapath(self, link):
        """The UART, the RPU and its FIFOs (reset by RESET), the payload buffer."""
        m, config = self.m, link.config
        m.submodules.receiver = self.receiver = UARTReceiver(divisor=link.divisor)
        m.submodules.transmitter = self.transmitter = UARTTransmitter(divisor=link.divisor)
        m.d.comb += [self.receiver.rx.eq(link.rx), link.tx.eq(self.transmitter.tx)]
        self.rx, self.tx = self.receiver.bytes, self.transmitter.bytes
        # RESET and START act one cycle after the FSM decides them, from registers: both reach
        # hundreds of the RPU's flip-flops (the reset every one, a start the status counters),
        # and the FSM's frame checks must not be in front of those nets.
        self.reset, self.reset_request = Signal(), Signal()
        self.start_request = Signal()
        m.d.sync += self.reset.eq(self.reset_request)
        # Whole products: each MAC is one MULT18X18D (a split product would take two).
        self.core = core = RPU(config=config, split_products=False)
        self.x_fifo = x_fifo = RegisteredFIFO(width=config.data_width,
                                              depth=link.fifo_depth)
        # Both FIFOs keep their words in RAMs with output registers (block RAMs with theirs
        # on the ECP5; see rpu.fpga.fifo), the h FIFO's (h and c) in two side by side: their
        # heads then leave flip-flops beside the block RAMs (S on the ULX3S at 91.2 and 97.6
        # MHz: the x and h FIFOs' block RAMs, 5.8 ns of clock-to-out, then about 4 ns of
        # routing to the registers that took their heads).
        self.h_fifo = h_fifo = RegisteredFIFO(width=2 * config.data_width,
                                              depth=link.fifo_depth, parts=2)
        m.submodules.rpu = ResetInserter(self.reset)(core)
        m.d.sync += core.start.eq(self.start_request)
        # The RPU's busy, registered for EXECUTE's check: busy's logic (an OR of registers
        # across the RPU) is then not in front of the FSM's decisions (S's critical path on
        # the ULX3S at 95.2 MHz: the FSM's next state through 8.4 ns of routing). A run
        # starts two cycles after START's words are pushed, and the next frame's EXECUTE
        # comes a whole frame of characters later.
        self.core_busy = Signal()
        m.d.sync += self.core_busy.eq(core.busy)
        m.submodules.x_fifo = ResetInserter(self.reset)(x_fifo)
        m.submodules.h_fifo = ResetInserter(self.reset)(h_fifo)
        # Counters kept beside the FIFOs, equal in every cycle to the h FIFO's level and the x
        # FIFO's room (depth - level): registers, where the FIFOs' levels are sums (the x
        # room's subtraction and the STREAM frame's size check behind it were S's critical
        # path). A response's room and pairs include every push of the cycle before.
        self.h_level = _kept_level(m, h_fifo, self.reset, init=0, per_push=1)
        self.x_room = _kept_level(m, x_fifo, self.reset, init=link.fifo_depth, per_push=-1)
        # The RPU's h.ready decides its global run enable, which reaches every register of
        # the RPU: it is a register here, not the FIFO's level compare. A pair is pushed at
        # most once per cycle, so a level of at most depth - 3 in the previous cycle leaves
        # a level of at most depth - 2 in this one. The h FIFO takes a word while its RAMs hold
        # fewer than depth - QUEUE_DEPTH, which that level leaves unless two pairs were taken
        # in two consecutive cycles (the reads in flight and the queue then hold fewer than
        # three): the transmitter takes one pair per 4 characters.
        h_room = Signal()
        m.d.sync += h_room.eq(self.h_level <= link.fifo_depth - 3)
        m.d.comb += [
            core.x.valid.eq(x_fifo.r_rdy), core.x.payload.eq(x_fifo.r_data),
            x_fifo.r_en.eq(core.x.ready),
            h_fifo.w_en.eq(core.h.valid & h_room),
            h_fifo.w_data.eq(core.h.payload.as_value()),
            core.h.ready.eq(h_room),
            link.busy.eq(core.busy),
        ]
        m.submodules.buffer = buffer = Memory(shape=8, depth=link.max_payload, init=[])
        write, self.read = buffer.write_port(), buffer.read_port()
        # The buffer's ports are driven from registers, not from the FSM's decoding: its
        # block RAM may be placed far from the link's logic. A payload byte is written a
        # cycle after it is received (it is read a character later at the soonest); the read
        # address is the pointer in every state, and SHIFT takes the byte FETCH read.
        self.write_en = Signal()
        self.write_addr, self.write_data = Signal.like(write.addr), Signal(8)
        m.d.comb += [write.en.eq(self.write_en), write.addr.eq(self.write_addr),
                     write.data.eq(self.write_data)]
        m.d.sync += self.write_en.eq(0)

    def _registers(self, link):
        m = self.m
        self.command = Signal(8)
        self.length = Signal(16)
        self.count = Signal(16)             # payload bytes received / sent
        self.crc = Signal(16)
        self.crc_low = Signal(8)
        self.idle = Signal(range(link.timeout_cycles + 1))
        self.words = Signal(16)             # whole words received
        self.word_byte = Signal(range(self.word_bytes + 1))
        self.error_code = Signal(8)
        self.error_command = Signal(8)
        self.errors = Signal(32)
        # An error is recorded in the cycle after the FSM decides it, from registers: the
        # error counter's carry chain and enable then do not take the FSM's decisions (the
        # command, the frame checks) in front of them (S's critical path on the ULX3S at
        # 95.2 MHz, seed 3: the received command through seven LUTs into the counter's
        # enable). The command is still the failed frame's then: no state that follows a
        # failure changes it.
        self.failing, self.failing_code = Signal(), Signal(8)
        failed, failed_code = Signal(), Signal(8)
        m.d.sync += [failed.eq(self.failing), failed_code.eq(self.failing_code)]
        with m.If(failed):
            m.d.sync += [self.error_code.eq(failed_code),
                         self.error_command.eq(self.command),
                         self.errors.eq(self.errors + 1)]
        self.word = Signal(8 * self.word_bytes)
        self.done = Signal(16)              # words written
        self.pointer = Signal(range(link.max_payload + 1))
        m.d.comb += self.read.addr.eq(self.pointer)         # see _datapath
        self.response = Signal(8)
        self.response_length = Signal(16)
        self.kind = Signal(range(5))
        self.pair = Signal(2 * link.config.data_width)
        # The h FIFO's head, registered: it is then not in front of the payload byte's
        # multiplexer (the small ULX3S build's critical path, 98.7 MHz, when the head left a
        # block RAM). The head is used 4 bytes after a pop, or for a response's first pair,
        # which was in the FIFO when the response was decided: never a cycle too soon, even
        # after the READ_CYCLES in which the FIFO brings its next word to the head.
        self.head = Signal(2 * link.config.data_width)
        m.d.sync += self.head.eq(self.h_fifo.r_data)
        self.pairs = Signal(range(self.max_pairs + 1))      # pairs a STREAM answer carries
        self.pair_byte = Signal(range(self.sizes["h"]))
        self.status = Signal(8 * protocol.fields_size(protocol.STATUS_FIELDS))
        # A STATUS command's snapshot of the counters, taken in the cycle after EXECUTE asks
        # for it (``snapshot``), from a register: the status register's hundreds of enables
        # then do not share the FSM's decoding, which the placer would otherwise stretch
        # towards the RPU's counters (S on the ULX3S: the FSM's next state through 8.7 ns of
        # routing). The snapshot's bytes are sent a character later at the soonest.
        self.snapshot = Signal()
        take_snapshot = Signal()
        m.d.sync += take_snapshot.eq(self.snapshot)
        core = self.core
        values = {"busy": core.busy, "errors": self.errors, "cycles": core.cycles,
                  "saturations": core.saturations, "x_level": self.x_fifo.level,
                  "h_level": self.h_level,
                  **{name: core.activity[name] for name in ACTIVITY_COUNTERS}}
        with m.If(take_snapshot):
            m.d.sync += self.status.eq(Cat(*(_field(values[name], 8 * n)
                                             for name, n in protocol.STATUS_FIELDS)))
        self.room = Signal(8 * protocol.STREAM_ROOM_BYTES)     # sent before the pairs
        m.d.comb += link.error.eq(self.errors != 0)
        # The index of a frame's last payload byte, received and sent: registers that follow
        # the lengths (set at least a character before the first payload byte), so that no
        # subtraction is in front of the FSM's end-of-payload compare.
        self.last_received, self.last_sent = Signal(16), Signal(16)
        m.d.sync += [self.last_received.eq(self.length - 1),
                     self.last_sent.eq(self.response_length - 1)]
        # A STREAM frame's words exceed the x FIFO's room, registered: EXECUTE sees the room
        # of the cycle before (its frame's words are counted characters earlier). Only the
        # link pushes, so the room can only have grown since; a frame within the room any
        # answer reported always passes.
        self.overflow = Signal()
        m.d.sync += self.overflow.eq(self.words > self.x_room)
        # The index of a word's last byte for the received command (bytes per word less 1),
        # a register that follows the command: the command is received two characters
        # before the first payload byte, so neither its decoder nor a subtraction is in front
        # of the word counter (the small build's critical path, 10.2 ns: the command, the
        # size's decoder, its compare, the FSM, the word counter).
        self.word_last = Signal(range(self.word_bytes))
        size = Signal(range(self.word_bytes + 1))
        m.d.comb += size.eq(1)
        for cmd, name in protocol.STREAM_OF.items():
            with m.If(self.command == cmd):
                m.d.comb += size.eq(self.sizes[name])
        with m.If(self.command == Command.START):
            m.d.comb += size.eq(self.start_bytes)
        m.d.sync += self.word_last.eq(size - 1)
        # Idle gap since the last received byte, and whether it has reached the timeout: a
        # register loaded with what ``idle == timeout_cycles`` will be in the next cycle.
        accepted = self.rx.valid & self.rx.ready
        with m.If(accepted):
            m.d.sync += self.idle.eq(0)
        with m.Elif(self.idle != link.timeout_cycles):
            m.d.sync += self.idle.eq(self.idle + 1)
        self.timed_out = Signal()
        m.d.sync += self.timed_out.eq(~accepted & (self.idle >= link.timeout_cycles - 1))

    def _targets(self):
        """The streams a frame's words go into, by command: the RPU's program, weights and
        state, and the x FIFO's write port. Each is offered the word register, valid from a
        register of its own (set as the word's last byte is shifted in, cleared as the word is
        taken), so that neither the command's decoding nor the link's state is in front of the
        RPU's load logic (S's critical path in a 71.8 MHz build: the command register, its
        decoder, the weights' valid, the arrays' write enables, a weight memory's write
        enable)."""
        m, core, x_fifo = self.m, self.core, self.x_fifo
        self.targets = {}
        ports = {"program": core.program, "weights": core.weights, "state": core.state}
        for cmd, name in protocol.STREAM_OF.items():
            if name == "x":
                valid, ready, payload = x_fifo.w_en, x_fifo.w_rdy, x_fifo.w_data
            else:
                valid, ready, payload = (ports[name].valid, ports[name].ready,
                                         ports[name].payload)
            offered = Signal(name=f"{name}_offered")
            m.d.comb += [valid.eq(offered), payload.eq(self.top_bytes(self.sizes[name]))]
            self.targets[cmd] = (offered, ready)

    def _payload_byte(self, link):
        """The byte of the response payload at ``count``, registered: the byte is chosen a
        cycle before it is sent (the transmitter is busy for a whole character, ten bit
        times, after it takes one), so that neither the h FIFO's block RAM nor the byte
        multiplexer is in front of the CRC and the UART."""
        m = self.m
        info = info_payload(link.config, max_payload=link.max_payload,
                            fifo_depth=link.fifo_depth)
        info_bits = Const(int.from_bytes(info, "little"), 8 * len(info))
        error_bits = Cat(self.error_code, self.error_command, self.errors)
        index = self.count[:8]
        payload = Signal(8)
        self.payload = Signal(8)
        m.d.sync += self.payload.eq(payload)
        with m.Switch(self.kind):
            with m.Case(_Kind.INFO):
                m.d.comb += payload.eq(info_bits.word_select(index, 8))
            with m.Case(_Kind.STATUS):
                m.d.comb += payload.eq(self.status.word_select(index, 8))
            with m.Case(_Kind.ERROR):
                m.d.comb += payload.eq(error_bits.word_select(index, 8))
            with m.Case(_Kind.PAIRS):
                with m.If(self.count < protocol.STREAM_ROOM_BYTES):
                    m.d.comb += payload.eq(self.room.word_select(self.count[:1], 8))
                with m.Elif(self.pair_byte == 0):
                    m.d.comb += payload.eq(self.head[:8])
                with m.Else():
                    m.d.comb += payload.eq(self.pair.word_select(self.pair_byte, 8))

    def top_bytes(self, nbytes):
        """The last ``nbytes`` bytes shifted into ``word`` (a word of ``nbytes`` bytes)."""
        return self.word[8 * (self.word_bytes - nbytes):]

    def fail(self, code, next_state):
        """Record an error (its code, the command, one more in the counter: in the next
        cycle, see ``_registers``)."""
        self.m.d.comb += [self.failing.eq(1), self.failing_code.eq(code)]
        self.fsm.goto(next_state)

    def respond(self, code, nbytes, kind):
        self.m.d.sync += [self.response.eq(code), self.response_length.eq(nbytes),
                          self.kind.eq(kind)]
        self.fsm.goto("T_SYNC")

    # Receive -------------------------------------------------------------------------------

    def _receiving(self, state, action):
        """A receiving state: line errors and timeouts, else ``action(byte)``."""
        m, rx = self.m, self.rx
        with self.fsm.state(state):
            m.d.comb += rx.ready.eq(1)
            with m.If(rx.valid):
                with m.If(rx.payload.framing_error):
                    self.fail(Error.FRAMING, "DISCARD")
                with m.Elif(rx.payload.overrun):
                    self.fail(Error.OVERRUN, "DISCARD")
                with m.Else():
                    action(rx.payload.data)
            if state != "R_SYNC":
                with m.Elif(self.timed_out):
                    self.fail(Error.TIMEOUT, "REPORT")

    def receive(self):
        """SYNC, CMD, LEN, the payload into the buffer, the CRC; a broken frame is discarded
        up to the next gap and answered then."""
        m, crc = self.m, self.crc
        next_crc = crc16_next(crc, self.rx.payload.data)

        def sync_byte(byte):
            with m.If(byte == SYNC):
                m.d.sync += crc.eq(CRC_INIT)
                self.fsm.goto("R_COMMAND")
            with m.Else():
                self.fail(Error.SYNC, "DISCARD")

        def header_byte(target, next_state):
            def action(byte):
                m.d.sync += [target.eq(byte), crc.eq(next_crc)]
                self.fsm.goto(next_state)
            return action

        def length_high(byte):
            length = Cat(self.length[:8], byte)
            m.d.sync += [self.length[8:].eq(byte), crc.eq(next_crc), self.count.eq(0),
                         self.words.eq(0), self.word_byte.eq(0)]
            with m.If(length > self.max_payload):
                self.fail(Error.LENGTH, "DISCARD")
            with m.Elif(length == 0):
                self.fsm.goto("R_CRC0")
            with m.Else():
                self.fsm.goto("R_PAYLOAD")

        def payload_byte(byte):
            m.d.sync += [self.write_en.eq(1), self.write_addr.eq(self.count),
                         self.write_data.eq(byte)]
            m.d.sync += [self.count.eq(self.count + 1), crc.eq(next_crc)]
            with m.If(self.word_byte == self.word_last):
                m.d.sync += [self.word_byte.eq(0), self.words.eq(self.words + 1)]
            with m.Else():
                m.d.sync += self.word_byte.eq(self.word_byte + 1)
            with m.If(self.count == self.last_received):
                self.fsm.goto("R_CRC0")

        def crc_low(byte):
            m.d.sync += self.crc_low.eq(byte)
            self.fsm.goto("R_CRC1")

        def crc_high(byte):
            with m.If(Cat(self.crc_low, byte) == crc):
                self.fsm.goto("EXECUTE")
            with m.Else():
                self.fail(Error.CRC, "DISCARD")

        self._receiving("R_SYNC", sync_byte)
        self._receiving("R_COMMAND", header_byte(self.command, "R_LENGTH0"))
        self._receiving("R_LENGTH0", header_byte(self.length[:8], "R_LENGTH1"))
        self._receiving("R_LENGTH1", length_high)
        self._receiving("R_PAYLOAD", payload_byte)
        self._receiving("R_CRC0", crc_low)
        self._receiving("R_CRC1", crc_high)
        with self.fsm.state("DISCARD"):
            m.d.comb += self.rx.ready.eq(1)
            with m.If(self.timed_out):
                self.fsm.goto("REPORT")
        with self.fsm.state("REPORT"):
            self.respond(protocol.ERROR, protocol.fields_size(protocol.ERROR_FIELDS),
                         _Kind.ERROR)

    # Execute -------------------------------------------------------------------------------

    def execute(self):
        """Check a received frame's command, size and the RPU's state; answer PING, STATUS
        and RESET at once, load the words of the others."""
        m, command = self.m, self.command
        whole = self.word_byte == 0
        with self.fsm.state("EXECUTE"):
            m.d.sync += [self.done.eq(0), self.pointer.eq(0)]
            with m.Switch(command):
                with m.Case(Command.PING, Command.STATUS, Command.RESET):
                    with m.If(self.length != 0):
                        self.fail(Error.SIZE, "REPORT")
                    with m.Elif(command == Command.PING):
                        self.respond(protocol.response_of(Command.PING),
                                     protocol.fields_size(protocol.INFO_FIELDS), _Kind.INFO)
                    with m.Elif(command == Command.STATUS):
                        self._snapshot_status()
                    with m.Else():
                        m.d.comb += self.reset_request.eq(1)
                        self.respond(protocol.response_of(Command.RESET), 0, _Kind.NONE)
                with m.Case(Command.PROGRAM, Command.WEIGHTS, Command.STATE, Command.START):
                    with m.If(~whole | ((command == Command.START)
                                        & (self.length != self.start_bytes))):
                        self.fail(Error.SIZE, "REPORT")
                    with m.Elif(self.core_busy):
                        self.fail(Error.BUSY, "REPORT")
                    with m.Else():
                        self.fsm.goto("LOAD")
                with m.Case(Command.STREAM):
                    with m.If(~whole):
                        self.fail(Error.SIZE, "REPORT")
                    with m.Elif(self.overflow):
                        self.fail(Error.OVERFLOW, "REPORT")
                    with m.Else():
                        self.fsm.goto("LOAD")
                with m.Default():
                    self.fail(Error.COMMAND, "REPORT")

    def _snapshot_status(self):
        self.m.d.comb += self.snapshot.eq(1)
        self.respond(protocol.response_of(Command.STATUS),
                     protocol.fields_size(protocol.STATUS_FIELDS), _Kind.STATUS)

    # Load ----------------------------------------------------------------------------------

    def load(self):
        """The buffered words into their stream (a byte per two cycles), then the answer."""
        m = self.m
        with self.fsm.state("LOAD"):
            with m.If(self.done == self.words):
                with m.If(self.command == Command.STREAM):
                    # The pairs ready now; their bytes are added to the response's
                    # length while its SYNC byte goes out (see transmit).
                    m.d.sync += [self.pairs.eq(Mux(self.h_level > self.max_pairs,
                                                   self.max_pairs, self.h_level)),
                                 self.pair_byte.eq(0), self.room.eq(self.x_room)]
                    self.respond(protocol.response_of(Command.STREAM),
                                 protocol.STREAM_ROOM_BYTES, _Kind.PAIRS)
                with m.Else():
                    self.respond(protocol.response_of(self.command), 0, _Kind.NONE)
            with m.Else():
                m.d.sync += self.word_byte.eq(0)
                self.fsm.goto("FETCH")
        with self.fsm.state("FETCH"):
            self.fsm.goto("SHIFT")
        with self.fsm.state("SHIFT"):
            m.d.sync += [self.word.eq(Cat(self.word[8:], self.read.data)),
                         self.pointer.eq(self.pointer + 1),
                         self.word_byte.eq(self.word_byte + 1)]
            with m.If(self.word_byte == self.word_last):
                m.d.sync += [offered.eq(self.command == cmd)
                             for cmd, (offered, _) in self.targets.items()]
                self.fsm.goto("PUSH")
            with m.Else():
                self.fsm.goto("FETCH")
        with self.fsm.state("PUSH"):
            self._push()

    def _push(self):
        m, core = self.m, self.core

        def pushed():
            m.d.sync += self.done.eq(self.done + 1)
            self.fsm.goto("LOAD")

        with m.Switch(self.command):
            for cmd, (offered, ready) in self.targets.items():
                with m.Case(cmd):
                    # offered is 1 throughout PUSH (see _targets).
                    with m.If(ready):
                        m.d.sync += offered.eq(0)
                        pushed()
            with m.Case(Command.START):
                arguments = self.top_bytes(self.start_bytes)
                steps, keep_state = arguments[:16], arguments[16]
                with m.If(steps == 0):
                    self.fail(Error.ARGUMENT, "REPORT")
                with m.Else():
                    m.d.comb += self.start_request.eq(1)
                    m.d.sync += [core.steps.eq(steps), core.keep_state.eq(keep_state)]
                    pushed()

    # Transmit ------------------------------------------------------------------------------

    def transmit(self):
        """SYNC, the response's command and length, its payload, the CRC."""
        m, tx, crc, count = self.m, self.tx, self.crc, self.count
        next_crc = crc16_next(crc, tx.payload)
        # Whether the payload byte at ``count`` is a pair's (so that the h FIFO is popped
        # when a pair's first byte goes out): a register that follows the response's kind and
        # ``count``, which change only as a byte is taken, and the transmitter takes the next
        # byte a character later, so it has caught up by then. The compare is then not in
        # front of the h FIFO's read enable (S's critical path at 85.9 MHz, 11.6 ns: ``count``,
        # the compare, the FIFO's read logic, its block RAM's clock enable).
        pair_bytes = Signal()
        m.d.sync += pair_bytes.eq((self.kind == _Kind.PAIRS)
                                  & (count >= protocol.STREAM_ROOM_BYTES))

        def send(state, value, then, update_crc=True):
            with self.fsm.state(state):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
                with m.If(tx.ready):
                    if update_crc:
                        m.d.sync += crc.eq(next_crc)
                    then()

        def goto(state):
            def then():
                self.fsm.goto(state)
            return then

        def after_sync():
            m.d.sync += crc.eq(CRC_INIT)
            with m.If(self.kind == _Kind.PAIRS):
                m.d.sync += self.response_length.eq(protocol.STREAM_ROOM_BYTES
                                                    + _times(self.pairs, self.sizes["h"]))
            self.fsm.goto("T_COMMAND")

        def after_length():
            m.d.sync += count.eq(0)
            self.fsm.goto("T_PAYLOAD")
            with m.If(self.response_length == 0):
                self.fsm.goto("T_CRC0")

        def after_payload():
            m.d.sync += count.eq(count + 1)
            with m.If(pair_bytes):
                with m.If(self.pair_byte == 0):
                    m.d.sync += self.pair.eq(self.head)
                    m.d.comb += self.h_fifo.r_en.eq(1)
                m.d.sync += self.pair_byte.eq(self.pair_byte + 1)
                with m.If(self.pair_byte == self.sizes["h"] - 1):
                    m.d.sync += self.pair_byte.eq(0)
            with m.If(count == self.last_sent):
                self.fsm.goto("T_CRC0")

        def finish():
            m.d.sync += self.command.eq(0)      # line errors before a command name none
            self.fsm.goto("R_SYNC")

        send("T_SYNC", SYNC, after_sync, update_crc=False)
        send("T_COMMAND", self.response, goto("T_LENGTH0"))
        send("T_LENGTH0", self.response_length[:8], goto("T_LENGTH1"))
        send("T_LENGTH1", self.response_length[8:], after_length)
        send("T_PAYLOAD", self.payload, after_payload)
        send("T_CRC0", crc[:8], goto("T_CRC1"), update_crc=False)
        send("T_CRC1", crc[8:], finish, update_crc=False)
