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
16 + k       CONTEXT k    context k: ``op | cycles << 4`` (see :class:`Op`)
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


__all__ = ["Op", "Reg", "LayerReg", "CONTEXT_BASE", "MAX_CONTEXTS", "LAYER_BASE",
           "LAYER_STRIDE", "COUNTER_WIDTH", "PROGRAM_ADDR_BITS", "PROGRAM_DATA_BITS",
           "encode_context", "layer_register"]


class Op(enum.IntEnum):
    """What the cell engine does in one configuration context (one per cycle, for ``cycles``
    cycles); each sets the routes of the interconnect.
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


class LayerReg(enum.IntEnum):
    INPUT_SIZE = 0
    HIDDEN_SIZE = 1
    COLUMNS = 2
    GROUPS = 3
    PERIOD = 4
    GAP = 5
    WEIGHT_BASE = 6


CONTEXT_BASE = 16
MAX_CONTEXTS = 16
LAYER_BASE = 32
LAYER_STRIDE = 8
PROGRAM_ADDR_BITS = 8
PROGRAM_DATA_BITS = 32
#: Width of the schedule counters and of each context's cycle count.
COUNTER_WIDTH = 16
OP_BITS = 4


def layer_register(layer, register):
    """Program address of a per-layer register."""
    return LAYER_BASE + LAYER_STRIDE * layer + int(LayerReg(register))


def encode_context(op, cycles):
    """The program word of one context."""
    if not 1 <= cycles < (1 << COUNTER_WIDTH):
        raise ValueError(f"context cycles must be from 1 to {(1 << COUNTER_WIDTH) - 1}, "
                         f"not {cycles}")
    return int(Op(op)) | (cycles << OP_BITS)
