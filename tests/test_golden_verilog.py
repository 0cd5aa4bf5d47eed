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
}

SRAM_MODEL = "1d06e665473b83d50d761cf2140315e8edf3889f7e267fdf8cd6067ae6d0d2c6"

HASHES = {
    "default": {
        "rpu.v": "da275c7a3be4189a327e150f6b08b4c6708ee6f815080cf3de20217f1e455304",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "fe41fab238d2e43cd4fbc0061557d15a5b5387e0ff5ecfe5fd05e14c60425105",
    },
    "stacked": {
        "rpu.v": "90f669a242eccc395b57b5b0baed1bbdc58432487d70cbfca4adce5b1b3e650d",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "26fdca801421a3e155bf28aadd29ac768c07d65c7630c6b5e27e92df4429f8b3",
    },
    "12bit": {
        "rpu.v": "09aea2e202f217d5ff413a8926d406ae40b0fcf8c526edbe80d53d227bff91fe",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "43f2d17e3c94f702618008ef9b9fa6d534756c0d4d507043353b1bbe5192185a",
    },
    "odd_lanes": {
        "rpu.v": "d52fff249926edd9f3ea7699c5ab0ff8079c930a3fb0bbbbc6162a34d4ada3eb",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "4d80871d7a32ef7ecd3c67be23c7cd9f6c5b7a685bdf2c1fb93041cebd6b952b",
    },
    "packed": {
        "rpu.v": "86035fad232003673159c7b14a8043fea1ac839abf41a892dcdba36367367ac4",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "1342079dbae2b0fac1de20a54329552632fcad205a78ebc09d1fb4c43ee58a03",
    },
    "small": {
        "rpu.v": "e71a7c8e0cec4b6132a27ce78d3b3a60e1458bd0868480a5cf30819fa80eecf3",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "9227491fddae3aac18275fced2888026ac3a4bcc0fbd8852b3393ab3fd827fe8",
    },
    "batch": {
        "rpu.v": "8872d48ecc382cf8644d508c198b4efce44ff0221d34db6a1bf6dc2fb7f02bda",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "9862432178a76512ea71e568fbb2330654496d32c510d93be5f66ed2593e0e15",
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_files_unchanged(name, tmp_path):
    generate(RPUConfig(**CONFIGS[name]), tmp_path)
    digests = {file: hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
               for file in HASHES[name]}
    assert digests == HASHES[name]
