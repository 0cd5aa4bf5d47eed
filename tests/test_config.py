"""RPUConfig: defaults, derived sizes (checked against independent arithmetic), validation
(every error names its parameter), immutability and the dict round trip."""

import dataclasses
import re
from math import ceil

import pytest

from rpu.config import RPUConfig, ConfigError


SMALL = dict(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
             activation_units=1, elementwise_units=1)


# Valid configurations and derived values ------------------------------------------------

def test_defaults_are_valid():
    config = RPUConfig()
    assert config.to_dict() == {
        "input_size": 64, "hidden_size": 128, "num_layers": 1, "pim_arrays": 4,
        "lanes_per_array": 16,
        "activation_units": 4, "elementwise_units": 2, "data_width": 16,
        "data_frac_bits": 12, "weight_width": 16, "weight_frac_bits": 12,
        "cell_frac_bits": 12, "activation_segments": 256,
    }
    # 4 x 16 = 64 lanes, 16 hidden units per group, 128 / 16 = 8 groups of 1 + 64 + 128.
    assert config.mac_lanes == 64
    assert config.units_per_group == 16
    assert config.max_groups == 8
    assert config.max_columns == 193
    assert config.weight_depth == 8 * 193
    assert config.padded_hidden == 128
    assert config.cell_words == 64
    assert config.data_format.width == 16 and config.data_format.frac_bits == 12
    assert config.weight_format.width == 16 and config.weight_format.frac_bits == 12


def test_small_config_derived_values():
    config = RPUConfig(**SMALL)
    assert config.mac_lanes == 8
    assert config.units_per_group == 2
    assert config.max_groups == 3          # 5 hidden units, 2 per group
    assert config.max_columns == 9         # bias + 3 + 5
    assert config.weight_depth == 27
    assert config.padded_hidden == 6
    assert config.cell_words == 6


VALID = [
    dict(),
    SMALL,
    dict(input_size=1, hidden_size=1, pim_arrays=1, lanes_per_array=4,
         activation_units=1, elementwise_units=1),
    dict(input_size=7, hidden_size=13, pim_arrays=2, lanes_per_array=4,
         activation_units=2, elementwise_units=1),
    dict(input_size=1, hidden_size=24, pim_arrays=3, lanes_per_array=4,
         activation_units=3, elementwise_units=1),
    dict(input_size=16384, hidden_size=16384, pim_arrays=1, lanes_per_array=1024,
         activation_units=256, elementwise_units=8),
    dict(input_size=100, hidden_size=37, pim_arrays=5, lanes_per_array=12,
         activation_units=15, elementwise_units=5, data_width=20, data_frac_bits=18,
         weight_width=20, weight_frac_bits=19, activation_segments=1 << 18),
    dict(input_size=2, hidden_size=2, pim_arrays=1, lanes_per_array=4,
         activation_units=1, elementwise_units=1, data_width=4, data_frac_bits=2,
         weight_width=2, weight_frac_bits=0, activation_segments=1),
]


@pytest.mark.parametrize("values", VALID, ids=lambda values: "-".join(
    f"{key}{value}" for key, value in values.items()) or "defaults")
