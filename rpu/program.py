"""The RPU's program: register map and configuration contexts, shared by the hardware and by
the expansion model that writes them.

The program is loaded through the ``program`` stream of :class:`rpu.top.RPU`, one 32-bit word
per transfer at a word address. Registers:

===========  =====  ================================================================
address      name   meaning
===========  =====  ================================================================
0            I      input size of the LSTM (1 .. capacity)
1            H      hidden size (1 .. capacity)
2            COLS   columns per row group, ``1 + I + H`` (bias, x, h)
3            GROUPS row groups per step, ``ceil(H / units_per_group)``
4            PERIOD cycles between the starts of two row groups (>= COLS)
5            GAP    extra idle cycles after the last row group of a step
6            NCTX   number of configuration contexts the cell engine runs per row group
16 + k       CTX k  context k: ``op | cycles << 4`` (see :class:`Op`)
===========  =====  ================================================================
"""

import enum


__all__ = ["Op", "Reg", "CONTEXT_BASE", "MAX_CONTEXTS", "COUNTER_WIDTH", "encode_context"]


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
    INPUT_SIZE = 0
    HIDDEN_SIZE = 1
    COLUMNS = 2
    GROUPS = 3
    GROUP_PERIOD = 4
    STEP_GAP = 5
    CONTEXTS = 6


CONTEXT_BASE = 16
MAX_CONTEXTS = 16
#: Width of the schedule counters and of each context's cycle count.
COUNTER_WIDTH = 16
OP_BITS = 4


def encode_context(op, cycles):
    """The program word of one context."""
    if not 1 <= cycles < (1 << COUNTER_WIDTH):
        raise ValueError(f"context cycles must be from 1 to {(1 << COUNTER_WIDTH) - 1}, "
                         f"not {cycles}")
    return int(Op(op)) | (cycles << OP_BITS)
