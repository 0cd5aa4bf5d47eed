"""The cell engine: activations and cell updates of one row group, run by configuration
contexts.

When the PIM lanes finish a row group (the four gates of ``units_per_group`` hidden units), the
engine runs the program's contexts in order, each for its number of cycles (see
:class:`rpu.hw.program.Op`):

``LOAD`` the lanes' results into the pre-activation buffer; ``GATES`` through the activation
units into the gate buffer; ``CELL`` updates ``c = f*c + i*g`` on the element-wise units,
reading and writing the cell-state memory; ``TANH_C`` computes tanh(c); ``HIDDEN`` computes
``h = o*tanh(c)``; ``EMIT`` writes each h to the hidden-state memory and offers ``(h, c)`` to
the output stream. ``NOP`` contexts let the unit pipelines drain between phases.

Buffers are shift registers: units take their operands from the heads, results enter at the
tail, so no buffer needs a wide multiplexer. The expansion model orders the contexts so that a
buffer is never written and read in the same cycle.
"""

from amaranth.hdl import Module, Signal, Cat, Mux, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from lstm_ref.activation import SIGMOID, TANH
from pim.arith import saturate, sum_tree
from pim.sram import SRAM
from rpu.hw.activation import ActivationUnit
from rpu.hw.elementwise import ElementwiseUnit
from rpu.hw.interconnect import ACT_INPUTS, Interconnect
from rpu.hw.program import (Op, OP_BITS, COUNTER_WIDTH, CONTEXT, MAX_CONTEXTS,
                            h_address, cell_address)


__all__ = ["CellEngine", "ENGINE_ACTIVITY"]


#: Per-cycle activity flags of the cell engine.
ENGINE_ACTIVITY = data.StructLayout({
    "activations": 1, "elementwise": 1, "cell_read": 1, "cell_write": 1})


def _to_data_format(value, shift, fmt):
    """A cell-format value in the data format: shifted left by ``shift``, saturated."""
    return saturate(value << shift, fmt.width)[0]


def _shift_in(m, buffer, values, enable):
    """Shift ``buffer`` towards its head by ``len(values)`` and append ``values`` at the tail."""
    count = len(values)
    with m.If(enable):
        for index in range(len(buffer) - count):
            m.d.sync += buffer[index].eq(buffer[index + count])
        for index, value in enumerate(values):
            m.d.sync += buffer[len(buffer) - count + index].eq(value)


def _shift_out(m, buffer, count, enable, *, rotate=False):
    """Shift ``buffer`` towards its head by ``count``; the tail is refilled from the head when
    ``rotate`` (so the buffer is intact after a full turn), else left unchanged."""
    size = len(buffer)
    with m.If(enable):
        for index in range(size):
            source = index + count
            if source < size:
                m.d.sync += buffer[index].eq(buffer[source])
            elif rotate:
                m.d.sync += buffer[index].eq(buffer[source - size])


