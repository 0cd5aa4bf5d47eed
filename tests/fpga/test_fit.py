"""The fit check (rpu.fpga.fit): resources predicted from the configuration alone, and the
refusal of a configuration that cannot fit."""

import re
from dataclasses import replace
from math import ceil

import pytest

from rpu.config import RPUConfig, ConfigError
from rpu.fpga.fit import (predict, check_fit, ebr_blocks, FitError, memories, largest_lstm,
                          largest_lstm_report, describe_largest)

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


def _largest_by_layout(lanes, blocks_per_lane):
    """The largest N whose weights fit ``blocks_per_lane`` DP16KDs of 1024 x 18 per lane, from
    the weight layout (docs/architecture.md): a lane keeps ceil(N / (lanes / 4)) row groups
    of 2N + 1 words (the I + H weights of a row and its bias)."""
    return max(n for n in range(1, 1000)
               if ceil(n / (lanes // 4)) * (2 * n + 1) <= blocks_per_lane * 1024)


def test_largest_lstm_on_the_85f_with_the_default_resources():
    largest = largest_lstm("LFE5U-85F")
    # Three blocks per lane: 64 x 3 weight blocks and the 11 others (x, h, cell state, 4
    # tables, the link's 4) are 203 of 208; four per lane would be 267.
    assert largest == RPUConfig(input_size=153, hidden_size=153)
    assert _largest_by_layout(64, 3) == 153
    assert check_fit(largest, "LFE5U-85F").ebrs == 64 * 3 + 11
    with pytest.raises(FitError, match=r"EBRs \(DP16KD\): 267 needed"):
        check_fit(replace(largest, input_size=154, hidden_size=154), "LFE5U-85F")


def test_largest_lstm_where_the_default_multipliers_do_not_fit():
    # The 25F's 28 MULT18X18D take 24 lanes, 2 activation units and one element-wise unit's
    # 2 products; one block per lane: 24 + 9 others = 33 EBRs, two would be 57 of 56.
    largest = largest_lstm("LFE5U-25F")
    assert (largest.mac_lanes, largest.activation_units, largest.elementwise_units) == \
        (24, 2, 1)
    assert largest.input_size == largest.hidden_size == _largest_by_layout(24, 1) == 54
    prediction = check_fit(largest, "LFE5U-25F")
    assert (prediction.dsps, prediction.ebrs) == (28, 33)


@pytest.mark.parametrize("device", ["LFE5U-12F", "LFE5U-25F", "LFE5U-45F", "LFE5U-85F"])
def test_largest_lstm_with_fewer_lanes_is_at_least_as_large_and_maximal(device):
    same = largest_lstm(device)
    fewer = largest_lstm(device, fewer_lanes=True)
    assert fewer.input_size >= same.input_size
    assert fewer.mac_lanes <= same.mac_lanes
    check_fit(fewer, device)
    with pytest.raises(FitError):
        check_fit(replace(fewer, input_size=fewer.input_size + 1,
                          hidden_size=fewer.hidden_size + 1), device)
    # No other lane count takes a larger one: every multiple of 4 lanes, 1 activation and 1
    # element-wise unit (the fewest), one array.
    for lanes in range(4, 65, 4):
        try:
            candidate = RPUConfig(input_size=fewer.input_size + 1,
                                  hidden_size=fewer.hidden_size + 1, pim_arrays=1,
                                  lanes_per_array=lanes, activation_units=1,
                                  elementwise_units=1)
        except ConfigError:
            continue
        assert predict(candidate, device).overflows()


def test_largest_lstm_report_names_the_limit():
    report = largest_lstm_report("LFE5U-85F")
    assert report["same_lanes"]["size"] == 153
    assert report["same_lanes"]["limited_by"] == ["EBRs (DP16KD)"]
    assert "I = H = 153 with 64 MAC lanes (4 x 16)" in describe_largest(report["same_lanes"])


def test_refusal_names_the_largest_lstm_that_fits():
    with pytest.raises(FitError, match=r"The largest square one-layer LSTM that fits the "
                                       r"LFE5U-85F: --input-size 153 --hidden-size 153 "
                                       r"--pim-arrays 4 --lanes-per-array 16"):
        check_fit(RPUConfig(input_size=256, hidden_size=256), "LFE5U-85F")


def test_largest_lstm_refuses_bad_arguments():
    with pytest.raises(ValueError, match="device must be one of"):
        largest_lstm("LFE5U-99F")
    with pytest.raises(TypeError, match="resources must be an RPUConfig"):
        largest_lstm("LFE5U-85F", dict(input_size=4))
