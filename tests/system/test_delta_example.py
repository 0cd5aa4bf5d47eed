"""examples/delta: the delta LSTM on the CO2 series, in the bit-accurate models."""

import sys

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from tests.helpers import REPO

sys.path.insert(0, str(REPO / "examples" / "delta"))
import delta_example                                                   # noqa: E402

#: The thresholds (LSBs of x, of h) the README's table was made with, as the example chose
#: them on the training weeks with the default budget.
CHOSEN = {"dense-trained": (512, 128), "delta-trained": (1024, 512)}


@pytest.fixture(scope="module")
def forecasters():
    return {name: delta_example.forecaster(name) for name in delta_example.MODELS}


@pytest.fixture(scope="module")
def summary(forecasters):
    return delta_example.report(CHOSEN, delta_example.DEFAULT_BUDGET, dict(forecasters))


@pytest.mark.parametrize("name", list(delta_example.MODELS))
def test_thresholds_zero_are_the_dense_model_bit_for_bit(forecasters, name):
    forecaster = forecasters[name]
    config = forecaster.config
    split = int(forecaster.series["split"])
    x = config.data_format.quantize(forecaster.series["x"][split:][:, None])
    dense = FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                      activation_segments=config.activation_segments,
                      cell_format=config.cell_format).run(forecaster.matrix, x)
    delta = forecaster.run(slice(split, None))
    assert np.array_equal(delta["h"], dense.h)
    # Threshold 0: every x and h column every step; only the bias column is saved.
    assert delta["columns"] == delta["steps"] * (1 + 16)


def test_the_readme_table_is_the_example_s(summary):
    readme = (REPO / "examples" / "delta" / "README.md").read_text()
    results = readme[readme.index("## Results"):].splitlines()
    start = next(i for i, line in enumerate(results) if line.startswith("|"))
    end = next(i for i in range(start, len(results)) if not results[i].startswith("|"))
    assert "\n".join(results[start:end]) == delta_example.table(summary)


def test_delta_training_reaches_5x_fewer_columns_within_the_budget(summary):
    budget = delta_example.DEFAULT_BUDGET
    dense = summary["dense"]
    assert str(summary["delta"]["delta-trained"]["formats"]["data"]).startswith("Q3.12")
    assert dense["test"]["dense_columns"] == 571 * 18
    assert round(dense["test"]["rmse_ppm"], 3) == 0.517
    trained = summary["delta"]["delta-trained"]
    assert trained["test"]["columns"] == 1781
    assert trained["test"]["all_columns"] == 1782       # the first, dense step's bias column
    # At least 5x fewer x and h columns than the dense model (5.45x; 5.77x counting the
    # bias column a dense step issues too).
    assert dense["test"]["columns"] == 571 * 17
    assert trained["column_reduction"] >= 5
    # Within the budget on the weeks the thresholds were chosen on, and on the test weeks.
    assert trained["train"]["rmse_ppm"] <= dense["train"]["rmse_ppm"] * (1 + budget)
    assert trained["test"]["rmse_ppm"] <= dense["test"]["rmse_ppm"] * (1 + budget)
    # What delta-aware training buys over thresholding the densely trained network.
    assert trained["column_reduction"] > 2.5 * summary["delta"]["dense-trained"][
        "column_reduction"]


@pytest.mark.parametrize("name, neighbours", [
    ("dense-trained", ((256, 512, 768), (64, 128, 256))),
    ("delta-trained", ((768, 1024, 2048), (384, 512, 768)))])
def test_the_rule_chooses_the_table_s_thresholds_among_their_neighbours(forecasters, name,
                                                                         neighbours):
    reference = forecasters[delta_example.REFERENCE]
    train, _ = delta_example.weeks(reference.series)
    rmse = reference.run(train)["rmse_ppm"]
    pairs = [(x, h) for x in neighbours[0] for h in neighbours[1]]
    assert set(neighbours[0]) | set(neighbours[1]) <= set(delta_example.THRESHOLDS)
    assert delta_example.choose_thresholds(forecasters[name], train,
                                           delta_example.DEFAULT_BUDGET, rmse,
                                           pairs) == CHOSEN[name]
