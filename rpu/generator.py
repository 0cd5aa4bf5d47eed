"""Elaborate an RPU and write its Verilog and its parameter file.

``generate(config, out_dir)`` writes into ``out_dir``:

* ``rpu.v`` -- the RPU, top module ``rpu``; every RAM is an instance of ``rpu_sram``;
* ``rpu_sram.v`` -- a behavioural model of ``rpu_sram`` for simulation (synthesis flows map
  ``rpu_sram`` to SRAM macros or keep it as a black box);
* ``rpu.json`` -- the parameter file: configuration, ports, memories, program registers and
  the predicted schedule.

The files are written completely or not at all: they are produced in a temporary directory
beside ``out_dir`` and moved into place only when all are done.
"""

import json

from amaranth.back import verilog
from amaranth.hdl import Shape

from pim.sram import SRAM_MODEL_VERILOG, SRAM_MODULE
from rpu.files import write_files_atomically, check_out_dir
from rpu.config import RPUConfig, SCALE_BITS
from rpu.compiler.schedule import plan_schedule
from rpu.hw.program import (Reg, LayerReg, Op, CONTEXT_BASE, MAX_CONTEXTS, LAYER_BASE,
                            LAYER_STRIDE, PROGRAM_ADDR_BITS, COUNTER_WIDTH, H_ADDRESS_FORMULA,
                            CELL_ADDRESS_FORMULA, SCALE_ADDRESS_FORMULA, context_word_formula)
from rpu.hw.top import (RPU, STATUS_WIDTH, ACTIVITY_COUNTERS, weight_layout, state_layout,
                        program_layout, output_layout, activity_layout)


__all__ = ["generate", "emit_verilog", "describe"]

#: Version of the layout of rpu.json.
PARAMETER_FILE_VERSION = 1
#: Steps of the sequence over which rpu.json states the predicted utilization.
REPORT_STEPS = 20


def emit_verilog(config, *, sram_macros=True):
    """The Verilog text of the RPU (top module ``rpu``), deterministic for a configuration.

    With ``sram_macros`` (the default) every RAM is an ``rpu_sram`` instance whose model is
    :data:`pim.sram.SRAM_MODEL_VERILOG`; without, RAMs are Verilog arrays with an initial
    value for every word (slow to emit for large capacities).
    """
    return verilog.convert(RPU(config=config, sram_macros=sram_macros), name="rpu",
                           emit_src=False)


def _bit_ranges(layout):
    """``{field: "bits [msb:lsb]"}`` of a StructLayout (zero-width fields say so)."""
    ranges = {}
    for name, field in layout:
        width = Shape.cast(field.shape).width
        ranges[name] = (f"bits [{field.offset + width - 1}:{field.offset}]" if width
                        else "0 bits (absent)")
    return ranges


def _stream(name, direction, layout_or_width, description, meaning=None):
    """A stream port: its Verilog signals and payload fields."""
    if isinstance(layout_or_width, int):
        bits, fields = layout_or_width, None
    else:
        bits, fields = layout_or_width.size, _bit_ranges(layout_or_width)
    port = {"name": name, "direction": direction, "kind": "stream",
            "signals": {"valid": f"{name}__valid", "ready": f"{name}__ready",
                        "payload": f"{name}__payload"},
            "payload_bits": bits, "description": description}
    if fields is not None:
        port["payload"] = fields
    if meaning is not None:
        port["payload_meaning"] = meaning
    return port


