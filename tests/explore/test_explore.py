"""``python -m rpu explore``: a tiny sweep on a small imported model, on a local process
pool and on a Dask cluster (a real ``distributed.LocalCluster``), with one point
synthesized for real; CSV columns and rows, the Pareto front (checked independently),
the plots, and bad input."""

import csv
import io
import json
import struct

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM, quantize_lstm
from lstm_ref.float_lstm import lstm_forward
from rpu.compiler.calibration import calibrate, evaluate_formats
from rpu.cli import main
from rpu.config import RPUConfig
from rpu.energy.activity import energy_from_activity
from rpu.compiler import plan_schedule
from rpu.explore.sweep import COLUMNS, explore, pareto_front
from rpu.frontend import load_model
from tests.helpers import IMPORT_DATA as DATA

MODEL = str(DATA / "l1.npz")            # I = 3, H = 5, one layer
# 1 x {4, 8} lanes, {1, 2} activation units, 1 element-wise unit, 12 and 16 bits: 8
# combinations, of which 2 are invalid (2 activation units do not divide 4 lanes / 4).
SWEEP = ["--pim-arrays", "1", "--lanes-per-array", "4,8", "--activation-units", "1,2",
         "--elementwise-units", "1", "--data-widths", "12,16", "--no-synth"]
VALID = {(lanes, act, width) for width in (12, 16) for lanes, act in ((4, 1), (8, 1), (8, 2))}
# The one synthesized point: the smallest RPU (4 lanes).
TINY = ["--pim-arrays", "1", "--lanes-per-array", "4", "--activation-units", "1",
        "--elementwise-units", "1", "--data-widths", "16"]
HEADERS = [header for _, header in COLUMNS]
FILES = ["points.csv", "pareto.csv", "area_vs_latency.png", "energy_vs_accuracy.png",
         "summary.json"]


