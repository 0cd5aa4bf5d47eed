"""The generated files of four configurations, pinned by their SHA-256.

The hashes were taken from the output of commit 80c58b2, before the package was reorganised
into sub-packages (issue 8): a change of layout must not change a byte of the Verilog. A
deliberate change of the hardware updates a hash here, and its commit says why.
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
}

SRAM_MODEL = "1d06e665473b83d50d761cf2140315e8edf3889f7e267fdf8cd6067ae6d0d2c6"

HASHES = {
    "default": {
        "rpu.v": "12a33376fe67685f9f8768fa52030ee9420e3e50959d2c1f46200c1c98091f2f",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "22e2dd200d33ee8903be9e7fa9efa2925b0064f3555c9fe2e25ead9b2c093a38",
    },
    "stacked": {
        "rpu.v": "378c9a338c9a8bc7d30551699e8f1b15405b02553cf0f616b001395dcb36184d",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "61148b8ed5fc7f49a89e2e0f267c42827517085dc6fe9328bea086202c582f6b",
    },
    "12bit": {
        "rpu.v": "6cc7a95de7e3105f84a587fbb66ae170ffd75141a403656ec915c20b468e4bcc",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "4b6fce370c4dcc7ff21ec8d97099d9ae45d38a54556e26d8b4e0c9a8e47fd1cd",
    },
    "odd_lanes": {
        "rpu.v": "9a8e6d90aa27cdd18e638017ab37ca28fb9f1677b43461628127452b5a9f5ae2",
        "rpu_sram.v": SRAM_MODEL,
        "rpu.json": "50f10bdead764e862b2343b8760931b0aa9848f87f41174e07e924e5767d54a6",
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_files_unchanged(name, tmp_path):
    generate(RPUConfig(**CONFIGS[name]), tmp_path)
    digests = {file: hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
               for file in HASHES[name]}
    assert digests == HASHES[name]
