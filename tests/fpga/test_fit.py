"""The fit check (rpu.fpga.fit): resources predicted from the configuration alone, and the
refusal of a configuration that cannot fit."""

import re

import pytest

from rpu.config import RPUConfig, ConfigError
from rpu.fpga.fit import predict, check_fit, ebr_blocks, FitError, memories

SMALL = dict(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
             activation_units=1, elementwise_units=1)


def test_ebr_blocks_take_the_best_dp16kd_shape():
    assert ebr_blocks(512, 36) == 1
    assert ebr_blocks(1024, 18) == 1
    assert ebr_blocks(2048, 9) == 1
    assert ebr_blocks(1544, 16) == 2        # the default configuration's weight memories
    assert ebr_blocks(513, 36) == 2
    assert ebr_blocks(100, 72) == 2
    assert ebr_blocks(16384, 1) == 1
    assert ebr_blocks(8, 16) == 1


def test_small_configuration_counts():
    prediction = predict(RPUConfig(**SMALL), "LFE5U-85F")
    # 8 lane weight memories, x, h, cell state, 1 activation table, the link's buffer, its x
    # FIFO and the two halves of its h FIFO; 8 MAC lanes, 1 activation unit, 2 products of 1
    # element-wise unit.
    assert prediction.ebrs == 8 + 3 + 1 + 4
    assert prediction.dsps == 8 + 1 + 2
    assert len(memories(RPUConfig(**SMALL))) == 8


def test_default_configuration_counts():
    prediction = predict(RPUConfig(input_size=64, hidden_size=128), "LFE5U-85F")
    # 64 lanes of 1544 x 16-bit weights (2 EBRs each); h memory 256 words, cell memory
    # 64 x 32 bits, 4 tables, the link's 4 (buffer, x FIFO, the h FIFO's two halves).
    assert prediction.ebrs == 64 * 2 + 1 + 1 + 1 + 4 + 4
    assert prediction.dsps == 64 + 4 + 2 * 2


def test_refusal_names_the_overflow_and_a_configuration_that_fits():
    config = RPUConfig(input_size=16, hidden_size=32)       # default resources: 64 lanes
    with pytest.raises(FitError) as caught:
        check_fit(config, "LFE5U-25F")
    message = str(caught.value)
    assert "does not fit the LFE5U-25F" in message
    # 64 lanes, 4 activation units, 2 x 2 element-wise products; 64 weight memories of
    # 2 groups x 49 columns, the 3 state memories, 4 tables, the link's 4.
    assert "DSPs (MULT18X18D): 72 needed, 28 available" in message
    assert "EBRs (DP16KD): 75 needed, 56 available" in message
    suggested = dict(re.findall(r"--([a-z-]+) (\d+)", message.split("fits:")[1]))
    smaller = RPUConfig(input_size=16, hidden_size=32,
                        **{k.replace("-", "_"): int(v) for k, v in suggested.items()})
    fitted = check_fit(smaller, "LFE5U-25F")
    assert fitted.dsps <= 28 and fitted.ebrs <= 56
    assert smaller.mac_lanes < config.mac_lanes
    assert isinstance(caught.value, ConfigError)        # the CLI's exit 2


def test_refusal_when_no_resources_make_it_fit():
    # The default configuration's 1.6 Mbit of weights exceed the 25F's 1 Mbit of EBR.
    with pytest.raises(FitError, match=r"EBRs \(DP16KD\): 139 needed, 56 available.*No "
                                       r"configuration with this capacity fits"):
        check_fit(RPUConfig(input_size=64, hidden_size=128), "LFE5U-25F")
    config = RPUConfig(input_size=1024, hidden_size=1024)
    with pytest.raises(FitError, match=r"EBRs \(DP16KD\): \d+ needed, 208 available.*No "
                                       r"configuration with this capacity fits"):
        check_fit(config, "LFE5U-85F")
