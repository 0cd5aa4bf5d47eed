"""From a trained model to a simulated RPU: import -> calibrate -> simulate -> report.

:func:`run_model` is the Python API behind ``python -m rpu run`` (and
``examples/digits/run_example.py``, ``scripts/bench.py``): it calibrates the fixed-point
formats of an imported model on calibration inputs (or takes the given ones), compiles it for
an RPU sized for it, simulates every input sequence cycle by cycle (Amaranth, Verilator or
Icarus), and reports the outputs, bit exactness against the fixed-point model, the error
against the float64 model, cycles (measured and predicted), utilization, modelled energy and
GOPS at the stated clock.
"""

import math
from dataclasses import replace

import numpy as np

from rpu.config import RPUConfig, MAX_STEPS


__all__ = ["run_model", "check_clock_mhz", "check_sequences", "DEFAULT_CLOCK_MHZ"]

#: Clock assumed for time-based figures unless ``clock_mhz`` (``--clock-mhz``) says otherwise.
DEFAULT_CLOCK_MHZ = 400.0


def check_clock_mhz(clock_mhz, name="clock_mhz"):
    """Return ``clock_mhz`` as a float if it is a finite positive number; else raise
    ValueError naming ``name``."""
    try:
        value = float(clock_mhz)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, not {clock_mhz!r}") from None
    if isinstance(clock_mhz, bool) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number (MHz), not {clock_mhz!r}")
    return value


def check_sequences(sequences, name="inputs", *, max_steps=MAX_STEPS):
    """Check the ``(B, T, I)`` sequences of :meth:`ImportedLSTM.sequences` before any work:
    at least one sequence, ``1 <= T <= max_steps`` (None: no upper limit), finite values.
    Raises ValueError naming ``name``."""
    if len(sequences) < 1 or sequences.shape[1] < 1:
        raise ValueError(f"{name}: holds no time step (shape {sequences.shape})")
    steps = sequences.shape[1]
    if max_steps is not None and steps > max_steps:
        raise ValueError(f"{name}: at most {max_steps} time steps per sequence (the RPU's "
                         f"step counter), not {steps}")
    if not np.all(np.isfinite(sequences)):
        raise ValueError(f"{name}: contains NaN or infinite values")