def test_derived_values_match_independent_arithmetic(values):
    config = RPUConfig(**values)
    p = {**RPUConfig().to_dict(), **values}
    lanes = p["pim_arrays"] * p["lanes_per_array"]
    units = lanes // 4
    groups = -(-p["hidden_size"] // units)      # integer ceiling
    columns = 1 + p["input_size"] + p["hidden_size"]
    assert config.mac_lanes == lanes
    assert config.units_per_group == units
    assert config.max_groups == groups == ceil(p["hidden_size"] / units)
    assert groups * units >= p["hidden_size"] > (groups - 1) * units
    assert config.max_columns == columns
    assert config.weight_depth == groups * columns
    assert config.padded_hidden == groups * units
    assert config.cell_words * p["elementwise_units"] == groups * units

    # The accumulator holds the sum of max_columns products of extreme codes, whatever
    # their signs, as a signed acc_width-bit number.
    dw, ww = p["data_width"], p["weight_width"]
    data_codes = (-(1 << (dw - 1)), (1 << (dw - 1)) - 1)
    weight_codes = (-(1 << (ww - 1)), (1 << (ww - 1)) - 1)
    products = [d * w for d in data_codes for w in weight_codes]
    largest, smallest = columns * max(products), columns * min(products)
    acc = config.acc_width
    assert isinstance(acc, int)
    assert largest <= (1 << (acc - 1)) - 1
    assert smallest >= -(1 << (acc - 1))
    # ... and is not absurdly large: at most two bits more than the minimum that holds
    # both extreme sums.
    needed = max(largest.bit_length(), (-smallest - 1).bit_length()) + 1
    assert needed <= acc <= needed + 2


def test_acc_width_is_tight_at_a_power_of_two_boundary():
    # 1 + 3 + 4 = 8 columns: 8 * 2**30 = 2**33 needs 35 signed bits.
    config = RPUConfig(input_size=3, hidden_size=4, pim_arrays=1, lanes_per_array=4,
                       activation_units=1, elementwise_units=1)
    assert config.max_columns == 8
    assert 8 * (1 << 30) <= (1 << (config.acc_width - 1)) - 1
    assert config.acc_width <= 36


def test_fits():
    config = RPUConfig(**SMALL)
    assert config.fits(3, 5) and config.fits(1, 1) and config.fits(2, 4)
    assert not config.fits(4, 5)
    assert not config.fits(3, 6)
    assert not config.fits(0, 5)
    assert not config.fits(3, 0)


# Validation -----------------------------------------------------------------------------

BAD = [
    # (overrides of SMALL, parameter the message must name)
    (dict(input_size=0), "input_size"),
    (dict(input_size=-1), "input_size"),
    (dict(input_size=3.0), "input_size"),
    (dict(input_size="3"), "input_size"),
    (dict(input_size=None), "input_size"),
    (dict(input_size=True), "input_size"),
    (dict(input_size=16385), "input_size"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(hidden_size=-5), "hidden_size"),
    (dict(hidden_size=5.5), "hidden_size"),
    (dict(hidden_size=[5]), "hidden_size"),
    (dict(hidden_size=1 << 20), "hidden_size"),
    (dict(pim_arrays=0), "pim_arrays"),
    (dict(pim_arrays=-1), "pim_arrays"),
    (dict(pim_arrays=1.0), "pim_arrays"),
    (dict(lanes_per_array=0), "lanes_per_array"),
    (dict(lanes_per_array=-8), "lanes_per_array"),
    (dict(lanes_per_array="8"), "lanes_per_array"),
    (dict(lanes_per_array=3), "lanes_per_array"),             # 3 lanes: not a multiple of 4
    (dict(pim_arrays=3, lanes_per_array=2), "lanes_per_array"),   # 6 lanes
    (dict(pim_arrays=2, lanes_per_array=1024), "lanes_per_array"),  # too many lanes
    (dict(activation_units=0), "activation_units"),
    (dict(activation_units=3), "activation_units"),          # more than mac_lanes / 4 = 2
    (dict(activation_units=1.0), "activation_units"),
    (dict(elementwise_units=0), "elementwise_units"),
    (dict(elementwise_units=4), "elementwise_units"),
    (dict(elementwise_units=None), "elementwise_units"),
    (dict(data_width=3), "data_width"),
    (dict(data_width=21), "data_width"),
    (dict(data_width=16.0), "data_width"),
    (dict(data_frac_bits=-1), "data_frac_bits"),
    (dict(data_frac_bits=15), "data_frac_bits"),              # no integer bit left
    (dict(data_frac_bits=16), "data_frac_bits"),
    (dict(data_width=8, data_frac_bits=7), "data_frac_bits"),
    (dict(weight_width=1), "weight_width"),
    (dict(weight_width=21), "weight_width"),
    (dict(weight_frac_bits=-1), "weight_frac_bits"),
    (dict(weight_frac_bits=16), "weight_frac_bits"),
    (dict(weight_width=8, weight_frac_bits=8), "weight_frac_bits"),
    (dict(activation_segments=0), "activation_segments"),
    (dict(activation_segments=-256), "activation_segments"),
    (dict(activation_segments=3), "activation_segments"),
    (dict(activation_segments=255), "activation_segments"),
    (dict(activation_segments=256.0), "activation_segments"),
    (dict(activation_segments=1 << 15), "activation_segments"),   # > 2**(16 - 2)
    (dict(data_width=8, data_frac_bits=4, activation_segments=128), "activation_segments"),
]


@pytest.mark.parametrize("overrides, parameter", BAD,
                         ids=[f"{p}={list(o.values())}" for o, p in BAD])
def test_bad_values_raise_config_error_naming_the_parameter(overrides, parameter):
    with pytest.raises(ConfigError) as info:
        RPUConfig(**{**SMALL, **overrides})
    assert parameter in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["activation_units", "elementwise_units"])