def _ports(config):
    W, Ww, B = config.data_width, config.weight_width, config.batch
    return [
        {"name": "clk", "direction": "in", "width": 1, "description": "clock (rising edge)"},
        {"name": "rst", "direction": "in", "width": 1,
         "description": "synchronous reset, active high"},
        _stream("weights", "in", weight_layout(config),
                "weight memory load, one address of every lane of one array per transfer; "
                "ready while busy is low",
                {"array": "PIM array index",
                 "addr": "weight word address" + (
                     f"; from weight_depth = {config.weight_depth} on, the scale memories "
                     f"(a row's shift in the low 4 bits of its lane's word) at weight_depth + "
                     f"{SCALE_ADDRESS_FORMULA}" if config.row_scales else ""),
                 "data": f"{config.macs_per_array} x {Ww}-bit signed weights, lane 0 in the "
                         f"lowest bits" + (
                             f" (MAC lane k: weight k % {config.weights_per_word} of lane k // "
                             f"{config.weights_per_word}'s word)"
                             if config.weights_per_word > 1 else "")}),
        _stream("program", "in", program_layout(),
                "program load (see program_registers); ready while busy is low",
                {"addr": "program word address", "data": "program word"}),
        _stream("state", "in", state_layout(config),
                "initial state load (h0, c0) for a run with keep_state; ready while busy "
                "is low",
                {"target": "0 = h, 1 = c", "layer": "layer index",
                 **({"sequence": "sequence of the batch"} if B > 1 else {}),
                 "index": "h: hidden unit; c: word of elementwise_units units",
                 "data": f"h: the low {W} bits; c: {config.elementwise_units} x {W} bits "
                         f"(cell format), lowest unit in the lowest bits"}),
        _stream("x", "in", W * B,
                f"inputs, I words of Q{config.data_format.int_bits}.{config.data_frac_bits} "
                f"per step, x_t[0] first, through a two-word buffer (ready from a "
                f"register; up to two words are taken before they are needed)" + (
                    f"; each transfer carries that word of all {B} sequences, sequence b in "
                    f"bits [{W}*b+{W - 1}:{W}*b]" if B > 1 else "")),
        _stream("h", "out", output_layout(config) if B == 1 else 2 * W * B,
                "outputs, H (h, c) pairs per step, unit 0 first; of the last layer, or of "
                "every layer in order when the program sets OUTPUT_ALL" + (
                    f"; each transfer carries that pair of all {B} sequences, sequence b in "
                    f"bits [{2 * W}*b+{2 * W - 1}:{2 * W}*b], h in the low {W} bits"
                    if B > 1 else ""),
                {"h": f"Q{config.data_format.int_bits}.{config.data_frac_bits}",
                 "c": f"Q{config.cell_format.int_bits}.{config.cell_frac_bits}"}),
        {"name": "start", "direction": "in", "width": 1,
         "description": "start a run (taken in a cycle where busy is low and steps != 0)"},
        {"name": "steps", "direction": "in", "width": COUNTER_WIDTH,
         "description": "time steps of a run, sampled with start"},
        {"name": "keep_state", "direction": "in", "width": 1,
         "description": "start from the state the previous run left (or the state stream "
                        "loaded) instead of zeros; sampled with start"},
        {"name": "busy", "direction": "out", "width": 1,
         "description": "a run is in progress or its last h has not been taken yet"},
        {"name": "stalled", "direction": "out", "width": 1,
         "description": "busy, and every pipeline holds this cycle: an x word is needed and "
                        "none is buffered, or two h words wait to be taken"},
        {"name": "cycles", "direction": "out", "width": STATUS_WIDTH,
         "description": "busy cycles of the last run (from the cycle after start)"},
        {"name": "saturations", "direction": "out", "width": STATUS_WIDTH,
         "description": "saturation events of the last run"},
        {"name": "activity", "direction": "out",
         "width": STATUS_WIDTH * len(ACTIVITY_COUNTERS),
         "fields": _bit_ranges(activity_layout()),
         "description": "event counters of the last run, for the energy model"},
    ]


def _scale_memories(config):
    """The lanes' scale memories (with row scales): rpu.json's entry, or none."""
    if not config.row_scales:
        return []
    return [{"name": "pim{a}.lane{l}.scales", "count": config.lanes,
             "words": config.scale_depth, "width": SCALE_BITS * config.weights_per_word,
             "contents": "lane gate*U+u: the shift (extra fractional bits) of row gate*H + "
                         "g*U + u at " + SCALE_ADDRESS_FORMULA}]


def _scale_sizes(config):
    """rpu.json's derived sizes of the scale memories (with row scales), or none."""
    if not config.row_scales:
        return {}
    return {"scale_depth": config.scale_depth, "load_depth": config.load_depth}