def run_model(model, x, *, config=None, calibration_inputs=None, calibrate_formats=True,
              simulator="amaranth", vcd_path=None, clock_mhz=DEFAULT_CLOCK_MHZ,
              device=None, baud_rate=None, thresholds=None, delta_budget=None):
    """Run an imported model on input sequences on a simulated RPU (or on a board).

    Parameters
    ----------
    model : rpu.frontend.ImportedLSTM
    x : array_like
        ``(T, I)``, or batched (see :meth:`ImportedLSTM.sequences`).
    config : RPUConfig, optional
        Resources and formats; its capacity is raised to fit the model (default resources
        otherwise).
    calibration_inputs : array_like, optional
        Inputs to calibrate on (default: ``x``).
    calibrate_formats : bool
        Choose the fractional bits by :func:`rpu.compiler.calibration.calibrate`; else keep
        ``config``'s.
    simulator : {"amaranth", "verilator", "icarus"}
    vcd_path : str, optional
        Waveform of the run (Amaranth simulator only).
    clock_mhz : float
        Clock for GOPS and power (an assumption unless it comes from synthesis).
    device : str, optional
        The serial port of a board built by ``python -m rpu fpga`` for this configuration:
        run there (:func:`rpu.host.run_on_board`) instead of simulating.
    baud_rate : int, optional
        The board's UART rate (default :data:`rpu.fpga.protocol.DEFAULT_BAUD_RATE`).
    thresholds : tuple of (int, int), optional
        With ``config.delta`` (the delta datapath): run the delta program with these
        ``(theta_x, theta_h)`` (data-format codes) instead of calibrating them.
    delta_budget : float, optional
        With ``config.delta`` and no ``thresholds``: the budget of
        :func:`rpu.compiler.delta_calibration.calibrate_thresholds` (the relative RMS error
        of h against the dense fixed-point model on the calibration inputs; default its
        :data:`~rpu.compiler.delta_calibration.DEFAULT_RELATIVE_RMS_BUDGET`).

    With ``config.delta`` the report has a ``"delta"`` section: the thresholds and how they
    were chosen, the sparsity of x and h on the inputs, the columns issued (weight reads and
    MACs per lane) against a dense run's, and the dense run's predicted cycles and modelled
    energy (on the same RPU without the delta datapath) beside the delta run's; ``"gops"`` is then the *effective* rate, dense operations
    per second of wall time.

    Returns
    -------
    dict
        The report; ``"h"`` holds the outputs as floats, ``(B, T, H)``.
    """
    from rpu.compiler import compile_stacked
    from rpu.compiler.calibration import calibrate
    from rpu.sim import Load, Run, simulate_session

    # Every limit is checked before the (long) calibration and simulation.
    clock_mhz = check_clock_mhz(clock_mhz)
    _check_simulator(simulator, vcd_path)
    sequences = model.sequences(x)
    check_sequences(sequences, "inputs")
    calibration_set = None
    if calibrate_formats:
        calibration_set = sequences if calibration_inputs is None else \
            model.sequences(calibration_inputs)
        check_sequences(calibration_set, "calibration_inputs", max_steps=None)
    config = _sized_config(model, config)
    if device is not None and config.delta:
        raise ValueError("delta: a board runs no delta program yet (rpu fpga builds none)")
    if device is not None and config.batch != 1:
        raise ValueError(f"batch must be 1 with a device (the host link streams one "
                         f"sequence), not {config.batch}")

    calibration = None
    if calibrate_formats:
        calibration = calibrate(model.layers, list(calibration_set),
                                data_width=config.data_width,
                                weight_width=config.weight_width,
                                activation_segments=config.activation_segments,
                                row_scales=config.row_scales)
        config = calibration.apply(config)
    # With row scales, the calibrated shifts (or, uncalibrated, the largest that do not
    # saturate any row). Calibrated, the weights are calibration's codes (rounded with error
    # compensation), as parameters on the code grid; uncalibrated, the model's rounded to
    # the nearest code.
    row_shifts = None
    if config.row_scales:
        row_shifts = calibration.row_shifts if calibration is not None else "auto"
    layers = list(calibration.layers) if calibration is not None else model.layers
    program = compile_stacked(config, layers, row_shifts=row_shifts)
    codes = [config.data_format.quantize(sequence, name="inputs") for sequence in sequences]
    delta = None
    if config.delta:
        # The thresholds are calibrated on the calibration inputs (default: the inputs).
        delta_set = codes if calibration_inputs is None else [
            config.data_format.quantize(sequence, name="calibration_inputs")
            for sequence in model.sequences(calibration_inputs)]
        program, delta = _delta_program(program, thresholds, delta_budget, delta_set)
    elif thresholds is not None or delta_budget is not None:
        raise ValueError("thresholds and delta_budget need an RPU with delta (--delta)")
    if device is not None:
        from rpu.fpga.protocol import DEFAULT_BAUD_RATE
        from rpu.host import run_on_board
        results = run_on_board(program, codes, device,
                               baud_rate=DEFAULT_BAUD_RATE if baud_rate is None else baud_rate)
        simulator = f"board at {device}"
    else:
        runs = _batches(config, codes)
        results = _per_sequence(config, simulate_session(
            config, [Load(program)] + [Run(batch) for batch in runs], simulator=simulator,
            vcd_path=vcd_path), len(codes))
    measured = _measure(model, config, program, sequences, codes, results,
                        board=device is not None)
    report = _report(model, config, program, sequences, measured, calibration, simulator,
                     clock_mhz)
    if delta is not None:
        report["delta"] = _delta_report(config, program, delta, measured, clock_mhz)
    return report


def _delta_program(program, thresholds, budget, calibration_codes):
    """The delta program of ``program``: with ``thresholds``, or with those calibrated on
    ``calibration_codes``; and how they were chosen (a dict for the report)."""
    from rpu.compiler import with_delta
    if thresholds is not None:
        theta_x, theta_h = thresholds
        chosen = {"chosen_by": "given"}
    else:
        from rpu.compiler.delta_calibration import calibrate_thresholds
        result = calibrate_thresholds(program=program, sequences=calibration_codes,
                                      budget=budget)
        theta_x, theta_h = result.theta_x, result.theta_h
        chosen = {"chosen_by": "calibration", "metric": result.metric_name,
                  "metric_value": result.metric, "budget": result.budget,
                  "calibration_x_sparsity": result.x_sparsity,
                  "calibration_h_sparsity": result.h_sparsity}
    return with_delta(program, theta_x=theta_x, theta_h=theta_h), chosen


