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
        "rpu.v": "992c7fcb1788d03fb7b5902fc17299a91f5fd3311d777ab8f9709750dfd24954",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "4072adae7e85ecde1bde22c1ef48dad5f9b6c4d9da4e04e21f46e0e76cc9fcde",
    },
    "stacked": {
        "rpu.v": "0b28ee21c7996533452f44281ec8d6bad0610ee8675928c65fb0438f495f7a73",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "a7457c0339e5d3ce7685a485ab2f7e22c474edcf3b2397758438fd9e2c60c35f",
    },
    "12bit": {
        "rpu.v": "38109bdedf61fd507d072830ef2620738ad536f317bddcf6cd2352406468057c",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "65dfe80834c76172b2e55b45fcbec84e8f7ead8e4af39e5ebc461a784acc821f",
    },
    "odd_lanes": {
        "rpu.v": "5d5a3a40968c6430f2326e7abd1efebd0f73b9ef5de5865c509acbc527778edf",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "2bdc6e9e33967582f89ca84a2836cd5616ec635851d1d425886e890a365b999c",
    },
    "packed": {
        "rpu.v": "b8856114f650d4d1f415dade06cc58ee4dd070dfb936d8b78804579cce16a9dc",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "7ca8d04a731a8a756843d54f67fdd1cbb4ea95b00a8d3ebac3e8488f499f6969",
    },
    "small": {
        "rpu.v": "195737cad07c6091e291916efaeff322bb3c51c2cc35af8d4370c2e5651282ef",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "3e8ca1c8735dfc1b585a48984df309357e33a3c31fa57af77060c6ae82211a09",
    },
    "batch": {
        "rpu.v": "05a40f7edbf059ebca4b7e08f68fb0e9b6e3315ae9157b3bdc7aa81a66b0bf27",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "7e50929f594449773242678f06cdb8e301567dca03680c3aa98192431c8611a3",
    },
    "delta": {
        "rpu.v": "0673877160be42205e963f2b11a6cf996a622cdc8b5ed84b6d31c14952db26b4",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "59da9ce3a92a8901b52774f75656a832af1b16674f78f945f5ecb1c510b0f582",
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_files_unchanged(name, tmp_path):
    generate(RPUConfig(**CONFIGS[name]), tmp_path)
    digests = {file: hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
               for file in HASHES[name]}
    assert digests == HASHES[name]