def run(argv):
    """``main(argv)``'s exit code, also when argparse exits."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def read_csv(path):
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 300
    assert len(data) > 10_000                # axes, points and labels, not a blank image
    assert data[-8:-4] == b"IEND"


def dominates(a, b):
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def check_pareto(directory):
    """pareto.csv holds exactly the non-dominated rows of points.csv (by the objectives
    summary.json names), and the pareto column says the same."""
    summary = json.loads((directory / "summary.json").read_text())
    objectives = summary["pareto"]["objectives"]
    _, rows = read_csv(directory / "points.csv")
    header, front = read_csv(directory / "pareto.csv")
    assert header == HEADERS
    values = {row["point [id]"]: [float(row[name]) for name in objectives] for row in rows}
    expected = {point for point, value in values.items()
                if not any(dominates(other, value) for other in values.values())}
    assert {row["point [id]"] for row in front} == expected
    assert {row["point [id]"] for row in rows if row["pareto [bool]"] == "true"} == expected
    assert sorted(map(int, expected)) == summary["pareto"]["points"]
    for row in front:                          # same rows as in points.csv
        assert row == next(r for r in rows if r["point [id]"] == row["point [id]"])
    return objectives, expected


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, np.load(DATA / "reference.npz")["l1_x"])     # (T=7, B=2, I=3)
    return path


@pytest.fixture(scope="module")
def pool_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "out"
    assert run(["explore", MODEL, "--inputs", str(inputs), *SWEEP, "--jobs", "2",
                "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synth-cache")


def test_pareto_front_function():
    values = [[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [1, 6]]
    # [3, 3] is dominated by [2, 2], [1, 6] by [1, 5]; equal rows do not dominate.
    assert pareto_front(values) == [0, 1, 2, 4]


def test_sweep_on_process_pool(pool_run, inputs):
    assert sorted(p.name for p in pool_run.iterdir() if p.name != ".rpu") == sorted(FILES)
    header, rows = read_csv(pool_run / "points.csv")
    assert header == HEADERS
    assert all(" [" in name and name.endswith("]") for name in header)    # units
    assert len(rows) == 6
    assert [row["point [id]"] for row in rows] == [str(i) for i in range(6)]
    assert {(int(row["lanes_per_array [lanes]"]), int(row["activation_units [units]"]),
             int(row["data_width [bits]"])) for row in rows} == VALID
    summary = json.loads((pool_run / "summary.json").read_text())
    assert summary["combinations"] == 8 and summary["points"] == 6
    assert summary["skipped_invalid"] == 2
    assert summary["backend"] == {"kind": "process pool", "jobs": 2}
    assert summary["synthesis"]["enabled"] is False

    model = load_model(MODEL)
    sequences = list(model.sequences(np.load(inputs)))
    for row in rows:
        # --no-synth: no area, no clock, and the CSV says so.
        assert "--no-synth" in row["area_clock_source [text]"]
        for name in ("total_area [mm2]", "logic_area [GE]", "f_max_estimated [MHz]",
                     "latency [us]", "power_modelled [mW]"):
            assert row[name] == ""
        values = {key: int(row[f"{key} [{unit}]"]) for key, unit in (
            ("pim_arrays", "arrays"), ("lanes_per_array", "lanes"),
            ("activation_units", "units"), ("elementwise_units", "units"),
            ("data_width", "bits"), ("data_frac_bits", "bits"), ("cell_frac_bits", "bits"),
            ("weight_width", "bits"), ("weight_frac_bits", "bits"))}
        config = RPUConfig(input_size=3, hidden_size=5, **values)
        # Cycles: the expansion model's exact schedule, over the inputs' 7 steps.
        schedule = plan_schedule(config, 3, 5)
        assert int(row["steps [steps]"]) == 7
        assert int(row["cycles_per_step [cycles]"]) == schedule.step_cycles
        assert int(row["total_cycles [cycles]"]) == schedule.total_cycles(7)
        assert float(row["utilization [fraction]"]) == schedule.utilization(7)
        energy = energy_from_activity(config, schedule.activity(7), 7,
                                      schedule.ops_per_step())
        assert float(row["energy_per_step_modelled [pJ]"]) == energy.per_step_pj
        assert float(row["efficiency_modelled [GOPS/W]"]) == energy.gops_per_watt
        # Accuracy: the fixed-point model against float64 on the inputs, with the
        # calibrated formats (no saturation on this model).
        saturations, error = evaluate_formats(
            model.layers, sequences, data_format=config.data_format,
            weight_format=config.weight_format, cell_format=config.cell_format)
        assert float(row["max_abs_error_h_vs_float64 [1]"]) == error
        assert int(row["saturations [events]"]) == sum(saturations.values()) == 0
        assert error < (2 ** -7 if config.data_width == 16 else 2 ** -4)
    # More bits, smaller error; more lanes and activation units, fewer cycles.
    by_width = {int(r["data_width [bits]"]): float(r["max_abs_error_h_vs_float64 [1]"])
                for r in rows}
    assert by_width[16] < by_width[12]
    cycles = {(int(r["lanes_per_array [lanes]"]), int(r["activation_units [units]"])):
              int(r["total_cycles [cycles]"]) for r in rows}
    assert cycles[(8, 2)] < cycles[(8, 1)] < cycles[(4, 1)]

    objectives, front = check_pareto(pool_run)
    assert objectives == ["total_cycles [cycles]", "energy_per_step_modelled [pJ]",
                          "max_abs_error_h_vs_float64 [1]"]
    assert 1 <= len(front) < 6
    check_png(pool_run / "area_vs_latency.png")
    check_png(pool_run / "energy_vs_accuracy.png")


def test_sweep_on_dask_cluster_matches_pool(pool_run, inputs, scheduler, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(["explore", MODEL, "--inputs", str(inputs), *SWEEP, "--scheduler", scheduler,
                "-o", str(out)]) == 0
    assert "6/6 points" in capsys.readouterr().err            # the progress bar
    for name in ("points.csv", "pareto.csv"):
        assert (out / name).read_text() == (pool_run / name).read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == {"kind": "dask.distributed", "scheduler": scheduler,
                                  "workers": 2}
    check_png(out / "area_vs_latency.png")


def test_synthesized_point_and_cache_on_dask(inputs, scheduler, synth_cache, tmp_path):
    # Synthesized for real in this process, then found in the cache by a Dask worker.
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(["explore", MODEL, "--inputs", str(inputs), *TINY, "--jobs", "1",
                "--synth-cache", str(synth_cache), "-o", str(first)]) == 0
    summary = json.loads((first / "summary.json").read_text())
    assert summary["synthesis"]["synthesized"] == 1 and summary["synthesis"]["cached"] == 0
    header, rows = read_csv(first / "points.csv")
    assert header == HEADERS and len(rows) == 1
    row = rows[0]
    assert row["area_clock_source [text]"].startswith("synthesis")
    area = float(row["total_area [mm2]"])
    f_max = float(row["f_max_estimated [MHz]"])
    assert 0.001 < area < 1 and 50 < f_max < 5000
    assert float(row["total_area [um2]"]) == pytest.approx(
        float(row["logic_area [um2]"]) + float(row["sram_area_modelled [um2]"]))
    assert float(row["logic_area [GE]"]) > 1000
    assert float(row["latency [us]"]) == pytest.approx(
        int(row["total_cycles [cycles]"]) / f_max)
    assert float(row["power_modelled [mW]"]) > 0 and float(row["throughput [GOPS]"]) > 0
    # The cache entry is the synthesis report (synth.json) of this configuration.
    entries = list(synth_cache.glob("*.json"))
    assert len(entries) == 1
    report = json.loads(entries[0].read_text())
    assert report["clock"]["f_max_mhz"] == f_max
    assert report["area"]["total_mm2"] == area
    objectives, _ = check_pareto(first)
    assert objectives[:2] == ["total_area [mm2]", "latency [us]"]

    assert run(["explore", MODEL, "--inputs", str(inputs), *TINY, "--scheduler", scheduler,
                "--synth-cache", str(synth_cache), "-o", str(second)]) == 0
    summary = json.loads((second / "summary.json").read_text())
    assert summary["synthesis"]["cached"] == 1 and summary["synthesis"]["synthesized"] == 0
    assert (second / "points.csv").read_text() == (first / "points.csv").read_text()
    check_png(second / "area_vs_latency.png")
    check_png(second / "energy_vs_accuracy.png")


def test_failed_synthesis_writes_nothing(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(["explore", MODEL, "--inputs", str(inputs), *TINY, "--jobs", "1",
                "--synth-cache", str(tmp_path / "cache"), "--synth-timeout", "0.5",
                "-o", str(out)]) == 1
    assert "did not finish" in capsys.readouterr().err
    assert not out.exists()


def test_sweep_over_weights_per_word(inputs, tmp_path):
    """P weights per lane word: P MACs per lane. Every row's MAC lanes and cycles are those
    of the same RPUConfig's schedule, and P = 2 with L lanes takes the cycles of P = 1 with
    2L lanes (the same MACs)."""
    out = tmp_path / "out"
    assert run(["explore", MODEL, "--inputs", str(inputs), "--pim-arrays", "1",
                "--lanes-per-array", "4,8", "--weights-per-word", "1,2,4",
                "--activation-units", "1", "--elementwise-units", "1", "--data-widths", "12",
                "--weight-widths", "8", "--no-synth", "--jobs", "1", "-o", str(out)]) == 0
    header, rows = read_csv(out / "points.csv")
    assert header == HEADERS
    assert "weights_per_word [weights]" in header and "row_scales [bool]" in header
    assert len(rows) == 6
    cycles = {}
    for row in rows:
        lanes = int(row["lanes_per_array [lanes]"])
        words = int(row["weights_per_word [weights]"])
        assert int(row["weight_width [bits]"]) == 8 and row["row_scales [bool]"] == "false"
        config = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=lanes,
                           weights_per_word=words, activation_units=1, elementwise_units=1,
                           data_width=12, weight_width=8)
        schedule = plan_schedule(config, 3, 5)
        assert int(row["mac_lanes [lanes]"]) == config.mac_lanes == lanes * words
        assert int(row["cycles_per_step [cycles]"]) == schedule.step_cycles
        assert int(row["total_cycles [cycles]"]) == schedule.total_cycles(7)
        assert float(row["utilization [fraction]"]) == schedule.utilization(7)
        cycles[(lanes, words)] = schedule.total_cycles(7)
    assert set(cycles) == {(lanes, words) for lanes in (4, 8) for words in (1, 2, 4)}
    assert cycles[(4, 2)] == cycles[(8, 1)]
    assert cycles[(4, 4)] == cycles[(8, 2)]
    assert cycles[(4, 2)] < cycles[(4, 1)]              # not vacuous: P changes the cycles
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep"]["weights_per_word"] == [1, 2, 4]
    assert summary["sweep"]["row_scales"] == [0]
    assert summary["skipped_invalid"] == 0


def test_sweep_over_batch(inputs, tmp_path):
    """A batch of B sequences: the cycles of one sequence, and the modelled energy per step
    of B sequences, less than B times one sequence's (the weight reads are shared)."""
    out = tmp_path / "out"
    assert run(["explore", MODEL, "--inputs", str(inputs), "--pim-arrays", "1",
                "--lanes-per-array", "8", "--batch", "1,4", "--activation-units", "1",
                "--elementwise-units", "1", "--data-widths", "12", "--no-synth",
                "--jobs", "1", "-o", str(out)]) == 0
    _, rows = read_csv(out / "points.csv")
    by_batch = {int(row["batch [sequences]"]): row for row in rows}
    assert set(by_batch) == {1, 4}
    one, four = by_batch[1], by_batch[4]
    assert one["total_cycles [cycles]"] == four["total_cycles [cycles]"]
    config = RPUConfig(input_size=3, hidden_size=5, pim_arrays=1, lanes_per_array=8,
                       batch=4, activation_units=1, elementwise_units=1, data_width=12,
                       weight_width=12)
    assert int(four["total_cycles [cycles]"]) == plan_schedule(config, 3, 5).total_cycles(7)
    e1, e4 = (float(r["energy_per_step_modelled [pJ]"]) for r in (one, four))
    assert 3 * e1 < e4 < 4 * e1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep"]["batch"] == [1, 4]


