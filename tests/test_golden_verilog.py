"""The generated files of four configurations, pinned by their SHA-256.

The hashes were first taken from the output of commit 80c58b2, before the package was
reorganised into sub-packages (issue 8): a change of layout must not change a byte of the
Verilog. A deliberate change of the hardware updates a hash here, and its commit says why.

Re-pinned in issue 9 (item 4, a clock set by the datapath), where the hardware changed on
purpose: the status counters are registered (events registered, then counted; saturation
flags registered, summed, then counted; ``busy`` covers the two extra cycles), the
controller's ``need_x`` (which decides the run enable) and the cell engine's running
context are registers, the element-wise units register their operands and multiply in two
half-width partial products, the activation units multiply and add in separate stages, and
the PIM lanes' MAC is pipelined deeper (operands registered, two half-width partial
products, carry-delayed accumulate, narrowing in a stage of its own).

Re-pinned in issue 9 (item 2, packed weight words): a lane's ports are indexed by its MACs
(``wr_data``, ``results``, ``saturated`` are arrays of ``weights_per_word`` elements; the
one-MAC lane's ``result`` became ``results``), so ``rpu.v`` changed in name only; every
``rpu.json`` of one weight per word is unchanged. The ``packed`` configuration was added.

Re-pinned in issue 9 (item 3, batches): the top level builds its x and h memories and the
operand multiplexer per sequence (one sequence without a batch: the same logic, emitted in
another order), so ``rpu.v`` changed in order only; every ``rpu.json`` is unchanged.

Re-pinned in issue 9 (batch 8 at 4,000 GOPS/W): the lanes build their product stage only
for multipliers wider than 8 x 8 bits (``RPUConfig.registered_products``), and none of the
configurations before has so small a multiplier, so ``rpu.v`` changed in the numbering of
internal port names only. The ``small`` configuration (8-bit data, 4-bit weights with row
scales: no product register, the arrays register the issue) and the ``batch`` configuration
(two sequences) were added.

Re-pinned in issue 11 (the run enable's fan-out on an FPGA): the x and h streams pass
through two-word buffers whose ready and valid come from registers (so that the run enable
is a function of three registers), the top level has a ``stalled`` output, the controller's
last-group and last-step flags and the cell engine's end-of-context, EMIT and real-unit
flags are registered one cycle ahead, the cell engine's context register holds a NOP while
idle, and the activation units register their ROM word before the multiplier (LATENCY 4:
the engine's activation drains take a cycle more). Every ``rpu.v`` changed, and every
``rpu.json`` (the activation drains in the program's contexts, and the new port).

Re-pinned in issue 11 (S's critical path on the ULX3S after the host link's fixes): the cell
engine registers one flag per op with its context (``load_op`` ... ``emit_op``), so that its
buffers' clock enables are the run enable and'ed with a register. Every ``rpu.v`` changed;
every ``rpu.json`` is unchanged.

Re-pinned in issue 12 (the delta mode): the operand source enum has two more values
(X_DELTA, H_DELTA), which every ``rpu.v`` names in its enum attributes (the logic of the
configurations without ``delta`` is unchanged), and the register map in every ``rpu.json``
has the DELTA, THETA_X, THETA_H and DELTA_PERIOD registers. The ``delta`` configuration
(delta units, pre-activation memories) was added.

Re-pinned in issue 11 (f_max of S on the ULX3S): the run enable is a register loaded with the
next cycle's run (the controller's ``need_x_next``, the stream buffers' ``level_next``); the
activation units compute their ROM index without the full negation, and TANH_C's conversion
of c to the data format moved to where the cell buffer is written; the lanes' sums start from
the rounding bias and saturation is a check of the high bits; the lanes' saturation flags are
registered as one count per array and every ``sum_tree`` is balanced. The activation units
take both candidate inputs (pre-activation and cell buffer heads) and select the finished
segment index, offset and sign with a one-hot select from the interconnect. Every ``rpu.v``
changed; every ``rpu.json`` is unchanged (no cycle moved).

Re-pinned in issue 11 (S at 100 MHz on the ULX3S): a lane's weight word register is the
weight memory's output register (``SRAM(output_register=True)``, which the ECP5 platform maps
to the block RAM's own), no longer a register of the lane, and the weight memory's write port
is registered (``write_register``); the load streams' ready is a register (idle in the
previous cycle and not starting), the weights' also low in a cycle with ``start``; the
controller compares the period's cycle with a register holding the period's last cycle.
Every ``rpu.v`` changed; every ``rpu.json`` is unchanged (no cycle of a run moved).

Re-pinned in issue 11 (S at 100 MHz on the ULX3S, continued): a lane registers its weight
word a second time, beside its operand (a DSP block's input registers on the ECP5), so the
lanes' latency is 6; the x and h memories have output registers and are addressed a cycle
ahead, and the operand is registered after its multiplexer, arriving two cycles after the
issue; the activation units register the segment index before the ROM
(latency 5); the cell-state memory has an output register and is addressed a cycle ahead; a
start clears the status counters one cycle later, from a register. Every ``rpu.v`` and every
``rpu.json`` changed (the engine's contexts, the pipeline latency and the gaps moved).

Re-pinned in issue 11 (f_max of S on the ULX3S at nextpnr seed 1): the controller's
period end is a register set a cycle ahead (``period_end``, from a compare with the period's
last but one cycle) instead of a compare of the cycle counter with the period's last. Every
``rpu.v`` changed; every ``rpu.json`` is unchanged (no cycle moved).
"""

