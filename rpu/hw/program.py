"""The RPU's program: register map and configuration contexts, shared by the hardware and by
the expansion model that writes them.

The program is loaded through the ``program`` stream of :class:`rpu.hw.top.RPU`, one 32-bit word
per transfer at a word address (:data:`PROGRAM_ADDR_BITS` bits).

Global registers:

===========  ===========  ==========================================================
address      name         meaning
===========  ===========  ==========================================================
0            FIRST_LAYER  first layer of a run (its input comes from the x stream)
1            LAST_LAYER   last layer of a run
2            CONTEXTS     number of configuration contexts the cell engine runs per group
3            OUTPUT_ALL   1: every layer's (h, c) go out on the h stream; 0: the last only
4            DELTA        1: a delta program (an RPU with ``delta`` only; see rpu.hw.delta)
5            THETA_X      delta threshold of x, a data-format code (unsigned)
6            THETA_H      delta threshold of h, a data-format code (unsigned)
7            DELTA_PERIOD least cycles between the last columns of two row groups in a delta
                          step: the cell engine's cycles per group, plus one
16 + k       CONTEXT k    context k: a :data:`CONTEXT` word, ``op | cycles << 4``
===========  ===========  ==========================================================

Per-layer registers, at ``LAYER_BASE + LAYER_STRIDE * layer + index``:

=====  ============  ===============================================================
index  name          meaning
=====  ============  ===============================================================
0      INPUT_SIZE    input size of the layer
1      HIDDEN_SIZE   hidden size of the layer
2      COLUMNS       columns per row group, ``1 + INPUT_SIZE + HIDDEN_SIZE``
3      GROUPS        row groups, ``ceil(HIDDEN_SIZE / units_per_group)``
4      PERIOD        cycles between the starts of two row groups (>= COLUMNS)
5      GAP           idle cycles after the layer's last row group
6      WEIGHT_BASE   weight address of the layer's first row group
=====  ============  ===============================================================
"""

import enum

from amaranth.hdl import Mux
from amaranth.lib import data, enum as hdl_enum

from lstm_ref.checks import check_integer
from rpu.config import MAX_STEPS


__all__ = ["Op", "Reg", "LayerReg", "CONTEXT", "CONTEXT_BASE", "MAX_CONTEXTS", "LAYER_BASE",
           "LAYER_STRIDE", "COUNTER_WIDTH", "OP_BITS", "PROGRAM_ADDR_BITS",
           "PROGRAM_DATA_BITS", "encode_context", "context_word_formula", "layer_register",
           "h_address", "H_ADDRESS_FORMULA", "cell_address", "CELL_ADDRESS_FORMULA",
           "scale_address", "SCALE_ADDRESS_FORMULA"]


CONTEXT_BASE = 16
MAX_CONTEXTS = 16
LAYER_BASE = 32
LAYER_STRIDE = 8
PROGRAM_ADDR_BITS = 8
PROGRAM_DATA_BITS = 32
#: Width of the schedule counters (steps, group cycles) and of each context's cycle count:
#: that of the largest number of steps of a run, :data:`rpu.config.MAX_STEPS` (16 bits).
COUNTER_WIDTH = MAX_STEPS.bit_length()
#: Width of an op code in a context word.
OP_BITS = 4


class Op(hdl_enum.IntEnum):
    """What the cell engine does in one configuration context (one per cycle, for ``cycles``
    cycles); each sets the routes of the interconnect.

    The enum's own shape is inferred from its members (3 bits), so an op compared in the
    hardware is a 3-bit constant; a :data:`CONTEXT` word reserves :data:`OP_BITS` bits for
    it. (A 4-bit ``shape=`` would widen every such constant and change the generated
    Verilog.)
    """
    NOP = 0     #: nothing issued (lets unit pipelines drain)
    LOAD = 1    #: copy the lanes' narrowed dot products into the pre-activation buffer
    GATES = 2   #: pre-activation buffer -> activation units -> gate buffer
    CELL = 3    #: gate buffer (f, i, g) and cell memory -> element-wise units -> cell memory
    TANH_C = 4  #: new cell state -> activation units (tanh) -> tanh(c) buffer
    HIDDEN = 5  #: gate buffer (o) and tanh(c) buffer -> element-wise units -> hidden buffer
    EMIT = 6    #: hidden buffer -> h memory and output stream, one value per cycle


