"""The top level of the RPU: PIM arrays, cell engine, state memories, controller and ports."""

from amaranth.hdl import Module, Signal, Mux, Cat, signed, unsigned
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from pim import PIMArray, SRAM
from pim.arith import sum_tree
from rpu.config import RPUConfig
from rpu.hw.controller import Controller, Source, layer_registers, READ_AHEAD
from rpu.hw.delta import DeltaUnit
from rpu.hw.cell_engine import CellEngine
from rpu.hw.stream_buffer import DEPTH as STREAM_BUFFER_DEPTH, StreamBuffer
from rpu.hw.program import (Reg, LayerReg, CONTEXT, CONTEXT_BASE, MAX_CONTEXTS, LAYER_BASE,
                            LAYER_STRIDE, COUNTER_WIDTH, PROGRAM_ADDR_BITS, PROGRAM_DATA_BITS,
                            h_address, cell_address, scale_address)


__all__ = ["RPU", "STATUS_WIDTH", "STATUS_LATENCY", "StateTarget", "ACTIVITY_COUNTERS",
           "activity_layout"]


#: Width of the status counters of a run (``cycles``, ``saturations``, ``activity``).
STATUS_WIDTH = 32

#: Cycles ``busy`` stays high after the last event of a run, while the status counters take
#: it: events are registered, then counted; the saturation events are registered, summed into
#: a register, then counted (see :class:`RPU`).
STATUS_LATENCY = 2

#: Activity counters of a run (each counts events; see :class:`RPU`), in the order of the
#: ``activity`` port's fields. The expansion model and the energy model read this list.
ACTIVITY_COUNTERS = ("columns", "x_writes", "x_reads", "h_reads", "h_writes", "cell_reads",
                     "cell_writes", "activation_cycles", "elementwise_cycles", "outputs")


def activity_layout():
    return data.StructLayout({name: STATUS_WIDTH for name in ACTIVITY_COUNTERS})


class StateTarget:
    """``target`` field of the ``state`` stream."""
    H = 0
    C = 1


def pair_layout(config):
    """One (h, c) pair of the ``h`` stream."""
    return data.StructLayout({"h": signed(config.data_width), "c": signed(config.data_width)})


def output_layout(config):
    """Payload of the ``h`` stream: a pair, or one pair per sequence of a batch."""
    pair = pair_layout(config)
    return pair if config.batch == 1 else data.ArrayLayout(pair, config.batch)


def x_layout(config):
    """Payload of the ``x`` stream: a data word, or one per sequence of a batch."""
    word = signed(config.data_width)
    return word if config.batch == 1 else data.ArrayLayout(word, config.batch)


def _registered(m, value, run, name):
    """``value`` in a register loaded while ``run``, named ``{name}_1`` (the name of the
    netlists that rpu/fpga/README.md measured)."""
    registered = Signal.like(value, name=f"{name}_1")
    with m.If(run):
        m.d.sync += registered.eq(value)
    return registered


def _suffix(b):
    """Name suffix of sequence ``b``'s cell engine, memories and operand signals: none for
    sequence 0 (``engine``, ``x_memory``), then ``_1`` ... (``engine_1``, ``x_memory_1``)."""
    return "" if b == 0 else f"_{b}"


def weight_layout(config):
    return data.StructLayout({
        "array": range(config.pim_arrays),
        # With row scales, the scale words follow the weights (rpu.hw.program.scale_address).
        "addr": range(config.load_depth),
        # One weight per MAC lane (weights_per_word per lane's word).
        "data": data.ArrayLayout(signed(config.weight_width), config.macs_per_array),
    })


def state_layout(config):
    fields = {
        "target": 1,
        "layer": range(config.num_layers),
        "index": range(max(config.padded_hidden, config.cell_words)),
        "data": unsigned(config.elementwise_units * config.data_width),
    }
    if config.batch > 1:
        fields["sequence"] = range(config.batch)
    return data.StructLayout(fields)


def program_layout():
    return data.StructLayout({"addr": unsigned(PROGRAM_ADDR_BITS),
                              "data": unsigned(PROGRAM_DATA_BITS)})