@pytest.mark.parametrize("value", [3, 5, 6, 7])
def test_units_not_dividing_a_group_list_the_allowed_values(name, value):
    # 4 x 4 = 16 lanes, 4 hidden units per group: 1, 2, 4 allowed.
    base = dict(SMALL, pim_arrays=4, lanes_per_array=4)
    with pytest.raises(ConfigError) as info:
        RPUConfig(**{**base, name: value})
    message = str(info.value)
    assert name in message
    if value < 4:
        assert "1, 2, 4" in message


@pytest.mark.parametrize("name", ["activation_units", "elementwise_units"])
def test_units_dividing_a_group_are_accepted(name):
    base = dict(SMALL, pim_arrays=3, lanes_per_array=8)   # 6 hidden units per group
    for value in (1, 2, 3, 6):
        assert getattr(RPUConfig(**{**base, name: value}), name) == value
    with pytest.raises(ConfigError, match=f"{name}.*1, 2, 3, 6"):
        RPUConfig(**{**base, name: 4})


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        RPUConfig(3, 5, 1, 8, 1, 1)


# Immutability and serialisation ---------------------------------------------------------

@pytest.mark.parametrize("name", ["input_size", "hidden_size", "pim_arrays", "data_width",
                                  "activation_segments"])
def test_frozen(name):
    config = RPUConfig(**SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, name, 7)
    assert config == RPUConfig(**SMALL)


def test_frozen_derived_values():
    config = RPUConfig(**SMALL)
    with pytest.raises(AttributeError):
        config.mac_lanes = 16


def test_hashable_and_equal_by_value():
    assert hash(RPUConfig(**SMALL)) == hash(RPUConfig(**SMALL))
    assert RPUConfig(**SMALL) != RPUConfig(**dict(SMALL, hidden_size=6))


@pytest.mark.parametrize("values", VALID)
def test_dict_round_trip(values):
    config = RPUConfig(**values)
    values = config.to_dict()
    # row_scales and delta appear only when on (test_row_scales_dict_round_trip,
    # tests/hw/test_delta.py), weights_per_word and batch only when not 1
    # (test_packed_words_dict_round_trip, test_batch_sizes).
    assert set(values) == {field.name for field in dataclasses.fields(RPUConfig)} \
        - {"row_scales", "delta", "weights_per_word", "batch"}
    assert all(type(value) is int for value in values.values())
    again = RPUConfig.from_dict(values)
    assert again == config
    assert again.to_dict() == values
    values["hidden_size"] = 1000
    assert config.hidden_size != 1000          # to_dict returns a copy


def test_from_dict_partial_uses_defaults():
    assert RPUConfig.from_dict({"hidden_size": 32}) == RPUConfig(hidden_size=32)


def test_from_dict_unknown_key():
    values = dict(RPUConfig(**SMALL).to_dict(), mac_lanes=8, hiden_size=5)
    with pytest.raises(ConfigError) as info:
        RPUConfig.from_dict(values)
    assert "hiden_size" in str(info.value)
    assert "mac_lanes" in str(info.value)


def test_from_dict_validates():
    with pytest.raises(ConfigError, match="lanes_per_array"):
        RPUConfig.from_dict(dict(SMALL, lanes_per_array=6))


# Formats that follow the widths, and per-row scales ---------------------------------------

@pytest.mark.parametrize("width, frac_bits", [(16, 12), (12, 8), (8, 4), (5, 1), (4, 0),
                                              (3, 0), (2, 0), (20, 16)])
def test_weight_frac_bits_follow_the_width(width, frac_bits):
    config = RPUConfig(**SMALL, weight_width=width)
    assert config.weight_frac_bits == frac_bits
    assert config.to_dict()["weight_frac_bits"] == frac_bits
    # Given, it is kept.
    assert RPUConfig(**SMALL, weight_width=width, weight_frac_bits=width - 1) \
        .weight_frac_bits == width - 1


@pytest.mark.parametrize("width, frac_bits", [(16, 12), (12, 8), (8, 4), (4, 0), (20, 16)])
def test_data_frac_bits_follow_the_width(width, frac_bits):
    config = RPUConfig(**SMALL, data_width=width, activation_segments=1)
    assert (config.data_frac_bits, config.cell_frac_bits) == (frac_bits, frac_bits)


def test_row_scales_sizes():
    config = RPUConfig(**SMALL, row_scales=True)
    assert config.row_scales is True
    assert config.scale_depth == 3             # 1 layer x 3 groups
    assert config.load_depth == 27 + 3
    stacked = RPUConfig(**dict(SMALL, num_layers=3), row_scales=True)
    assert stacked.scale_depth == 3 * 3
    off = RPUConfig(**SMALL)
    assert (off.scale_depth, off.load_depth) == (0, 27)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (1, True),
                                             (0, False)])