class Reg(enum.IntEnum):
    FIRST_LAYER = 0
    LAST_LAYER = 1
    CONTEXTS = 2
    OUTPUT_ALL = 3
    DELTA = 4
    THETA_X = 5
    THETA_H = 6
    DELTA_PERIOD = 7


class LayerReg(enum.IntEnum):
    INPUT_SIZE = 0
    HIDDEN_SIZE = 1
    COLUMNS = 2
    GROUPS = 3
    PERIOD = 4
    GAP = 5
    WEIGHT_BASE = 6


#: One configuration context word: the cell engine runs the :class:`Op` ``op`` for ``cycles``
#: cycles (at least 1). The hardware keeps context words as plain bits viewed through this
#: layout (a signal of the layout itself would add a Verilog wire per field).
CONTEXT = data.StructLayout({"op": OP_BITS, "cycles": COUNTER_WIDTH})


def context_word_formula():
    """The context word as text, from :data:`CONTEXT`: ``"op | cycles << 4"``."""
    return " | ".join(name if field.offset == 0 else f"{name} << {field.offset}"
                      for name, field in CONTEXT)


def layer_register(layer, register):
    """Program address of a per-layer register."""
    return LAYER_BASE + LAYER_STRIDE * layer + int(LayerReg(register))


def encode_context(op, cycles):
    """The program word of one context (a :data:`CONTEXT`)."""
    check_integer("context cycles", cycles, 1, (1 << COUNTER_WIDTH) - 1)
    return CONTEXT.const({"op": int(Op(op)), "cycles": cycles}).as_bits()


#: Where h[k] of a layer lives in the hidden-state memory, as :func:`h_address` computes it.
H_ADDRESS_FORMULA = "layer * 2 * padded_hidden + half * padded_hidden + k"


def h_address(config, layer, half, k, *, other=False):
    """Address of ``h[k]`` of ``layer`` in ``half`` (0 or 1) of the hidden-state memory
    (:data:`H_ADDRESS_FORMULA`); of the other half than ``half`` when ``other``.

    Each layer has two halves of ``padded_hidden`` words, which hold the h of the last two
    steps: a step writes the half its ``bank`` names and reads h_{t-1} from the other.

    Parameters
    ----------
    config : rpu.config.RPUConfig
    layer, half, k : int or Amaranth value
        With ints the address is an int; with any Amaranth value, an Amaranth expression.
    other : bool
        Address the other half than ``half`` (in hardware a swapped multiplexer rather than
        a ``~half`` select, which would add an inverter).
    """
    P = config.padded_hidden
    if isinstance(half, int):
        check_integer("half", half, 0, 1)
        offset = (half ^ bool(other)) * P
    else:
        offset = Mux(half, 0, P) if other else Mux(half, P, 0)
    return layer * (2 * P) + offset + k


#: Where the cell-state word holding c[k] of a layer lives in the cell-state memory (each word
#: holds ``elementwise_units`` values), as :func:`cell_address` computes it.
CELL_ADDRESS_FORMULA = "layer * cell_words + k / elementwise_units"


def cell_address(config, layer, word):
    """Address of cell-state word ``word`` (``k // elementwise_units``) of ``layer``
    (:data:`CELL_ADDRESS_FORMULA`); ints or Amaranth values alike."""
    return layer * config.cell_words + word


#: Where the scale word of a row group of a layer lives in each lane's scale memory (with
#: ``row_scales``), as :func:`scale_address` computes it; the weight stream writes it at
#: ``weight_depth + scale_address``.
SCALE_ADDRESS_FORMULA = "layer * max_groups + group"


def scale_address(config, layer, group):
    """Address of the scale word of row group ``group`` of ``layer`` in a lane's scale memory
    (:data:`SCALE_ADDRESS_FORMULA`); ints or Amaranth values alike."""
    return layer * config.max_groups + group