def test_invalid_weights_per_word_combinations_are_skipped(inputs):
    """A weight word wider than 64 bits, or MACs not a multiple of 4, is skipped and
    counted, like any invalid combination."""
    model = load_model(MODEL)
    result = explore(model, np.load(inputs), pim_arrays=[1], lanes_per_array=[1, 4],
                     weights_per_word=[2, 16], activation_units=[1], elementwise_units=[1],
                     data_widths=[12], weight_widths=[4, 8], synthesize=False, jobs=1,
                     progress_stream=io.StringIO())
    summary = result.summary
    assert summary["combinations"] == 8 and summary["points"] == len(result.rows) == 4
    assert summary["skipped_invalid"] == 4
    reasons = summary["skipped_reasons"]
    assert sum(count for reason, count in reasons.items() if "64 bits" in reason) == 2
    assert sum(count for reason, count in reasons.items() if "multiple of 4" in reason) == 2
    # The valid ones: 1 lane x 16 weights of 4 bits, and 4 lanes x 2 or 16 (4-bit) weights.
    assert sorted((row["lanes_per_array"], row["weights_per_word"], row["weight_width"],
                   row["mac_lanes"]) for row in result.rows) == [
        (1, 16, 4, 16), (4, 2, 4, 8), (4, 2, 8, 8), (4, 16, 4, 64)]