class RPU(wiring.Component):
    """A Reconfigurable Processing Unit for LSTM inference.

    Ports (all synchronous to the one clock domain ``sync``; ``rst`` is synchronous):

    * ``weights`` (stream in): while idle (ready from the cycle after ``busy`` falls, not
      in a cycle with ``start``), writes ``data`` (one weight per MAC lane of PIM array
      ``array``: ``weights_per_word`` weights per lane's word) at address ``addr`` of that
      array's lanes. The memory image comes from
      :func:`rpu.compiler.codegen.compile_lstm`. With ``row_scales``, addresses from
      ``weight_depth`` on write the lanes' scale memories (a row's shift in the low bits of
      its lane's word, at ``weight_depth +`` :func:`~rpu.hw.program.scale_address`).
    * ``program`` (stream in): while idle (as ``weights``), writes a 32-bit program word (see
      :mod:`rpu.hw.program`).
    * ``state`` (stream in): while idle (as ``weights``), writes the state the next run
      starts from when it keeps its state: ``target`` 0 writes ``h[index]`` of ``layer``
      (``data``'s low ``data_width`` bits), ``target`` 1 writes the cell-state word ``index``
      of ``layer`` (``elementwise_units`` values of c, unit ``index * elementwise_units`` in
      the LSBs).
    * ``start``, ``steps``, ``keep_state`` (in): a cycle with ``start`` high while idle starts a
      run of ``steps`` time steps (``steps`` >= 1), from h = c = 0 unless ``keep_state``.
    * ``x`` (stream in): the inputs, I data words per step, x_t[0] first (with a batch, each
      transfer carries that word of every sequence, sequence b in element b).
    * ``h`` (stream out): ``(h, c)`` pairs, H per step, unit 0 first; of the last layer, or of
      every layer in order when the program sets OUTPUT_ALL (with a batch, each transfer
      carries that pair of every sequence, sequence b in element b).
    * With a batch, the ``state`` stream's ``sequence`` field names the sequence whose state
      a word writes.
    * ``busy``, ``cycles``, ``saturations`` (out): a run is in progress, or its last h has not
      been taken yet, or (for :data:`STATUS_LATENCY` = 2 cycles after that) the status
      counters are still taking the run's last events; busy cycles of the last (or current)
      run, counted from the cycle after ``start``; saturation events of that run (dot
      products and cell/hidden updates of real units). Activity events are registered, then
      counted one cycle later; saturation flags are registered, summed, then counted two
      cycles later: every counter is final once ``busy`` is low. A start clears the
      counters (``cycles``, ``saturations``, ``activity``) at the end of the cycle after it,
      in which they still show the previous run's.
    * ``stalled`` (out): busy, and every pipeline holds this cycle: an x word is needed and
      none is buffered, or two h words wait to be taken.
    * ``activity`` (out): event counters of the last (or current) run, for the energy model:
      ``columns`` issued (each is one weight read and one MAC in every lane), ``x_writes``,
      ``x_reads``, ``h_reads``, ``h_writes`` (words of the x and h memories), ``cell_reads``,
      ``cell_writes`` (words of ``elementwise_units`` values), ``activation_cycles`` and
      ``elementwise_cycles`` (cycles in which every activation / element-wise unit takes
      operands), ``outputs`` (h stream transfers).

    The x and h streams pass through two-word buffers (:class:`~rpu.hw.stream_buffer.
    StreamBuffer`): ``x.ready`` and ``h.valid`` come from registers, the RPU may take up to
    two x words before it needs them, and an h word leaves one cycle after it is computed.
    The whole RPU stops (every pipeline holds) while it needs an x word and none is
    buffered, or while two h words wait to be taken.

    Parameters
    ----------
    config : RPUConfig
    sram_macros : bool
        Make every RAM (weights, x, h, cell state) an ``rpu_sram`` macro instance, as in the
        generated Verilog (see :class:`pim.sram.SRAM`); Amaranth memories otherwise, which
        Amaranth's simulator runs.
    split_products : bool
        The MAC and element-wise products as two half-width partial products (default), or
        whole, for an FPGA's DSP blocks: the same latency and results.
    """

    def __init__(self, *, config, sram_macros=False, split_products=True):
        if not isinstance(config, RPUConfig):
            raise TypeError(f"config must be an RPUConfig, not {config!r}")
        self.config = config
        self.sram_macros = bool(sram_macros)
        # The MAC and element-wise products as two half-width partial products (short
        # paths in standard cells), or whole (FPGA DSP blocks): same latency, same results.
        self.split_products = bool(split_products)
        super().__init__({
            "weights": In(stream.Signature(weight_layout(config))),
            "program": In(stream.Signature(program_layout())),
            "state": In(stream.Signature(state_layout(config))),
            "x": In(stream.Signature(x_layout(config))),
            "h": Out(stream.Signature(output_layout(config))),
            "start": In(1),
            "steps": In(COUNTER_WIDTH),
            "keep_state": In(1),
            "busy": Out(1),
            "stalled": Out(1),
            "cycles": Out(STATUS_WIDTH),
            "saturations": Out(STATUS_WIDTH),
            "activity": Out(activity_layout()),
        })

    def elaborate(self, platform):
        config = self.config
        m = Module()
        m.submodules.controller = ctrl = Controller(config=config)
        # One cell engine per sequence of the batch; they run in lockstep, engine 0's control
        # outputs stand for all.
        engines = []
        for b in range(config.batch):
            engines.append(CellEngine(config=config, sram_macros=self.sram_macros,
                                      split_products=self.split_products))
            m.submodules[f"engine{_suffix(b)}"] = engines[-1]
        engine = engines[0]
        arrays = []
        for index in range(config.pim_arrays):
            array = PIMArray(lanes=config.lanes_per_array, data_width=config.data_width,
                             weight_width=config.weight_width,
                             weight_frac_bits=config.weight_frac_bits,
                             acc_width=config.acc_width, depth=config.weight_depth,
                             weights_per_word=config.weights_per_word,
                             batch=config.batch, scale_depth=config.scale_depth,
                             operand_width=config.operand_width,
                             state_depth=config.state_depth,
                             sram_macros=self.sram_macros,
                             split_products=self.split_products,
                             registered_products=config.registered_products)
            m.submodules[f"pim{index}"] = array
            arrays.append(array)

        # Program registers ---------------------------------------------------------------
        first_layer = Signal(range(config.num_layers))
        last_layer = Signal(range(config.num_layers))
        n_contexts = Signal(range(MAX_CONTEXTS + 1))
        output_all = Signal()
        # CONTEXT words, kept as plain bits (see rpu.hw.program.CONTEXT).
        contexts = Signal(data.ArrayLayout(CONTEXT.size, MAX_CONTEXTS))
        layers = Signal(data.ArrayLayout(layer_registers(config), config.num_layers))
        # The load streams (program, weights, state) are ready from a register: idle in the
        # previous cycle and not starting then, so idle in this one (only a start makes the
        # RPU busy). Their write enables reach every weight memory; ``busy``'s logic is then
        # not in front of them (S's critical path on the ULX3S at 83.5 MHz, 12.0 ns).
        loads_ready = Signal(init=1)
        m.d.comb += self.program.ready.eq(loads_ready)
        word = self.program.payload.data
        globals_ = [(Reg.FIRST_LAYER, first_layer), (Reg.LAST_LAYER, last_layer),
                    (Reg.CONTEXTS, n_contexts), (Reg.OUTPUT_ALL, output_all)]
        if config.delta:
            delta = {"delta": Signal(), "theta_x": Signal(config.data_width),
                     "theta_h": Signal(config.data_width),
                     "delta_period": Signal(COUNTER_WIDTH)}
            globals_ += [(Reg[name.upper()], signal) for name, signal in delta.items()]
        with m.If(self.program.valid & self.program.ready):
            with m.Switch(self.program.payload.addr):
                for register, signal in globals_:
                    with m.Case(register):
                        m.d.sync += signal.eq(word)
                for index in range(MAX_CONTEXTS):
                    with m.Case(CONTEXT_BASE + index):
                        m.d.sync += contexts[index].eq(word)
                for layer in range(config.num_layers):
                    for register in LayerReg:
                        field = layers[layer][register.name.lower()]
                        with m.Case(LAYER_BASE + LAYER_STRIDE * layer + register):
                            m.d.sync += field.eq(word)

        # Weight loading -------------------------------------------------------------------
        # Not in a cycle with ``start``: a lane writes a weight word one cycle after it is
        # taken (its memory's write port is registered), and a run started in the cycle a
        # word is taken could read that word's address in the next one.
        m.d.comb += self.weights.ready.eq(loads_ready & ~self.start)
        for index, array in enumerate(arrays):
            m.d.comb += [
                array.wr_addr.eq(self.weights.payload.addr),
                array.wr_data.eq(self.weights.payload.data),
                array.wr_en.eq(self.weights.valid & self.weights.ready
                               & (self.weights.payload.array == index)),
            ]

        # Global run enable -----------------------------------------------------------------
        # The x and h streams pass through two-word buffers whose ready and valid are
        # decoded from their registered levels, so that the run enable, which reaches every
        # pipeline register, is a function of three registers: it stops while an x word is
        # needed and none is buffered, or while the h buffer is full (even in a cycle that
        # would not emit: an h can then always be taken). With the x stream valid and the h
        # stream ready it never stops.
        m.submodules.x_buffer = x_buffer = StreamBuffer(x_layout(config))
        m.submodules.h_buffer = h_buffer = StreamBuffer(output_layout(config))
        wiring.connect(m, wiring.flipped(self.x), x_buffer.w)
        wiring.connect(m, h_buffer.r, wiring.flipped(self.h))
        # The run enable itself is a register: it is loaded with the next cycle's run,
        # computed from the next values of those three registers (their inputs), so that its
        # thousands of loads see a flip-flop's output and no logic. Out of reset nothing is
        # needed and nothing is buffered: run is 1.
        run = Signal(init=1)
        take_x = Signal()
        m.d.comb += [
            take_x.eq(run & ctrl.need_x),
            x_buffer.r.ready.eq(take_x),
        ]
        m.d.sync += run.eq(~(ctrl.need_x_next & (x_buffer.level_next == 0))
                           & (h_buffer.level_next != STREAM_BUFFER_DEPTH))

        # Run control and status ------------------------------------------------------------
        # Row groups whose last column was issued but whose cell update is not finished.
        outstanding = Signal(2)
        issued_group = ctrl.valid & ctrl.last
        with m.If(run):
            m.d.sync += outstanding.eq(outstanding + issued_group - engine.done)
        # Working until the last h of a run has been taken from the output register; busy
        # STATUS_LATENCY cycles longer, while the status counters take the registered events
        # of the last working cycle.
        working = Signal()
        settling = Signal(STATUS_LATENCY)
        m.d.comb += working.eq(ctrl.busy | (outstanding != 0) | engine.busy
                               | (h_buffer.level != 0))
        m.d.sync += settling.eq(Cat(working, settling))
        m.d.comb += [self.busy.eq(working | settling.any()),
                     self.stalled.eq(working & ~run)]
        start = self.start & ~self.busy & (self.steps != 0)
        m.d.sync += loads_ready.eq(~self.busy & ~start)
        m.d.comb += [
            ctrl.en.eq(run),
            ctrl.start.eq(start),
            ctrl.steps.eq(self.steps),
            ctrl.keep_state.eq(self.keep_state),
            ctrl.first_layer.eq(first_layer),
            ctrl.last_layer.eq(last_layer),
            ctrl.layers.eq(layers),
        ]
        self._count_events(m, ctrl, engines, arrays, run, start)
        m.d.comb += self.state.ready.eq(loads_ready)
        # The column's operand source one cycle after the issue, when the x and h memories'
        # words (addressed READ_AHEAD cycle early) leave their output registers.
        source = _registered(m, ctrl.source, run, "source")
        x_words = ([x_buffer.r.payload] if config.batch == 1
                   else [x_buffer.r.payload[b] for b in range(config.batch)])
        operands = [self._sequence_memories(m, b, ctrl, engines[b], run, take_x, source,
                                            x_words[b], start,
                                            delta if config.delta else None)
                    for b in range(config.batch)]
        operand = operands[0] if config.batch == 1 else Cat(*operands)

        for array in arrays:
            m.d.comb += [
                array.en.eq(run),
                array.addr.eq(ctrl.addr),
                array.valid.eq(ctrl.valid),
                array.first.eq(ctrl.first),
                array.last.eq(ctrl.last),
                array.operand.eq(operand),
            ]
            if config.row_scales:
                # The row group whose last column was issued in the previous cycle, as the
                # lanes expect it.
                m.d.comb += array.scale_addr.eq(
                    scale_address(config, ctrl.post_layer, ctrl.post_group))
            if config.delta:
                m.d.comb += [array.state_addr.eq(ctrl.state_addr), array.load.eq(ctrl.load),
                             array.store.eq(ctrl.store)]

        # Cell engines: engine b takes sequence b's results of every array ------------------
        n = config.macs_per_array
        for b, unit in enumerate(engines):
            m.d.comb += [
                unit.en.eq(run),
                unit.start.eq(arrays[0].result_valid),
                unit.layer.eq(ctrl.post_layer),
                unit.group.eq(ctrl.post_group),
                unit.bank.eq(ctrl.post_bank),
                unit.zero_state.eq(ctrl.post_zero),
                unit.hidden_size.eq(layers[ctrl.post_layer].hidden_size),
                unit.output.eq(output_all | (ctrl.post_layer == last_layer)),
                unit.n_contexts.eq(n_contexts),
                unit.contexts.eq(contexts),
                unit.pre.eq(Cat(*(array.results.as_value()[b * n * config.data_width:
                                                           (b + 1) * n * config.data_width]
                                  for array in arrays))),
            ]

        # Output buffer ---------------------------------------------------------------------
        pairs = ([h_buffer.w.payload] if config.batch == 1
                 else [h_buffer.w.payload[b] for b in range(config.batch)])
        m.d.comb += h_buffer.w.valid.eq(run & engine.emit_stream)
        for pair, unit in zip(pairs, engines):
            m.d.comb += [pair.h.eq(unit.emit_h), pair.c.eq(unit.emit_c)]
        return m

    def _sequence_memories(self, m, b, ctrl, engine, run, take_x, source, x_payload, start,
                           delta):
        """Sequence ``b``'s x and h memories (its cell-state memory is in its engine) and the
        operand they give the lanes, selected one cycle after the column is issued
        (``source`` is its source then) and registered: the x word from the stream, x or h
        from the memories, 1.0 for the bias, or (with the delta datapath, whose program
        registers are ``delta``) a list entry's delta."""
        config = self.config
        word = signed(config.data_width)
        # Any layer can be the first of a run (layer by layer), so x holds any layer's input.
        # Both memories register the word read once more (output_register: a block RAM's
        # own register on an FPGA), so that the operand's multiplexer takes flip-flops beside
        # the memories, not the RAM's access time (S on the ULX3S at 86.0 MHz: the h memory's
        # 5.8 ns of clock-to-out, then 4.8 ns of routing to a register drawn towards the
        # lanes); the controller addresses them READ_AHEAD cycle early.
        assert READ_AHEAD == 1
        m.submodules[f"x_memory{_suffix(b)}"] = x_memory = SRAM(
            depth=config.max_layer_input, shape=word, macro=self.sram_macros,
            output_register=True)
        m.submodules[f"h_memory{_suffix(b)}"] = h_memory = SRAM(
            depth=config.h_memory_depth, shape=word, macro=self.sram_macros,
            output_register=True)
        m.d.comb += [
            x_memory.rd_addr.eq(ctrl.x_read_addr), x_memory.rd_en.eq(run),
            x_memory.wr_addr.eq(ctrl.x_addr), x_memory.wr_data.eq(x_payload),
            x_memory.wr_en.eq(take_x),
            h_memory.rd_addr.eq(ctrl.h_read_addr), h_memory.rd_en.eq(run),
        ]
        # State loading: while idle, the state stream (ready while idle, see elaborate)
        # writes the half of a layer's h memory that the next run reads as h_{t-1}, or the
        # layer's cell-state memory.
        state = self.state.payload
        state_write = self.state.valid & self.state.ready
        if config.batch > 1:
            state_write = state_write & (state.sequence == b)
        with m.If(self.busy):
            m.d.comb += [
                h_memory.wr_addr.eq(engine.h_wr_addr), h_memory.wr_data.eq(engine.h_wr_data),
                h_memory.wr_en.eq(engine.h_wr_en),
            ]
        with m.Else():
            m.d.comb += [
                h_memory.wr_addr.eq(h_address(config, state.layer, ctrl.bank, state.index,
                                              other=True)),
                h_memory.wr_data.eq(state.data[:config.data_width]),
                h_memory.wr_en.eq(state_write & (state.target == StateTarget.H)),
            ]
        m.d.comb += [
            engine.state_addr.eq(cell_address(config, state.layer, state.index)),
            engine.state_data.eq(state.data),
            engine.state_en.eq(state_write & (state.target == StateTarget.C)),
        ]
        x_word = _registered(m, x_payload, run, f"x_word{_suffix(b)}")
        operand = Signal(signed(config.operand_width), name=f"operand{_suffix(b)}")
        if delta is not None:
            self._delta_units(m, ctrl, engine, run, take_x, source, x_payload, start, delta,
                              operand, h_memory)
        with m.Switch(source):
            with m.Case(Source.ONE):
                m.d.comb += operand.eq(1 << config.data_frac_bits)
            with m.Case(Source.X_STREAM):
                m.d.comb += operand.eq(x_word)
            with m.Case(Source.X_MEMORY):
                m.d.comb += operand.eq(x_memory.rd_data)
            with m.Case(Source.H_MEMORY):
                m.d.comb += operand.eq(h_memory.rd_data)
        # The operand is registered, and reaches the lanes PIMArray.OPERAND_DELAY = 2 cycles
        # after its column's issue: its route across the device to every lane's DSP block
        # starts at a flip-flop (S on the ULX3S at 97.2 MHz without it: an x memory's output
        # register, the multiplexer and 8.8 ns of routing to a far lane).
        assert PIMArray.OPERAND_DELAY == 2
        return _registered(m, operand, run, f"broadcast{_suffix(b)}")

    def _delta_units(self, m, ctrl, engine, run, take_x, source, x_payload, start, delta,
                     operand, h_memory):
        """The x and h delta units (:mod:`rpu.hw.delta`), and the delta operand."""
        config = self.config
        layer = ctrl.layers[ctrl.first_layer]
        m.submodules.x_delta = x_delta = DeltaUnit(config=config, depth=config.input_size,
                                                   sram_macros=self.sram_macros)
        m.submodules.h_delta = h_delta = DeltaUnit(config=config, depth=config.hidden_size,
                                                   banks=2, sram_macros=self.sram_macros)
        # x: the words of the dense first step are the references, those of X_PHASE are
        # compared and listed.
        m.d.comb += [
            x_delta.en.eq(run), x_delta.valid.eq(take_x & delta["delta"]),
            x_delta.snoop.eq(~ctrl.x_phase), x_delta.index.eq(ctrl.x_addr),
            x_delta.value.eq(x_payload), x_delta.offset.eq(1),
            x_delta.last_index.eq(layer.input_size - 1),
            x_delta.threshold.eq(delta["theta_x"]), x_delta.rd_addr.eq(ctrl.x_rd_addr),
        ]
        # h: the operands of the dense first step's h columns (one cycle after their issue)
        # are the references; every h the engine writes is compared and listed for
        # the next step, in the bank of the step that computed it.
        snoop = _registered(m, ctrl.snoop_h, run, "snoop")
        snoop_index = _registered(m, ctrl.h_index, run, "snoop_index")
        m.d.comb += [
            h_delta.en.eq(run),
            h_delta.valid.eq(snoop | (delta["delta"] & engine.h_wr_en)),
            h_delta.snoop.eq(snoop),
            h_delta.index.eq(Mux(snoop, snoop_index, engine.h_wr_unit)),
            h_delta.value.eq(Mux(snoop, Mux(source == Source.ZERO, 0, h_memory.rd_data),
                                 engine.h_wr_data)),
            h_delta.offset.eq(layer.input_size + 1),
            h_delta.last_index.eq(layer.hidden_size - 1),
            h_delta.threshold.eq(delta["theta_h"]),
            h_delta.bank.eq(engine.bank),
            h_delta.rd_addr.eq(ctrl.h_rd_addr), h_delta.rd_bank.eq(~ctrl.bank),
            # The list of h_{t-1}: the bank the previous step filled.
            h_delta.clear.eq(Mux(start, 0b11, Mux(ctrl.bank, 0b01, 0b10)
                                 & Cat(ctrl.h_consume, ctrl.h_consume))),
        ]
        m.d.comb += [
            ctrl.delta.eq(delta["delta"]), ctrl.delta_period.eq(delta["delta_period"]),
            ctrl.x_count.eq(x_delta.count[0]),
            ctrl.h_count.eq(Mux(ctrl.bank, h_delta.count[0], h_delta.count[1])),
            ctrl.h_complete.eq(Mux(ctrl.bank, h_delta.complete[0], h_delta.complete[1])),
            ctrl.x_entry.eq(x_delta.rd_data), ctrl.h_entry.eq(h_delta.rd_data),
        ]
        value = _registered(m, ctrl.delta_value, run, "delta_operand")
        with m.If((source == Source.X_DELTA) | (source == Source.H_DELTA)):
            m.d.comb += operand.eq(value)

    def _count_events(self, m, ctrl, engines, arrays, run, start):
        """The status counters. Each cycle's events are registered first and counted in the
        next cycle, so that no counter's adder is on the datapath's paths; the saturation
        flags are registered, summed into a register, then counted. The counters settle
        :data:`STATUS_LATENCY` cycles after the last event (``busy`` covers them)."""
        config = self.config
        # The engines run in lockstep: engine 0's events stand for every sequence's (the
        # energy model multiplies by the batch); the saturations of all of them count.
        engine = engines[0]
        sources = {"x": [Source.X_MEMORY], "h": [Source.H_MEMORY]}
        column = ctrl.valid
        if config.delta:
            # A null column reads no weight that matters and multiplies by zero.
            column = ctrl.valid & ~ctrl.null
            sources = {"x": [Source.X_MEMORY, Source.X_DELTA],
                       "h": [Source.H_MEMORY, Source.H_DELTA]}
        reads = {path: Cat(*(ctrl.source == s for s in kinds)).any() if len(kinds) > 1
                 else ctrl.source == kinds[0] for path, kinds in sources.items()}
        events = {
            "columns": run & column,
            "x_writes": run & ctrl.need_x,
            "x_reads": run & ctrl.valid & reads["x"],
            "h_reads": run & ctrl.valid & reads["h"],
            "h_writes": engine.h_wr_en,
            "cell_reads": engine.activity.cell_read,
            "cell_writes": engine.activity.cell_write,
            "activation_cycles": engine.activity.activations,
            "elementwise_cycles": engine.activity.elementwise,
            "outputs": self.h.valid & self.h.ready,
        }
        pending = Signal(data.StructLayout({name: 1 for name in ACTIVITY_COUNTERS}))
        # Saturation flags of this cycle: of the lanes (taken when the engine loads their
        # results), of the element-wise units, and whether the cycle counts (a stalled cycle
        # repeats the flags of the last one). The lanes' flags are registered as one count
        # per PIM array, so that the sum over all lanes (the arrays are spread over an FPGA)
        # is not one adder tree of every flag in one cycle.
        array_counts = [Signal(range(len(array.saturated) + 1), name=f"saturated{index}")
                        for index, array in enumerate(arrays)]
        engine_flags = [Signal.like(unit.saturations, name=f"engine_flags{_suffix(b)}")
                        for b, unit in enumerate(engines)]
        counted = Signal()
        loaded = Signal()
        lane_saturations = sum_tree(array_counts)
        pending_saturations = Signal(range(config.batch * (config.mac_lanes
                                                           + config.elementwise_units) + 1))
        m.d.sync += [
            *(count.eq(sum_tree(array.saturated[i] for i in range(len(array.saturated))))
              for count, array in zip(array_counts, arrays)),
            *(flags.eq(unit.saturations) for flags, unit in zip(engine_flags, engines)),
            loaded.eq(engine.loading),
        ]
        m.d.sync += [pending[name].eq(event) for name, event in events.items()]
        m.d.sync += counted.eq(self.busy & run)
        m.d.sync += pending_saturations.eq(
            Mux(counted, Mux(loaded, lane_saturations, 0) + sum_tree(engine_flags), 0))
        # A start clears the counters in the next cycle, from a register: ``start``'s logic
        # (the steps' compare, busy) is then not in front of the counters' hundreds of
        # flip-flops (S on the ULX3S at 92.6 MHz, seed 3: 10.8 ns, 4.9 ns of it routing).
        # The counters are final while idle (busy covers STATUS_LATENCY cycles more) and the
        # start cycle has no events, so pending and pending_saturations hold zeros in the
        # cycle after it, which the clear drops, as it drops the events of the start cycle.
        clear = Signal()
        m.d.sync += clear.eq(start)
        with m.If(clear):
            m.d.sync += [self.activity[name].eq(0) for name in ACTIVITY_COUNTERS]
            m.d.sync += [self.cycles.eq(self.busy), self.saturations.eq(0)]
        with m.Else():
            m.d.sync += [self.activity[name].eq(self.activity[name] + pending[name])
                         for name in ACTIVITY_COUNTERS]
            m.d.sync += self.saturations.eq(self.saturations + pending_saturations)
            with m.If(self.busy):
                m.d.sync += self.cycles.eq(self.cycles + 1)