class CellEngine(wiring.Component):
    """Activations and cell updates of one row group at a time.

    Parameters
    ----------
    config : rpu.config.RPUConfig
    sram_macros : bool
        Make the cell-state memory an ``rpu_sram`` macro instance.

    Attributes
    ----------
    en : In(1)
        Global run enable.
    start : In(1)
        The lanes' results of a row group are ready (the engine must be idle).
    layer : In(range(num_layers))
        Layer of the row group being started.
    group : In(range(max_groups))
        Row group being started.
    bank : In(1)
        Half of the hidden-state memory this step writes.
    zero_state : In(1)
        The group belongs to the first step of a run that starts from c = 0.
    hidden_size : In
        H of the group's layer; units ``k >= H`` are padding and are not emitted.
    output : In(1)
        The group's h and c go out on the output stream (else only to the h memory).
    All of these are sampled with ``start``.
    n_contexts, contexts : In
        The program's configuration contexts.
    pre : In(ArrayLayout(signed(data_width), mac_lanes))
        The lanes' narrowed dot products; lane ``gate * units_per_group + u``.
    busy : Out(1)
    done : Out(1)
        Pulses in the last cycle of the last context.
    activity : Out(ActivityLayout)
        What the engine does in this enabled cycle, for the activity counters:
        ``activations`` (the activation units take operands), ``elementwise`` (the
        element-wise units take operands), ``cell_read``, ``cell_write`` (one cell-memory
        word each).
    loading : Out(1)
        The LOAD context runs: ``pre`` is sampled now.
    emit : Out(1)
        An EMIT cycle with a real unit: h is written to the h memory now.
    emit_stream : Out(1)
        ``emit`` of a layer whose (h, c) go out: ``emit_h``/``emit_c`` must be taken now.
    emit_h, emit_c : Out(signed(data_width))
    h_wr_addr, h_wr_data, h_wr_en : Out
        Write port of the hidden-state memory, at
        :func:`~rpu.hw.program.h_address` ``(layer, bank, k)``.
    h_wr_unit : Out(range(padded_hidden + 1))
        Only with ``config.delta``: ``k``, the unit whose h is written.
    state_addr, state_data, state_en : In
        Write port of the cell-state memory for loading a state while the engine is idle.
    saturations : Out(range(elementwise_units + 1))
        Element-wise results of real units that saturated in this cycle.
    """

    def __init__(self, *, config, sram_macros=False, split_products=True):
        self._config = config
        self._sram_macros = bool(sram_macros)
        self._split_products = bool(split_products)
        word = signed(config.data_width)
        super().__init__({
            "en": In(1),
            "start": In(1),
            "layer": In(range(config.num_layers)),
            "group": In(range(config.max_groups)),
            "bank": In(1),
            "zero_state": In(1),
            "hidden_size": In(range(config.hidden_size + 1)),
            "output": In(1),
            "n_contexts": In(range(MAX_CONTEXTS + 1)),
            "contexts": In(data.ArrayLayout(CONTEXT.size, MAX_CONTEXTS)),
            "pre": In(data.ArrayLayout(word, config.mac_lanes)),
            "busy": Out(1),
            "done": Out(1),
            "loading": Out(1),
            "activity": Out(ENGINE_ACTIVITY),
            "emit": Out(1),
            "emit_stream": Out(1),
            "emit_h": Out(word),
            "emit_c": Out(word),
            "h_wr_addr": Out(range(config.h_memory_depth)),
            "h_wr_data": Out(word),
            "h_wr_en": Out(1),
            # With the delta datapath, the unit whose h is written (the h delta unit's index).
            **({"h_wr_unit": Out(range(config.padded_hidden + 1))} if config.delta else {}),
            "saturations": Out(range(config.elementwise_units + 1)),
            "state_addr": In(range(config.cell_memory_depth)),
            "state_data": In(unsigned(config.elementwise_units * config.data_width)),
            "state_en": In(1),
        })

    def elaborate(self, platform):
        config = self._config
        units = config.units_per_group
        n_act = config.activation_units
        n_ew = config.elementwise_units
        width = config.data_width
        word = signed(width)
        m = Module()

        # Context sequencing ----------------------------------------------------------------
        ctx_index = Signal(range(MAX_CONTEXTS))
        next_index = Signal(range(MAX_CONTEXTS))
        m.d.comb += next_index.eq(ctx_index + 1)
        ctx_cycle = Signal(COUNTER_WIDTH)
        # The running context, a register loaded as its index advances (so that no context
        # multiplexer is in front of the routes): plain bits viewed through the CONTEXT
        # layout (see rpu.hw.program.CONTEXT).
        context_bits = Signal(CONTEXT.size, name="context")
        context = data.View(CONTEXT, context_bits)
        # The context register holds a NOP context while the engine is idle (reset, and
        # loaded so when the last context ends), so that op needs no multiplexer on busy: it
        # and the many enables decoded from it do not wait for busy's large fan-out.
        assert Op.NOP == 0
        op = Signal(OP_BITS)
        ctx_cycles = context.cycles
        m.d.comb += op.eq(context.op)
        # ctx_cycle == ctx_cycles - 1, registered one cycle ahead (from the next ctx_cycle
        # and context), so that the comparison is not in series with the updates it enables.
        ctx_last = Signal()
        # op == EMIT, LOAD, ... one flag per op, registered with the context: emit decides
        # the RPU's global run enable, and the others, and'ed with the run enable, are the
        # clock enables of the buffers, which must not wait for a decoder behind the run
        # enable's fan-out (S's post-route critical path on the ULX3S, 73.6 MHz: the run
        # enable through three LUTs of op decoding to the pre-activation buffer's enables).
        is_op = {o: Signal(name=f"{o.name.lower()}_op")
                 for o in (Op.LOAD, Op.GATES, Op.CELL, Op.TANH_C, Op.HIDDEN, Op.EMIT)}
        emit_op = is_op[Op.EMIT]

        def set_ops(new_op):
            return [flag.eq(new_op == o) for o, flag in is_op.items()]

        layer = Signal.like(self.layer)
        group = Signal.like(self.group)
        bank = Signal()
        zero_state = Signal()
        hidden_size = Signal.like(self.hidden_size)
        output = Signal()
        m.d.comb += self.done.eq(0)
        with m.If(self.en):
            with m.If(self.busy):
                with m.If(ctx_last):
                    next_context = data.View(CONTEXT, self.contexts[next_index])
                    m.d.sync += [ctx_cycle.eq(0), ctx_index.eq(next_index),
                                 context_bits.eq(next_context.as_value()),
                                 ctx_last.eq(next_context.cycles == 1),
                                 *set_ops(next_context.op)]
                    with m.If(ctx_index == self.n_contexts - 1):
                        m.d.sync += [self.busy.eq(0), context_bits.eq(0),
                                     *set_ops(Op.NOP)]
                        m.d.comb += self.done.eq(1)
                with m.Else():
                    m.d.sync += [ctx_cycle.eq(ctx_cycle + 1),
                                 ctx_last.eq(ctx_cycle + 1 == ctx_cycles - 1)]
            with m.Elif(self.start):
                first_context = data.View(CONTEXT, self.contexts[0])
                m.d.sync += [
                    self.busy.eq(1), ctx_index.eq(0), ctx_cycle.eq(0),
                    context_bits.eq(first_context.as_value()),
                    ctx_last.eq(first_context.cycles == 1),
                    *set_ops(first_context.op),
                    layer.eq(self.layer), group.eq(self.group), bank.eq(self.bank),
                    zero_state.eq(self.zero_state), hidden_size.eq(self.hidden_size),
                    output.eq(self.output),
                ]

        # Units and routes --------------------------------------------------------------------
        m.submodules.interconnect = ic = Interconnect(config=config)
        acts = []
        for index in range(n_act):
            # Both candidates (pre-activation and cell buffer heads, registers) go into the
            # unit, which selects after their segment index (see rpu.hw.interconnect).
            unit = ActivationUnit(data_format=config.data_format,
                                  segments=config.activation_segments, inputs=ACT_INPUTS)
            m.submodules[f"act{index}"] = unit
            m.d.comb += [unit.en.eq(self.en), unit.x.eq(ic.act_x[index]),
                         unit.func.eq(ic.act_func[index]), unit.select.eq(ic.act_select)]
            acts.append(unit)
        ews = []
        for index in range(n_ew):
            unit = ElementwiseUnit(data_format=config.data_format,
                                   cell_format=config.cell_format,
                                   split_products=self._split_products)
            m.submodules[f"ew{index}"] = unit
            m.d.comb += [unit.en.eq(self.en),
                         unit.a.eq(ic.ew_a[index]), unit.b.eq(ic.ew_b[index]),
                         unit.c.eq(ic.ew_c[index]), unit.d.eq(ic.ew_d[index])]
            ews.append(unit)

        # The activation route is issued with the op; the element-wise CELL route one cycle
        # later, when the cell memory's read data arrives. Tags follow the units' pipelines
        # to select where results go. The route is built from the op flags alone (the op
        # when one of them is set), so that the interconnect's one-hot select of the
        # activation units' candidates is the two flag registers themselves: it is on the
        # units' path into their ROM address (one select LUT after the index arithmetic).
        act_route = Mux(is_op[Op.GATES], Op.GATES, Mux(is_op[Op.TANH_C], Op.TANH_C, Op.NOP))
        cell_operands = Signal()
        with m.If(self.en):
            m.d.sync += cell_operands.eq(is_op[Op.CELL])
        ew_route = Mux(cell_operands, Op.CELL, Mux(is_op[Op.HIDDEN], Op.HIDDEN, Op.NOP))
        # The element-wise routes as flags: ew_route == CELL, ew_route == HIDDEN.
        ew_cell, ew_hidden = cell_operands, ~cell_operands & is_op[Op.HIDDEN]
        m.d.comb += [unit.cell.eq(ew_cell) for unit in ews]
        act_tags = [Signal(OP_BITS) for _ in range(ActivationUnit.LATENCY)]
        ew_tags = [Signal(OP_BITS) for _ in range(ElementwiseUnit.LATENCY)]
        with m.If(self.en):
            for tags, route in ((act_tags, act_route), (ew_tags, ew_route)):
                m.d.sync += tags[0].eq(route)
                for index in range(1, len(tags)):
                    m.d.sync += tags[index].eq(tags[index - 1])
        m.d.comb += [ic.act_route.eq(act_route), ic.ew_route.eq(ew_route),
                     ic.act_done.eq(act_tags[-1]), ic.ew_done.eq(ew_tags[-1])]

        # Buffers -------------------------------------------------------------------------
        pre_buf = [Signal(word, name=f"pre{i}") for i in range(4 * units)]
        pre_func = [Signal(name=f"pre_func{i}") for i in range(4 * units)]
        gate_buf = [Signal(word, name=f"gate{i}") for i in range(4 * units)]
        cell_buf = [Signal(word, name=f"cell{i}") for i in range(units)]
        tanh_buf = [Signal(word, name=f"tanh_c{i}") for i in range(units)]
        hidden_buf = [Signal(word, name=f"hidden{i}") for i in range(units)]
        gate_i, gate_f, gate_g, gate_o = (gate_buf[k * units:(k + 1) * units] for k in range(4))

        running = self.en
        # LOAD, then GATES: the pre-activation buffer feeds the activation units.
        with m.If(running & is_op[Op.LOAD]):
            for index in range(4 * units):
                m.d.sync += [
                    pre_buf[index].eq(self.pre[index]),
                    # Rows of gate g (lanes 2U .. 3U-1) take tanh, the others sigmoid.
                    pre_func[index].eq(TANH if index // units == 2 else SIGMOID),
                ]
        _shift_out(m, pre_buf, n_act, running & is_op[Op.GATES])
        _shift_out(m, pre_func, n_act, running & is_op[Op.GATES])
        m.d.comb += [ic.pre[i].eq(pre_buf[i]) for i in range(n_act)]
        m.d.comb += ic.pre_func.eq(Cat(*pre_func[:n_act]))
        act_results = [unit.y for unit in acts]
        _shift_in(m, gate_buf, act_results, running & ic.push_gate)

        # CELL: the gate segments i, f, g and the cell memory feed the element-wise units.
        # The word read passes an output register (a block RAM's own on an FPGA, or a
        # register beside it), so that the element-wise units' operands do not wait for the
        # RAM's access time and a route across the device in one cycle (S on the ULX3S at
        # 94.6 MHz, seed 4: 5.8 ns of clock-to-out, then 3.5 ns of routing). The memory is
        # therefore addressed one cycle ahead: word k of a CELL context in its cycle k - 1
        # (the cycle before the context for word 0; that context runs at least one cycle
        # after LOAD, which sets the base).
        m.submodules.cell_memory = cell_memory = SRAM(
            depth=config.cell_memory_depth, shape=unsigned(n_ew * width),
            macro=self._sram_macros, output_register=True)
        cell_base = Signal(range(config.cell_memory_depth + 1))
        m.d.comb += cell_base.eq(cell_address(config, layer, group * (units // n_ew)))
        cell_rd_addr = Signal(range(config.cell_memory_depth + 1))
        cell_wr_addr = Signal(range(config.cell_memory_depth + 1))
        m.d.comb += [cell_memory.rd_addr.eq(cell_rd_addr + is_op[Op.CELL]),
                     cell_memory.rd_en.eq(running)]
        with m.If(running & is_op[Op.LOAD]):
            m.d.sync += [cell_rd_addr.eq(cell_base), cell_wr_addr.eq(cell_base)]
        with m.If(running & is_op[Op.CELL]):
            m.d.sync += cell_rd_addr.eq(cell_rd_addr + 1)
        for index in range(n_ew):
            previous = cell_memory.rd_data[index * width:(index + 1) * width].as_signed()
            m.d.comb += [
                ic.c_prev[index].eq(Mux(zero_state, 0, previous)),
                ic.gate_i[index].eq(gate_i[index]),
                ic.gate_f[index].eq(gate_f[index]),
                ic.gate_g[index].eq(gate_g[index]),
                ic.gate_o[index].eq(gate_o[index]),
                ic.tanh_c[index].eq(tanh_buf[index]),
            ]
        for segment in (gate_i, gate_f, gate_g):
            _shift_out(m, segment, n_ew, running & ew_cell)
        ew_results = [unit.y for unit in ews]
        with m.If(self.busy):
            m.d.comb += [
                cell_memory.wr_addr.eq(cell_wr_addr),
                cell_memory.wr_data.eq(Cat(*ew_results)),
                cell_memory.wr_en.eq(running & ic.push_cell),
            ]
        with m.Else():
            m.d.comb += [
                cell_memory.wr_addr.eq(self.state_addr),
                cell_memory.wr_data.eq(self.state_data),
                cell_memory.wr_en.eq(self.state_en),
            ]
        with m.If(running & ic.push_cell):
            m.d.sync += cell_wr_addr.eq(cell_wr_addr + 1)
        # TANH_C takes c in the data format (shifted left by s = data_frac_bits -
        # cell_frac_bits, saturated). For s > 0 a copy of the cell buffer holds it: its
        # words are converted as the element-wise results enter, and it moves with the cell
        # buffer (every shift below is applied to both), so that each of its words is always
        # the conversion of the cell buffer's. The activation route then takes registers,
        # with no saturation in front of the activation units' ROM address.
        shift = config.data_frac_bits - config.cell_frac_bits
        if shift:
            cell_data = [Signal(word, name=f"cell_data{i}") for i in range(units)]
            cell_copies = [(cell_buf, ew_results),
                           (cell_data, [_to_data_format(y, shift, config.data_format)
                                        for y in ew_results])]
        else:
            cell_data = cell_buf
            cell_copies = [(cell_buf, ew_results)]
        for buffer, values in cell_copies:
            _shift_in(m, buffer, values, running & ic.push_cell)

        # TANH_C: the cell buffer turns once through the activation units, so that it is
        # whole again for EMIT.
        m.d.comb += [ic.cell_head[i].eq(cell_data[i]) for i in range(n_act)]
        for buffer, _ in cell_copies:
            _shift_out(m, buffer, n_act, running & is_op[Op.TANH_C], rotate=True)
        _shift_in(m, tanh_buf, act_results, running & ic.push_tanh_c)

        # HIDDEN: gate o and tanh(c) feed the element-wise units.
        _shift_out(m, gate_o, n_ew, running & ew_hidden)
        _shift_out(m, tanh_buf, n_ew, running & ew_hidden)
        _shift_in(m, hidden_buf, ew_results, running & ic.push_hidden)

        # EMIT: one (h, c) per cycle, in the order of k.
        unit_base = Signal(range(config.padded_hidden + 1))
        m.d.comb += unit_base.eq(group * units)
        emit_unit = Signal(range(config.padded_hidden + 1))
        # emit_unit < hidden_size (a real unit), registered with emit_unit from its next
        # value: emit decides the RPU's global run enable, which must not wait for a
        # comparison.
        emit_real = Signal()
        with m.If(running & is_op[Op.LOAD]):
            m.d.sync += [emit_unit.eq(unit_base), emit_real.eq(unit_base < hidden_size)]
        emitting = emit_op
        with m.If(running & emitting):
            m.d.sync += [emit_unit.eq(emit_unit + 1),
                         emit_real.eq(emit_unit + 1 < hidden_size)]
        _shift_out(m, hidden_buf, 1, running & emitting)
        for buffer, _ in cell_copies:
            _shift_out(m, buffer, 1, running & emitting, rotate=True)
        m.d.comb += [
            self.emit.eq(emitting & emit_real),
            self.emit_stream.eq(self.emit & output),
            self.emit_h.eq(hidden_buf[0]),
            self.emit_c.eq(cell_buf[0]),
            self.h_wr_addr.eq(h_address(config, layer, bank, emit_unit)),
            self.h_wr_data.eq(hidden_buf[0]),
            self.h_wr_en.eq(running & self.emit),
            *([self.h_wr_unit.eq(emit_unit)] if config.delta else []),
            self.loading.eq(running & is_op[Op.LOAD]),
            self.activity.activations.eq(running & (act_route != Op.NOP)),
            self.activity.elementwise.eq(running & (ew_route != Op.NOP)),
            self.activity.cell_read.eq(running & is_op[Op.CELL]),
            self.activity.cell_write.eq(running & ic.push_cell),
        ]

        # Saturations of real units (k < H) only: padding units compute on zeros.
        cell_unit = Signal(range(config.padded_hidden + 1))
        hidden_unit = Signal(range(config.padded_hidden + 1))
        with m.If(running & is_op[Op.LOAD]):
            m.d.sync += [cell_unit.eq(unit_base), hidden_unit.eq(unit_base)]
        with m.If(running & ic.push_cell):
            m.d.sync += cell_unit.eq(cell_unit + n_ew)
        with m.If(running & ic.push_hidden):
            m.d.sync += hidden_unit.eq(hidden_unit + n_ew)
        pushed_unit = Mux(ic.push_cell, cell_unit, hidden_unit)
        flags = [unit.saturated & (ic.push_cell | ic.push_hidden)
                 & (pushed_unit + index < hidden_size)
                 for index, unit in enumerate(ews)]
        m.d.comb += self.saturations.eq(sum_tree(flags))
        return m