def test_sweep_over_row_scales(inputs):
    """Row scales on and off at 4-bit weights are two formats, calibrated apart; with them,
    the accuracy is that of the golden model with the calibrated shifts."""
    model = load_model(MODEL)
    x = np.load(inputs)
    result = explore(model, x, pim_arrays=[1], lanes_per_array=[4], activation_units=[1],
                     elementwise_units=[1], data_widths=[12], weight_widths=[4],
                     row_scales=[0, 1], synthesize=False, jobs=1,
                     progress_stream=io.StringIO())
    rows = {row["row_scales"]: row for row in result.rows}
    assert len(result.rows) == 2 and set(rows) == {0, 1}
    assert [f["row_scales"] for f in result.summary["formats"]] == [False, True]
    assert result.summary["sweep"]["row_scales"] == [0, 1]
    sequences = list(model.sequences(x))
    [layer] = model.layers
    references = [lstm_forward(sequence, layer["weight_ih"], layer["weight_hh"],
                               layer["bias_ih"], layer["bias_hh"]).h for sequence in sequences]
    # Without row scales: the fixed-point model with the calibrated formats and weight codes.
    plain = calibrate(model.layers, sequences, data_width=12, weight_width=4)
    config = plain.apply(RPUConfig(input_size=3, hidden_size=5, data_width=12,
                                   weight_width=4))
    _, error = evaluate_formats(model.layers, sequences, data_format=config.data_format,
                                weight_format=config.weight_format,
                                cell_format=config.cell_format, matrices=plain.matrices)
    assert rows[0]["max_abs_error_h"] == error
    # With them: quantized and narrowed by the calibrated shifts.
    scaled = calibrate(model.layers, sequences, data_width=12, weight_width=4,
                       row_scales=True)
    config = scaled.apply(RPUConfig(input_size=3, hidden_size=5, data_width=12,
                                    weight_width=4))
    assert config.row_scales
    for key in ("data_frac_bits", "cell_frac_bits", "weight_frac_bits"):
        assert rows[1][key] == getattr(config, key)
    golden = FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                       activation_segments=config.activation_segments,
                       cell_format=config.cell_format)
    [calibrated] = scaled.layers            # the calibrated weights, as `rpu run` compiles
    matrix = quantize_lstm(calibrated["weight_ih"], calibrated["weight_hh"],
                           calibrated["bias_ih"], calibrated["bias_hh"], config.weight_format,
                           row_shifts=scaled.row_shifts[0])
    assert np.max(scaled.row_shifts[0]) > 0                  # the scales do something
    largest = 0.0
    for sequence, reference in zip(sequences, references):
        [output] = golden.run_stacked([matrix], config.data_format.quantize(sequence),
                                      row_shifts=scaled.row_shifts)
        largest = max(largest, float(np.max(np.abs(
            config.data_format.to_float(output.h) - reference))))
    assert rows[1]["max_abs_error_h"] == largest
    assert rows[1]["max_abs_error_h"] < rows[0]["max_abs_error_h"]    # the scales help
    # Same resources, so the same cycles.
    assert rows[0]["total_cycles"] == rows[1]["total_cycles"]