def _delta_report(config, program, chosen, measured, clock_mhz):
    """The ``"delta"`` section of the report: thresholds, sparsity, columns and the dense
    run's cycles and energy beside the delta run's."""
    from rpu.energy.activity import energy_from_activity
    schedule = program.schedule
    layer = schedule.layers[0]
    nx, nh = measured["delta_counts"]
    later = measured["delta_later_steps"]
    dense_activity = measured["dense_activity"]
    steps = measured["run_steps"]
    dense_cycles = measured["dense_cycles"]
    # The dense run priced on an RPU without the delta datapath (whose accesses the energy
    # model counts for every program of a delta RPU).
    dense_energy = energy_from_activity(
        replace(config, delta=False), dense_activity, steps, schedule.ops_per_step(),
        seconds_per_step=dense_cycles / (clock_mhz * 1e6) / steps)
    columns = measured["activity"]["columns"]
    return {
        "theta_x": program.delta[0], "theta_h": program.delta[1], **chosen,
        "x_sparsity": 1 - nx / (later * layer.input_size) if later else 0.0,
        "h_sparsity": 1 - nh / (later * layer.hidden_size) if later else 0.0,
        "note": "sparsity over the steps after the first of each run (the first is dense)",
        "columns": columns,
        "dense_columns": dense_activity["columns"],
        "column_reduction": dense_activity["columns"] / columns,
        "dense_predicted_cycles": dense_cycles,
        "dense_gops": schedule.ops_per_step() * steps / (dense_cycles / (clock_mhz * 1e6))
        / 1e9,
        "dense_energy": dense_energy.to_dict(),
    }


def _check_simulator(simulator, vcd_path):
    from rpu.sim import SIMULATORS
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                         f"{simulator!r}")
    if vcd_path is not None and simulator != "amaranth":
        raise ValueError("vcd_path: waveforms are only written by the amaranth simulator")


def _sized_config(model, config):
    """``config`` (default resources if None) with its capacity raised to fit ``model``."""
    if config is None:
        return RPUConfig(input_size=model.input_size, hidden_size=max(model.hidden_sizes),
                         num_layers=model.num_layers)
    return replace(config, input_size=max(config.input_size, model.input_size),
                   hidden_size=max(config.hidden_size, *model.hidden_sizes),
                   num_layers=max(config.num_layers, model.num_layers))


def _batches(config, codes):
    """The x codes of each run: one sequence per run, or with a batch of B the sequences B
    at a time, (B, T, I), the last batch filled up with sequences of zeros."""
    B = config.batch
    if B == 1:
        return list(codes)
    padded = list(codes) + [np.zeros_like(codes[0])] * (-len(codes) % B)
    return [np.stack(padded[k:k + B]) for k in range(0, len(padded), B)]


def _per_sequence(config, results, count):
    """One result per sequence: a batch's result split by sequence (the first with the run's
    cycles and activity, the others with none, so that the run counts once); the filler
    sequences of the last batch dropped."""
    if config.batch == 1:
        return results
    split = []
    for result in results:
        for b in range(config.batch):
            split.append(replace(
                result, outputs=result.outputs[:, b], h=result.h[b], c=result.c[b],
                layers_h=[h[b] for h in result.layers_h],
                layers_c=[c[b] for c in result.layers_c],
                cycles=result.cycles if b == 0 else 0,
                run_cycles=result.run_cycles if b == 0 else 0,
                activity=result.activity if b == 0 else {}))
    return split[:count]


