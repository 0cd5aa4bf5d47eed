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
        "rpu.v": "84deb3c962baf740602b2d08cffb92ec2e64a672f6426cf93aaa76365e97600d",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "4692255704af0ab0fead442762f8fc21f6b6017b6649e1024e92facfdd486d33",
    },
    "stacked": {
        "rpu.v": "27e7c158abd8ff41e953b263eafd45909508c35f610bc01e242cc14d4a66b6fb",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "63613f2febbe146af825b2662e8249e130f7fe8430888e78ce72db496647b2b9",
    },
    "12bit": {
        "rpu.v": "62beea9b3d9a6fb3e13a95d464e6eef148bc97b0fd33c9ca02effc39f29633bd",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "709b6fdf2f75cb67ae7c388e9eb0846b54f465b4271a947d291dc3e8c12a3e80",
    },
    "odd_lanes": {
        "rpu.v": "46500b58f8d2f5cbb9ad740d7990ff88143a9e6cd6fb43721d71cb1f5ea14858",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "af1dc2a932bcf21f94ccbdcf0e7b1e4d2421162f3e7c0dcdfb390fdcd6466e3c",
    },
    "packed": {
        "rpu.v": "975520b84cbe8b413b6b7123e56e56bea736e3396b11f0f7d690b096c395b187",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "2c5155a441ba1edf70a0d1eaaf16e475149c2b8e44751e6091eac53bd1d8d4bb",
    },
    "small": {
        "rpu.v": "d30f2ea5707a4db160eb6d14e9cfdc4f31c762681ed3e5d1f2c5bd9c53736920",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "b0e0d680ba1da765e84a3ef60e25cf966bcacec326843034c6c955b83d5178a4",
    },
    "batch": {
        "rpu.v": "0dfca6d8b4b6f54b51cf39d2a64411748a6d03d08a633dd28dace14068640d95",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "e81bccf0c2e512b8e2636dacd57e1fa4497883f5f2e64efa93620656aae17ebf",
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_files_unchanged(name, tmp_path):
    generate(RPUConfig(**CONFIGS[name]), tmp_path)
    digests = {file: hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
               for file in HASHES[name]}
    assert digests == HASHES[name]