@pytest.mark.parametrize("change, message", [
    ({"model": "missing.npz"}, "MODEL"),
    ({"model": "{garbage}"}, "MODEL"),
    ({"--lanes-per-array": "4,x"}, "--lanes-per-array"),
    ({"--data-widths": "30"}, "--data-widths"),
    ({"--pim-arrays": "0"}, "--pim-arrays"),
    ({"--weights-per-word": "0"}, "--weights-per-word"),
    ({"--weights-per-word": "17"}, "--weights-per-word"),
    ({"--weights-per-word": "2,x"}, "--weights-per-word"),
    ({"--row-scales": "2"}, "--row-scales"),
    ({"--row-scales": "-1"}, "--row-scales"),
    ({"--row-scales": "yes"}, "--row-scales"),
    ({"--inputs": "{wrong_shape}"}, "--inputs"),
    ({"--inputs": "{nan}"}, "--inputs"),
    ({"--activation-units": "3"}, "no valid point"),
    ({"--jobs": "0"}, "--jobs"),
    ({"--steps": "0"}, "--steps"),
    ({"--scheduler": "nonsense://nowhere"}, "--scheduler"),
    ({"-o": "{file}"}, "-o/--output"),
])
def test_bad_input_exits_2_and_writes_nothing(inputs, tmp_path, capsys, change, message):
    (tmp_path / "garbage.npz").write_bytes(b"not a model")
    np.save(tmp_path / "wrong_shape.npy", np.zeros((7, 4)))
    np.save(tmp_path / "nan.npy", np.full((7, 3), np.nan))
    (tmp_path / "file").write_text("")
    names = {"garbage": tmp_path / "garbage.npz", "wrong_shape": tmp_path / "wrong_shape.npy",
             "nan": tmp_path / "nan.npy", "file": tmp_path / "file"}
    options = {"model": MODEL, "--inputs": str(inputs), "--pim-arrays": "1",
               "--lanes-per-array": "4", "--activation-units": "1", "--data-widths": "16",
               "-o": str(tmp_path / "out")}
    options.update({key: value.format(**names) for key, value in change.items()})
    argv = ["explore", options.pop("model"), "--no-synth", "--jobs", "1"]
    for key, value in options.items():
        argv += [key, value]
    assert run(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["garbage.npz", "wrong_shape.npy", "nan.npy", "file"])