import hashlib

import pytest

from rpu.config import RPUConfig
from rpu.generator import generate


CONFIGS = {
    "default": dict(input_size=64, hidden_size=128),
    "stacked": dict(input_size=20, hidden_size=24, num_layers=3),
    "12bit": dict(input_size=16, hidden_size=32, data_width=12, data_frac_bits=8,
                  weight_width=12, weight_frac_bits=8),
    "odd_lanes": dict(input_size=10, hidden_size=13, pim_arrays=4, lanes_per_array=3,
                      activation_units=3, elementwise_units=1),
    "packed": dict(input_size=16, hidden_size=32, lanes_per_array=4, weights_per_word=4,
                   weight_width=8, row_scales=True),
    "small": dict(input_size=16, hidden_size=32, lanes_per_array=4, data_width=8,
                  weight_width=4, row_scales=True, activation_segments=64),
    "batch": dict(input_size=16, hidden_size=32, lanes_per_array=4, batch=2),
    "delta": dict(input_size=16, hidden_size=32, lanes_per_array=4, delta=True),
}

SRAM_MODEL = "1d06e665473b83d50d761cf2140315e8edf3889f7e267fdf8cd6067ae6d0d2c6"

HASHES = {
    "default": {
        "rpu.v": "70b8c1fd72cee88d73360d09cda571218e274b14eaa5b0af8269e9621643682a",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "b22c51a8a1ea58426f80fac5899c2a67393102db6e6675e3076abaf6b44e4016",
    },
    "stacked": {
        "rpu.v": "04914926ac2b81342047eb030356834b278629bc85fb3eb071af3fd34c14e167",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "4caea0e001a32cb73568176e07c0a47a189ce4aafced2e842bbf22baba316ac5",
    },
    "12bit": {
        "rpu.v": "cb61a3408ba1c8bcaabf916e915d9a392939cd3f114b539a8dd238e0f9bdc894",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "9f8485ed3ccca6cf54bf56c7f95e571ee4e89ab0d916ba0addc85bf5a736b418",
    },
    "odd_lanes": {
        "rpu.v": "1abc1593ac35a3e0c8e8c786883fab4e9816371a83b63ae780d233ee9b4af8c0",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "869d58351aa5a2668e7f07bdb5d9829f8cebeea9113ce22835d9fd1758f613ee",
    },
    "packed": {
        "rpu.v": "9a40ddbdd4eb38f6cd54d889bb8c849d9d19b727e0093f53d11dcade282c5191",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "01a1fdc8aa8b35e129d1811aa99c2da0e1f9e39d05675570de919357b8d919e4",
    },
    "small": {
        "rpu.v": "00877360ef0cb42146e689d81282c9663a889999d1c438049fbeeeae71f8dbef",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "730b9eceebc46a54b08f45d451dbda7cae7c53d11e2b57e72307466aaa405cec",
    },
    "batch": {
        "rpu.v": "568b6fa8854ae6ad0d22b112949565538b15ad7293c2a9884148a4a52e8bdf9c",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "fc7acc8bf0548aca34ff0e31047af9cc51b58de5e704ea58d0f7d7ea6940dcfe",
    },
    "delta": {
        "rpu.v": "9dfd80a23e2c29e9f2ead1fb375769b46fae360f910c85fadaf40434fecc2961",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "928b2a767efec51a8d8fb8276d730bdf97ccb18b0a436845c0c846d4c02607fb",
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_files_unchanged(name, tmp_path):
    generate(RPUConfig(**CONFIGS[name]), tmp_path)
    digests = {file: hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
               for file in HASHES[name]}
    assert digests == HASHES[name]