def test_row_scales_values(value, expected):
    assert RPUConfig(**SMALL, row_scales=value).row_scales is expected


@pytest.mark.parametrize("value", ["yes", 2, -1, None, 1.0, [True]])
def test_bad_row_scales_named(value):
    with pytest.raises(ConfigError, match="^row_scales must be True or False"):
        RPUConfig(**SMALL, row_scales=value)


def test_row_scales_need_four_weight_bits():
    with pytest.raises(ConfigError, match="^weight_width must be at least 4 with row_scales .*, not 3$"):
        RPUConfig(**SMALL, weight_width=3, row_scales=True)
    assert RPUConfig(**SMALL, weight_width=4, row_scales=True).weight_format.width == 4


def test_row_scales_dict_round_trip():
    config = RPUConfig(**SMALL, row_scales=True)
    values = config.to_dict()
    assert values["row_scales"] is True
    assert set(values) == {field.name for field in dataclasses.fields(RPUConfig)} \
        - {"weights_per_word", "batch", "delta"}
    assert RPUConfig.from_dict(values) == config
    assert RPUConfig.from_dict(values) != RPUConfig(**SMALL)


def test_packed_words_sizes():
    """4 lanes of 2 weights: 8 MAC lanes, 2 hidden units per row group, 16-bit words."""
    config = RPUConfig(**dict(SMALL, lanes_per_array=4), weights_per_word=2, weight_width=8)
    assert (config.lanes, config.macs_per_array, config.mac_lanes) == (4, 8, 8)
    assert config.units_per_group == 2
    assert config.max_groups == 3              # ceil(5 / 2)
    assert config.weight_word_bits == 16
    assert config.weight_depth == 3 * config.max_columns
    plain = RPUConfig(**SMALL)
    assert (plain.lanes, plain.mac_lanes, plain.weight_word_bits) == (8, 8, 16)


def test_packed_words_dict_round_trip():
    config = RPUConfig(**SMALL, weights_per_word=4, weight_width=4)
    values = config.to_dict()
    assert values["weights_per_word"] == 4
    assert RPUConfig.from_dict(values) == config


@pytest.mark.parametrize("values, message", [
    (dict(weights_per_word=0), "weights_per_word must be from 1 to 16, not 0"),
    (dict(weights_per_word=17, weight_width=2), "weights_per_word must be from 1 to 16, not 17"),
    (dict(weights_per_word=2.0), "weights_per_word must be an integer, not 2.0"),
    (dict(weights_per_word=True), "weights_per_word must be an integer, not True"),
    (dict(weights_per_word=5, weight_width=16),
     "weights_per_word * weight_width (the lanes' weight word) must be at most 64 bits, not "
     "5 * 16 = 80"),
    (dict(weights_per_word=3, lanes_per_array=3),
     "pim_arrays * lanes_per_array * weights_per_word (MAC lanes) must be a multiple of 4 "
     "(one lane per gate of each hidden unit), not 9"),
    (dict(weights_per_word=16, weight_width=4, lanes_per_array=128),
     "pim_arrays * lanes_per_array * weights_per_word (MAC lanes) must be at most 1024, not "
     "2048"),
])
def test_bad_weights_per_word_named(values, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RPUConfig(**dict(SMALL, **values))


def test_batch_sizes():
    """A batch multiplies the MACs, not the MAC lanes, the groups or the memories' depth."""
    config = RPUConfig(**SMALL, batch=4)
    plain = RPUConfig(**SMALL)
    assert (config.mac_lanes, config.macs) == (8, 32)
    assert (config.max_groups, config.weight_depth, config.h_memory_depth) == \
        (plain.max_groups, plain.weight_depth, plain.h_memory_depth)
    values = config.to_dict()
    assert values["batch"] == 4 and "batch" not in plain.to_dict()
    assert RPUConfig.from_dict(values) == config


@pytest.mark.parametrize("values, message", [
    (dict(batch=0), "batch must be from 1 to 16, not 0"),
    (dict(batch=17), "batch must be from 1 to 16, not 17"),
    (dict(batch=2.0), "batch must be an integer, not 2.0"),
    (dict(batch=16, lanes_per_array=512),
     "mac_lanes * batch (the MACs) must be at most 4096, not 512 * 16 = 8192"),
])
def test_bad_batch_named(values, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RPUConfig(**dict(SMALL, **values))