def describe(config, *, input_size=None, hidden_size=None):
    """The contents of rpu.json, as a dict."""
    I = config.input_size if input_size is None else input_size
    H = config.hidden_size if hidden_size is None else hidden_size
    schedule = plan_schedule(config, I, H)
    W, B = config.data_width, config.batch
    # With a batch, sequence b > 0 has its own memories and engine (name suffix _b).
    per_sequence = (f"; one per sequence of the batch ({B}; sequence b > 0's named with the "
                    f"suffix _b: x_memory_1, engine_1 ...)" if B > 1 else "")
    return {
        "version": PARAMETER_FILE_VERSION,
        "top": "rpu",
        "files": {"rtl": "rpu.v", "sram_model": "rpu_sram.v"},
        "configuration": config.to_dict(),
        "derived": {
            "mac_lanes": config.mac_lanes,
            "units_per_group": config.units_per_group,
            "max_groups": config.max_groups,
            "max_columns": config.max_columns,
            "max_layer_input": config.max_layer_input,
            "weight_depth": config.weight_depth,
            **_scale_sizes(config),
            "accumulator_width": config.acc_width,
            "data_format": str(config.data_format),
            "weight_format": str(config.weight_format),
            "rounding": "round half up, then saturate, at every narrowing",
        },
        "ports": _ports(config),
        "sram_module": SRAM_MODULE,
        "memories": [
            {"name": "pim{a}.lane{l}.weights", "count": config.lanes,
             "words": config.weight_depth, "width": config.weight_word_bits,
             "contents": "lane gate*U+u: row gate*H + g*U + u of [bias|W_ih|W_hh] at "
                         "addresses g*COLS .. g*COLS+COLS-1" + (
                             f" (MAC lanes; a word holds the weights of "
                             f"{config.weights_per_word} MAC lanes, the lowest first)"
                             if config.weights_per_word > 1
                             else "")},
            *_scale_memories(config),
            {"name": "x_memory", "count": B, "words": config.max_layer_input, "width": W,
             "contents": "x_t (the input of a run's first layer)" + per_sequence},
            {"name": "h_memory", "count": B, "words": config.h_memory_depth, "width": W,
             "contents": "per layer, h of the last two steps in alternating halves of "
                         "padded_hidden words: " + H_ADDRESS_FORMULA + per_sequence},
            {"name": "engine.cell_memory", "count": B, "words": config.cell_memory_depth,
             "width": W * config.elementwise_units,
             "contents": "per layer, c with elementwise_units values per word: "
                         + CELL_ADDRESS_FORMULA + per_sequence},
            {"name": "engine.act{n}.rom", "count": config.activation_units * B,
             "words": 2 * config.activation_segments, "width": None,
             "contents": "sigmoid and tanh segments (ROM, a Verilog array with init)"},
        ],
        "program_registers": {
            "address_bits": PROGRAM_ADDR_BITS,
            "global": {reg.name: int(reg) for reg in Reg},
            "CONTEXT_BASE": CONTEXT_BASE, "MAX_CONTEXTS": MAX_CONTEXTS,
            "context_word": context_word_formula(),
            "ops": {op.name: int(op) for op in Op},
            "per_layer": {"address": f"{LAYER_BASE} + {LAYER_STRIDE} * layer + index",
                          "index": {reg.name: int(reg) for reg in LayerReg}},
        },
        "schedule": {
            "input_size": I, "hidden_size": H,
            **schedule.to_dict(REPORT_STEPS),
        },
    }


def generate(config, out_dir, *, input_size=None, hidden_size=None):
    """Write ``rpu.v`` and ``rpu.json`` for ``config`` into ``out_dir``.

    ``input_size``/``hidden_size`` choose the LSTM whose schedule rpu.json reports (default:
    the capacity).

    Returns
    -------
    dict
        The parameter file's contents.
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    check_out_dir(out_dir)
    parameters = describe(config, input_size=input_size, hidden_size=hidden_size)
    text = emit_verilog(config)
    write_files_atomically(out_dir, {
        "rpu.v": text,
        "rpu_sram.v": SRAM_MODEL_VERILOG,
        "rpu.json": json.dumps(parameters, indent=2, sort_keys=False) + "\n",
    })
    return parameters