def _measure(model, config, program, sequences, codes, results, *, board=False):
    """Compare every run with the fixed-point and float64 models and add up cycles and
    activity: ``bit_exact``, ``errors``, ``outputs``, ``steps``, ``cycles``, ``predicted``,
    ``activity``."""
    fmt = config.data_format
    measured = {"bit_exact": True, "errors": [], "outputs": [], "steps": 0, "cycles": 0,
                "predicted": 0, "activity": {}, "run_steps": 0}
    if program.delta is not None:
        measured.update({"delta_counts": [0, 0], "delta_later_steps": 0,
                         "dense_activity": {}, "dense_cycles": 0})
    for sequence, sequence_codes, result in zip(sequences, codes, results):
        expected = program.reference(sequence_codes)[-1]
        measured["bit_exact"] &= bool(np.array_equal(result.h, expected.h)
                                      and np.array_equal(result.c, expected.c))
        reference = model.float_forward(sequence)[-1]
        h = fmt.to_float(result.h)
        measured["errors"].append(float(np.abs(h - reference.h).max()))
        measured["outputs"].append(h)
        measured["steps"] += len(sequence)
        if result.cycles == 0:          # a batch's later sequence: its run counted once
            continue
        measured["run_steps"] += len(sequence)
        total, run = _predicted(program, expected, len(sequence), measured)
        if board:
            # A board reports the RPU's own cycle counter (from start to the last output),
            # not the simulator's cycles from the start strobe: compare like with like.
            measured["cycles"] += result.run_cycles
            measured["predicted"] += run
        else:
            measured["cycles"] += result.cycles
            measured["predicted"] += total
        for name, count in result.activity.items():
            measured["activity"][name] = measured["activity"].get(name, 0) + count
    return measured


def _predicted(program, expected, steps, measured):
    """Predicted ``(total_cycles, run_cycles)`` of a run of ``steps`` steps; for a delta
    program from the delta model's masks (``expected``), also adding its column counts and
    the dense run's cycles and activity to ``measured``."""
    schedule = program.schedule
    if program.delta is None:
        return schedule.total_cycles(steps), schedule.run_cycles(steps)
    from rpu.compiler.delta_schedule import column_counts, delta_timing
    nx, nh = column_counts(expected.x_mask, expected.h_mask)
    timing = delta_timing(schedule, nx, nh)
    measured["delta_counts"][0] += int(nx[1:].sum())
    measured["delta_counts"][1] += int(nh[1:].sum())
    measured["delta_later_steps"] += steps - 1
    measured["dense_cycles"] += schedule.total_cycles(steps)
    for name, count in schedule.activity(steps).items():
        measured["dense_activity"][name] = measured["dense_activity"].get(name, 0) + count
    return timing.total_cycles, timing.run_cycles


def _report(model, config, program, sequences, measured, calibration, simulator, clock_mhz):
    """The report of :func:`run_model`."""
    from rpu.compiler.calibration import evaluate_formats
    from rpu.energy.activity import energy_from_activity

    fmt = config.data_format
    # Steps of the sequences, and of the runs (with a batch, a run's step is B sequences').
    steps, run_steps, cycles = measured["steps"], measured["run_steps"], measured["cycles"]
    seconds = cycles / (clock_mhz * 1e6)
    energy = energy_from_activity(config, measured["activity"], run_steps,
                                  program.schedule.ops_per_step(),
                                  seconds_per_step=seconds / run_steps)
    # The sequences' operations (a batch's filler sequences are not counted).
    ops = program.schedule.ops_per_step() // config.batch * steps
    # The program's own codes and row shifts (the float model gives the references).
    saturations, _ = evaluate_formats(model.layers, list(sequences), data_format=fmt,
                                      weight_format=config.weight_format,
                                      cell_format=config.cell_format,
                                      activation_segments=config.activation_segments,
                                      matrices=program.matrices,
                                      row_shifts=program.row_shifts)
    return {
        "model": {"format": model.source_format, "input_size": model.input_size,
                  "hidden_sizes": list(model.hidden_sizes), "num_layers": model.num_layers,
                  "batch_first": model.batch_first},
        "configuration": config.to_dict(),
        "formats": {"data": str(fmt), "weights": str(config.weight_format),
                    "cell": str(config.cell_format)},
        "calibration": None if calibration is None else {
            key: value for key, value in calibration.to_dict().items() if key != "candidates"},
        "simulator": simulator,
        "sequences": len(sequences),
        "steps": steps,
        "saturations": saturations,
        "bit_exact_with_fixed_point_model": measured["bit_exact"],
        "max_abs_error_h_vs_float64": max(measured["errors"]),
        "cycles": cycles,
        "predicted_cycles": measured["predicted"],
        "cycles_per_step": program.schedule.step_cycles,
        "utilization": program.schedule.macs_per_step() * run_steps / (config.macs * cycles),
        "clock_mhz": clock_mhz,
        "clock_note": "assumed clock, not a synthesis result" if
                      clock_mhz == DEFAULT_CLOCK_MHZ else "given clock",
        "gops": ops / seconds / 1e9,
        "energy": energy.to_dict(),
        "activity": measured["activity"],
        "h": np.array(measured["outputs"]),
    }
