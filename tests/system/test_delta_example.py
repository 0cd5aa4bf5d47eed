"""examples/delta: the delta LSTM on the CO2 series, in the bit-accurate models."""

import sys

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from tests.helpers import REPO

sys.path.insert(0, str(REPO / "examples" / "delta"))
import delta_example                                                   # noqa: E402


@pytest.fixture(scope="module")
def forecaster():
    params, head, series = delta_example.load()
    config = delta_example.formats(params, series)
    return delta_example.Forecaster(params, head, series, config), config


def test_thresholds_zero_are_the_dense_model_bit_for_bit(forecaster):
    forecaster, config = forecaster
    split = int(forecaster.series["split"])
    x = config.data_format.quantize(forecaster.series["x"][split:][:, None])
    dense = FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                      activation_segments=config.activation_segments,
                      cell_format=config.cell_format).run(forecaster.matrix, x)
    delta = forecaster.run(slice(split, None))
    assert np.array_equal(delta["h"], dense.h)
    # Threshold 0: every x and h column every step; only the bias column is saved.
    assert delta["columns"] == delta["steps"] * (1 + 16)


def test_chosen_thresholds_reproduce_the_readme(forecaster):
    forecaster, config = forecaster
    assert str(config.data_format).startswith("Q3.12")
    split = int(forecaster.series["split"])
    dense = forecaster.run(slice(split, None))
    delta = forecaster.run(slice(split, None), theta_x=512, theta_h=64)
    assert dense["dense_columns"] == 571 * 18
    assert round(dense["rmse_ppm"], 3) == 0.517 and round(delta["rmse_ppm"], 3) == 0.523
    assert delta["columns"] == 6630
    assert delta["rmse_ppm"] <= dense["rmse_ppm"] * (1 + delta_example.DEFAULT_BUDGET)
