"""``python -m rpu explore MODEL``: which RPU to build for a trained LSTM.

A design-space sweep over resources (PIM arrays x lanes per array x weights per lane word,
activation units, element-wise units) and fixed-point formats (data and weight widths, with or
without per-row weight scales). For every valid combination (a *point*) it reports:

* **cycles** per step and for a run of ``steps`` steps, and the MAC-lane utilization, from
  the expansion model's schedule (:func:`rpu.compiler.plan_schedule`). These are exact:
  the RTL takes exactly ``Schedule.total_cycles(T)`` cycles (``tests/test_end_to_end.py``);
* **area and clock** from synthesis of the generated RPU (:func:`rpu.eda.report.
  synthesize_rpu`: Yosys/ABC logic in gate equivalents or on a Liberty library, SRAM macros
  from the density model, an estimated f_max). Results are cached per configuration
  (see :func:`rpu.explore.cache.synthesis_key`), so a sweep that is run again, or extended,
  only synthesizes new configurations. ``--no-synth`` leaves area and clock out (and says so in every row);
* **energy** per step and GOPS/W, modelled (:func:`rpu.energy.activity.energy_from_activity`
  on the schedule's exact activity counts), power and GOPS at the point's f_max;
* **accuracy**: the largest and mean |h - h_float64| of the last layer, and the saturation
  events, over the inputs, with the bit-accurate fixed-point model
  (:class:`lstm_ref.fixed_lstm.FixedLSTM`). No RTL is simulated: the RTL is checked bit for
  bit against this model elsewhere (``tests/test_end_to_end.py``, ``tests/test_stacked.py``,
  ``python -m rpu run``), for any resources, so accuracy depends on the formats only and is
  computed once per format (data width, weight width, row scales). Each format's fractional
  bits, and with row scales the per-row shifts, are chosen by calibration
  (:func:`rpu.compiler.calibration.calibrate`) on the calibration inputs.

Invalid combinations (e.g. activation units that do not divide ``mac_lanes / 4``, or a
weight word wider than 64 bits) are skipped and counted. The non-dominated points over (area,
latency, energy per step, max error), all minimized, form the Pareto front; without
synthesis, area is left out and the latency is in cycles.

Outputs (in ``DIR``, all of them or none): ``points.csv`` (one row per point, units in the
header), ``pareto.csv`` (the Pareto points, same columns), ``area_vs_latency.png`` and
``energy_vs_accuracy.png`` (Pareto points highlighted), ``summary.json``.

Points run on a local process pool (``--jobs``), or on a Dask cluster (``--scheduler
ADDRESS``: ``distributed.Client(ADDRESS)``; the workers need this package installed, and
``--synth-cache`` is a path on each worker's machine). A progress bar goes to stderr.
"""

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

from lstm_ref.checks import is_integer
from rpu.config import (RPUConfig, ConfigError, MAX_LANES, MAX_STEPS, MAX_WEIGHTS_PER_WORD,
                        MAX_BATCH)
from rpu.explore.cache import synthesis_key, synthesis_report
from rpu.explore.columns import COLUMNS, NO_SYNTH
from rpu.explore.errors import ExploreInputError, ExplorePointError
from rpu.explore.formats import calibrate_format
from rpu.explore.outputs import write_outputs
from rpu.explore.pareto import pareto_front
from rpu.explore.runner import ProgressBar, Runner, connect


__all__ = ["explore", "evaluate_point", "calibrate_format", "pareto_front", "synthesis_key",
           "ExploreResult", "ExploreInputError", "ExplorePointError", "ProgressBar",
           "COLUMNS", "write_outputs", "DEFAULT_SWEEP", "DEFAULT_STEPS",
           "DEFAULT_SCHEDULER_TIMEOUT"]

#: Sweep values used when an option is not given.
DEFAULT_SWEEP = {"pim_arrays": (1, 2), "lanes_per_array": (8, 16), "weights_per_word": (1,),
                 "batch": (1,),
                 "activation_units": (1, 2), "elementwise_units": (1,),
                 "data_widths": (12, 16), "row_scales": (0,)}
#: Steps of the run that latency and energy refer to, without ``--inputs`` or ``--steps``.
DEFAULT_STEPS = 20
#: Synthetic inputs without ``--inputs``: this many N(0, 1) sequences, seed 0.
SYNTHETIC_SEQUENCES = 8
#: Seconds to wait for a Dask scheduler.
DEFAULT_SCHEDULER_TIMEOUT = 30.0
#: Configuration fields copied into every row.
_CONFIG_COLUMNS = ("pim_arrays", "lanes_per_array", "weights_per_word", "batch",
                   "activation_units",
                   "elementwise_units", "data_width", "data_frac_bits", "cell_frac_bits",
                   "weight_width", "weight_frac_bits", "row_scales", "activation_segments")
#: The defaults of the fields that :meth:`RPUConfig.to_dict` leaves out at their defaults.
_OMITTED_DEFAULTS = {"weights_per_word": 1, "batch": 1, "row_scales": False}


# ---------------------------------------------------------------------------------------
# One point (run in a worker: this process, a pool process or a Dask worker)
# ---------------------------------------------------------------------------------------

def evaluate_point(context, point):
    """Cycles, utilization, synthesis and energy of one point.

    Parameters
    ----------
    context : dict
        ``input_size``, ``hidden_sizes`` (the model's), ``steps``, ``synthesize`` (bool),
        ``synth_cache`` (directory or None), ``liberty`` (path or None), ``synth_timeout``.
    point : dict
        ``config``: the :class:`RPUConfig` keyword arguments.

    Returns
    -------
    dict
        ``row`` (the point's metrics, keys of :data:`COLUMNS`) and ``synthesis`` (how the
        area and clock were obtained: status, seconds of this run, seconds of the original
        synthesis).
    """
    from rpu.compiler import plan_schedule
    from rpu.energy.activity import energy_from_activity

    config = RPUConfig(**point["config"])
    steps = context["steps"]
    schedule = plan_schedule(config, context["input_size"], list(context["hidden_sizes"]))
    total = schedule.total_cycles(steps)
    row = {"cycles_per_step": schedule.step_cycles, "total_cycles": total,
           "utilization": schedule.utilization(steps), "area_clock_source": NO_SYNTH}
    synthesis = {"status": "skipped (--no-synth)", "seconds": 0.0, "original_seconds": None}
    f_max = None
    if context["synthesize"]:
        started = time.monotonic()
        report, status, _ = synthesis_report(config, context)
        area, clock = report["area"], report["clock"]
        library = report["library"]
        f_max = clock["f_max_mhz"]
        row.update({
            "area_clock_source": f"synthesis: Yosys/ABC on {library['name']} "
                                 f"({library['area_unit']}), SRAM modelled, clock estimated",
            "logic_area_ge": area["logic_ge"], "logic_area_um2": area["logic_um2"],
            "sram_area_um2": area["sram_um2_modelled"], "total_area_um2": area["total_um2"],
            "total_area_mm2": area["total_mm2"],
            "critical_path_ns": clock["critical_path_ns"], "f_max_mhz": f_max})
        runtime = report.get("runtime_s", {})
        synthesis = {"status": status, "seconds": time.monotonic() - started,
                     "original_seconds": runtime.get("generation", 0.0)
                     + runtime.get("synthesis", 0.0)}
    seconds_per_step = None
    if f_max:
        row["latency_us"] = total / f_max                  # cycles / MHz = us
        seconds_per_step = total / steps / (f_max * 1e6)
    energy = energy_from_activity(config, schedule.activity(steps), steps,
                                  schedule.ops_per_step(), seconds_per_step=seconds_per_step)
    row["energy_per_step_pj"] = energy.per_step_pj
    row["gops_per_watt"] = energy.gops_per_watt
    if seconds_per_step is not None:
        row["throughput_gops"] = energy.gops
        row["power_mw"] = energy.power_w * 1e3
    return {"row": row, "synthesis": synthesis}


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------

class ExploreResult:
    """What :func:`explore` found: ``rows`` (dicts keyed by :data:`COLUMNS`' keys, in point
    order), ``pareto`` (point ids) and ``summary`` (a JSON-able dict)."""

    def __init__(self, rows, pareto, summary):
        self.rows, self.pareto, self.summary = rows, pareto, summary


def explore(model, x=None, *, calibration_inputs=None, pim_arrays=None, lanes_per_array=None,
            weights_per_word=None, batch=None, activation_units=None, elementwise_units=None,
            data_widths=None, weight_widths=None, row_scales=None, activation_segments=None,
            steps=None, synthesize=True, liberty=None, synth_cache=None, synth_timeout=None,
            jobs=None, scheduler=None, scheduler_timeout=DEFAULT_SCHEDULER_TIMEOUT,
            progress_stream=None):
    """Sweep the design space of RPUs for ``model``.

    Parameters
    ----------
    model : rpu.frontend.ImportedLSTM
    x : array_like, optional
        Inputs for accuracy (and calibration): ``(T, I)`` or batched by the model's layout.
        Default: :data:`SYNTHETIC_SEQUENCES` N(0, 1) sequences of ``steps`` steps, seed 0.
    calibration_inputs : array_like, optional
        Inputs to calibrate the formats on (default: ``x``).
    pim_arrays, lanes_per_array, activation_units, elementwise_units : sequence of int
        Resource values swept (defaults: :data:`DEFAULT_SWEEP`).
    weights_per_word : sequence of int
        Weights per lane weight word (P MACs per lane) swept (default: 1).
    batch : sequence of int
        Sequences run at once (each weight read feeding one MAC per sequence) swept
        (default: 1). Throughput and energy count every sequence.
    data_widths : sequence of int
        Data widths swept (default :data:`DEFAULT_SWEEP`).
    weight_widths : sequence of int, optional
        Weight widths swept against every data width; default: each data width with a
        weight width equal to it.
    row_scales : sequence of int, optional
        Per-row weight scales off (0) and/or on (1), crossed with the widths (default: off).
        Calibrated per format; the accuracy is that of the calibrated shifts.
    activation_segments : int, optional
        Sigmoid/tanh table segments (default that of :class:`RPUConfig`), capped for narrow
        data widths at ``2**(data_width - 2)``.
    steps : int, optional
        Steps of the run that latency, utilization and energy refer to (default: the
        inputs' sequence length, or :data:`DEFAULT_STEPS`).
    synthesize : bool
        Synthesize every point for area and clock (else none are given).
    liberty, synth_cache, synth_timeout
        Liberty library, synthesis cache directory (None: no cache), Yosys timeout (s).
    jobs : int, optional
        Local worker processes (default ``os.cpu_count()``); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask scheduler: points run on its cluster instead.
    progress_stream : file, optional
        Where the progress bar goes (default stderr).

    Returns
    -------
    ExploreResult

    Raises
    ------
    ExploreInputError
        Bad values (the message names the option), or no valid point.
    ExplorePointError
        A point failed.
    """
    started = time.monotonic()
    stream = sys.stderr if progress_stream is None else progress_stream
    sweep, segments = _check_sweep(
        {"pim_arrays": pim_arrays, "lanes_per_array": lanes_per_array,
         "weights_per_word": weights_per_word, "batch": batch,
         "activation_units": activation_units,
         "elementwise_units": elementwise_units, "data_widths": data_widths,
         "row_scales": row_scales}, weight_widths, activation_segments)
    jobs = _check_run_options(steps, jobs, synth_timeout)
    liberty = _check_liberty(liberty)

    # Connect first: a scheduler that cannot be reached fails before any work.
    runner = Runner(jobs, connect(scheduler, scheduler_timeout) if scheduler else None,
                    scheduler)
    try:
        inputs = _inputs(model, x, calibration_inputs, steps)
        if steps is None:
            steps = int(inputs["sequences"][0].shape[0])
        widths, candidates, combinations, skipped = _candidates(model, sweep, segments, stream)
        formats = _calibrate_formats(runner, model, widths, candidates, inputs, segments,
                                     stream)
        points = _points(candidates, formats)
        context = {"input_size": model.input_size, "hidden_sizes": list(model.hidden_sizes),
                   "steps": steps, "synthesize": bool(synthesize),
                   "synth_cache": None if synth_cache is None
                   else str(Path(synth_cache).resolve()),
                   "liberty": liberty, "synth_timeout": synth_timeout}
        tasks = [{"point": p["point"], "config": p["config"]} for p in points]
        print(f"explore: {_count(len(tasks), 'point')} on {runner.where(len(tasks))}"
              + ("" if synthesize else " (--no-synth)"), file=stream, flush=True)
        results = runner.map(evaluate_point, context, tasks, _describe,
                             ProgressBar(len(tasks), stream=stream))
        backend = runner.backend(len(tasks))
        rows = _rows(points, results, steps)
        objectives, pareto = _mark_pareto(rows)
        summary = _summary(
            model=model, inputs=inputs, steps=steps, sweep=sweep, segments=segments,
            combinations=combinations, rows=rows, skipped=skipped, formats=formats,
            objectives=objectives, pareto=pareto, context=context, points=points,
            synth_runs=[r["synthesis"] for r in results], backend=backend,
            seconds=time.monotonic() - started)
        return ExploreResult(rows, pareto, summary)
    finally:
        runner.close()


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _config_values(point):
    """The point's configuration fields, with those :meth:`RPUConfig.to_dict` leaves out
    at their defaults."""
    return {**_OMITTED_DEFAULTS, **point["config"]}


def _describe(point):
    c = _config_values(point)
    words = "" if c["weights_per_word"] == 1 else f" x {c['weights_per_word']} weights/word"
    words += "" if c["batch"] == 1 else f", batch {c['batch']}"
    return (f"point {point['point']} ({c['pim_arrays']}x{c['lanes_per_array']} lanes{words}, "
            f"{c['activation_units']} act., {c['elementwise_units']} elt., "
            f"{c['data_width']}/{c['weight_width']} bits"
            f"{', row scales' if c['row_scales'] else ''})")


# Checks of the options, before any work -------------------------------------------------

def _check_values(option, values, low, high):
    values = list(values)
    if not values:
        raise ExploreInputError(f"{option}: give at least one value")
    for value in values:
        if not is_integer(value) or not low <= value <= high:
            raise ExploreInputError(f"{option}: values must be integers from {low} to "
                                    f"{high}, not {value!r}")
    return sorted(set(values))


#: ``(option, lowest, highest)`` of every swept value with a default in :data:`DEFAULT_SWEEP`.
_SWEEP_LIMITS = {"pim_arrays": ("--pim-arrays", 1, MAX_LANES),
                 "lanes_per_array": ("--lanes-per-array", 1, MAX_LANES),
                 "weights_per_word": ("--weights-per-word", 1, MAX_WEIGHTS_PER_WORD),
                 "batch": ("--batch", 1, MAX_BATCH),
                 "activation_units": ("--activation-units", 1, MAX_LANES // 4),
                 "elementwise_units": ("--elementwise-units", 1, MAX_LANES // 4),
                 "data_widths": ("--data-widths", 4, 20),
                 "row_scales": ("--row-scales", 0, 1)}


def _check_sweep(values, weight_widths, activation_segments):
    """The swept values (``values``, keyed by :data:`DEFAULT_SWEEP`'s keys, None or empty
    for the default), checked, sorted and deduplicated, and the activation segments."""
    sweep = {key: _check_values(option, values[key] or DEFAULT_SWEEP[key], low, high)
             for key, (option, low, high) in _SWEEP_LIMITS.items()}
    if weight_widths is not None:
        sweep["weight_widths"] = _check_values("--weight-widths", weight_widths, 2, 20)
    segments = RPUConfig().activation_segments if activation_segments is None \
        else activation_segments
    if not is_integer(segments) or segments < 1 or segments & (segments - 1):
        raise ExploreInputError(f"--activation-segments: must be a power of two, not "
                                f"{segments!r}")
    return sweep, segments


def _check_run_options(steps, jobs, synth_timeout):
    """Check ``steps`` and ``synth_timeout``; return ``jobs`` (default: the CPU count)."""
    if steps is not None and (not is_integer(steps) or not 1 <= steps <= MAX_STEPS):
        raise ExploreInputError(f"--steps: must be an integer from 1 to {MAX_STEPS}, "
                                f"not {steps!r}")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not is_integer(jobs) or jobs < 1:
        raise ExploreInputError(f"--jobs: must be a positive integer, not {jobs!r}")
    if synth_timeout is not None and not synth_timeout > 0:
        raise ExploreInputError(f"--synth-timeout: must be positive, not {synth_timeout!r}")
    return jobs


def _check_liberty(liberty):
    """The Liberty file's absolute path (None stays None), after reading it."""
    if liberty is None:
        return None
    from rpu.eda.report import check_liberty, SynthInputError
    try:
        check_liberty(Path(liberty))
    except (SynthInputError, OSError) as error:
        raise ExploreInputError(f"--liberty: {error}") from None
    return str(Path(liberty).resolve())


# Inputs, combinations, formats ------------------------------------------------------------

def _sequences_of(model, x, option):
    """``model.sequences(x)`` as a list; a shape the model cannot take names ``option``."""
    from rpu.frontend import ModelImportError
    try:
        return list(model.sequences(x))
    except ModelImportError as error:
        raise ExploreInputError(f"{option}: {error}") from None


def _inputs(model, x, calibration_inputs, steps):
    """The evaluation and calibration sequences, the float64 references and where the
    inputs come from (``sequences``, ``calibration``, ``references``, ``source``,
    ``calibration_source``)."""
    if x is None:
        source = (f"synthetic: {SYNTHETIC_SEQUENCES} sequences of N(0, 1) inputs, "
                  f"seed 0 (no --inputs)")
        rng = np.random.default_rng(0)
        sequences = list(rng.standard_normal(
            (SYNTHETIC_SEQUENCES, steps or DEFAULT_STEPS, model.input_size)))
    else:
        source = "given (--inputs)"
        sequences = _sequences_of(model, x, "--inputs")
        if not sequences or sequences[0].shape[0] < 1:
            raise ExploreInputError("--inputs: holds no time step")
        if sequences[0].shape[0] > MAX_STEPS:
            raise ExploreInputError(f"--inputs: at most {MAX_STEPS} time steps, not "
                                    f"{sequences[0].shape[0]}")
        if not all(np.all(np.isfinite(s)) for s in sequences):
            raise ExploreInputError("--inputs: contains NaN or infinite values")
    if calibration_inputs is None:
        calibration = sequences
    else:
        calibration = _sequences_of(model, calibration_inputs, "--calibration")
        if not all(np.all(np.isfinite(s)) for s in calibration) or \
                calibration[0].shape[0] < 1:
            raise ExploreInputError("--calibration: needs finite values and T >= 1")
    references = [model.float_forward(sequence)[-1].h for sequence in sequences]
    return {"sequences": sequences, "calibration": calibration, "references": references,
            "source": source, "calibration_source": "the inputs" if calibration_inputs is None
            else "given (--calibration)"}


def _candidates(model, sweep, segments, stream):
    """The valid combinations of the sweep: ``(widths, candidates, combinations, skipped)``,
    ``widths`` the formats' keys ``(data width, weight width, row scales)``, ``candidates``
    a list of ``(format key, RPUConfig keyword arguments)`` and ``skipped`` the count of
    invalid ones per reason. Valid or not does not depend on the fractional bits (calibrated
    later), so placeholder ones are used."""
    from rpu.compiler import plan_schedule
    if "weight_widths" in sweep:
        pairs = itertools.product(sweep["data_widths"], sweep["weight_widths"])
    else:
        pairs = [(width, width) for width in sweep["data_widths"]]
    widths = [(data_width, weight_width, bool(scales)) for (data_width, weight_width), scales
              in itertools.product(pairs, sweep["row_scales"])]
    capacity = {"input_size": model.input_size, "hidden_size": max(model.hidden_sizes),
                "num_layers": model.num_layers}
    try:
        RPUConfig(**capacity, pim_arrays=1, lanes_per_array=4, activation_units=1,
                  elementwise_units=1)
    except ConfigError as error:
        raise ExploreInputError(f"MODEL: too large for an RPU: {error}") from None
    candidates, skipped = [], {}
    combinations = 0
    for key, arrays, lanes, words, batch, act, elt in itertools.product(
            widths, sweep["pim_arrays"], sweep["lanes_per_array"], sweep["weights_per_word"],
            sweep["batch"], sweep["activation_units"], sweep["elementwise_units"]):
        combinations += 1
        data_width, weight_width, scales = key
        values = dict(capacity, data_width=data_width, data_frac_bits=data_width - 2,
                      weight_width=weight_width, weight_frac_bits=weight_width - 1,
                      row_scales=scales,
                      activation_segments=min(segments, 1 << (data_width - 2)),
                      pim_arrays=arrays, lanes_per_array=lanes, weights_per_word=words,
                      batch=batch, activation_units=act, elementwise_units=elt)
        try:
            config = RPUConfig(**values)
            plan_schedule(config, model.input_size, list(model.hidden_sizes))
        except ConfigError as error:
            skipped[str(error)] = skipped.get(str(error), 0) + 1
            continue
        candidates.append((key, values))
    skipped_count = sum(skipped.values())
    if not candidates:
        reasons = "; ".join(f"{reason} ({count}x)" for reason, count in skipped.items())
        raise ExploreInputError(f"no valid point among the {combinations} combinations "
                                f"of the sweep options: {reasons}")
    if skipped_count:
        print(f"explore: skipped {skipped_count} of {combinations} combinations "
              f"(invalid configurations, see summary.json)", file=stream, flush=True)
    return widths, candidates, combinations, skipped


def _calibrate_formats(runner, model, widths, candidates, inputs, segments, stream):
    """Calibrate once per (data width, weight width, row scales) that has a valid point
    (accuracy depends on the formats only); returns ``{key: calibrate_format(...)}``."""
    used = [w for w in widths if any(key == w for key, _ in candidates)]
    shared = {"layers": model.layers, "calibration": inputs["calibration"],
              "sequences": inputs["sequences"], "references": inputs["references"],
              "segments": segments}
    print(f"explore: calibrating {_count(len(used), 'format')} on "
          f"{runner.where(len(used))}", file=stream, flush=True)
    results = runner.map(calibrate_format, shared, used,
                         lambda w: f"calibration of {w[0]}/{w[1]} bits"
                         + (" with row scales" if w[2] else ""),
                         ProgressBar(len(used), stream=stream, label="calibrate",
                                     unit="formats"))
    return dict(zip(used, results))


# Points, rows, Pareto front, summary ----------------------------------------------------

def _points(candidates, formats):
    """One point per valid combination, with its calibrated format (``point`` id,
    ``config`` as :meth:`RPUConfig.to_dict`, ``format``)."""
    points = []
    for key, values in candidates:
        fmt = formats[key]
        config = RPUConfig(**dict(values, **fmt["values"]))
        points.append({"point": len(points), "config": config.to_dict(), "format": fmt})
    return points


def _rows(points, results, steps):
    """One row per point, keyed by :data:`COLUMNS` (None where there is no value)."""
    rows = []
    for point, result in zip(points, results):
        config = _config_values(point)
        row = dict.fromkeys(key for key, _ in COLUMNS)
        row.update({key: config[key] for key in _CONFIG_COLUMNS})
        row.update({"point": point["point"], "mac_lanes": RPUConfig(**config).mac_lanes,
                    "steps": steps})
        row.update(result["row"])
        accuracy = point["format"]["accuracy"]
        row.update({key: accuracy[key] for key in ("max_abs_error_h", "mean_abs_error_h",
                                                    "saturations")})
        rows.append(row)
    return rows


def _mark_pareto(rows):
    """Set every row's ``pareto``; return the objectives (keys) and the Pareto point ids.
    Area is an objective when every row has one; latency is in us with a clock, else in
    cycles."""
    objectives = []
    if all(row["total_area_mm2"] is not None for row in rows):
        objectives.append("total_area_mm2")
    objectives.append("latency_us" if all(row["latency_us"] is not None for row in rows)
                      else "total_cycles")
    objectives += ["energy_per_step_pj", "max_abs_error_h"]
    front = pareto_front([[row[key] for key in objectives] for row in rows])
    for index, row in enumerate(rows):
        row["pareto"] = index in front
    return objectives, [rows[index]["point"] for index in front]


_NOTES = [
    "cycles, total cycles and utilization: the expansion model's static schedule, "
    "exact (the RTL takes exactly Schedule.total_cycles(T) cycles)",
    "accuracy: the bit-accurate fixed-point model (lstm_ref.fixed_lstm) against the "
    "float64 LSTM on the inputs, last layer's h; no RTL simulation, since the RTL "
    "is bit exact to that model for any resources (tests/test_end_to_end.py, "
    "tests/test_stacked.py); it depends only on the formats, chosen per width (and row "
    "scales: with them, the per-row shifts too) by calibration (rpu.compiler.calibration)",
    "no task metric: an imported model is the LSTM alone (no head), so accuracy is "
    "the error against float64",
    "energy: modelled (rpu.energy_actions: the schedule's exact activity counts x "
    "per-action energies at 45 nm); power and GOPS at the point's estimated f_max",
]
_NOTE_SYNTH = ("area: logic synthesized with Yosys/ABC, SRAM macros modelled; clock: static "
               "timing estimate (no wire load, one corner)")
_NOTE_NO_SYNTH = ("--no-synth: no area, no clock; latency in cycles; the Pareto front leaves "
                  "area out")


def _synthesis_summary(context, points, synth_runs):
    synthesize = context["synthesize"]
    fresh = [s["original_seconds"] for s in synth_runs if s["status"] == "synthesized"]
    every = [s["original_seconds"] for s in synth_runs if s["original_seconds"] is not None]
    return {
        "enabled": bool(synthesize),
        "liberty": context["liberty"] or ("generic gate-equivalent library (rpu.cell_library)"
                                          if synthesize else None),
        "cache": context["synth_cache"] if synthesize else None,
        "synthesized": len(fresh),
        "cached": sum(1 for s in synth_runs if s["status"] == "cached"),
        "seconds_per_synthesis": None if not every else {
            "min": min(every), "mean": sum(every) / len(every), "max": max(every)},
        "per_point": {str(point["point"]): s for point, s in zip(points, synth_runs)},
    }


def _summary(*, model, inputs, steps, sweep, segments, combinations, rows, skipped, formats,
             objectives, pareto, context, points, synth_runs, backend, seconds):
    """summary.json's content."""
    headers = dict(COLUMNS)
    sequences = inputs["sequences"]
    return {
        "kind": "design-space exploration of RPUs for a model (python -m rpu explore)",
        "model": {"source": model.source, "format": model.source_format,
                  "input_size": model.input_size, "hidden_sizes": list(model.hidden_sizes),
                  "num_layers": model.num_layers, "batch_first": model.batch_first},
        "inputs": {"source": inputs["source"], "sequences": len(sequences),
                   "steps_per_sequence": int(sequences[0].shape[0]),
                   "calibration": inputs["calibration_source"]},
        "steps": steps,
        "sweep": {**sweep, "weight_widths": sweep.get("weight_widths",
                                                      "equal to the data width"),
                  "activation_segments": segments},
        "combinations": combinations,
        "points": len(rows),
        "skipped_invalid": sum(skipped.values()),
        "skipped_reasons": skipped,
        "formats": [{**f["values"], **{k: v for k, v in f["accuracy"].items()},
                     "calibration_saturations": f["calibration_saturations"],
                     "calibration_max_abs_error_h": f["calibration_max_abs_error_h"]}
                    for f in formats.values()],
        "pareto": {"objectives": [headers[key] for key in objectives],
                   "minimized": True, "points": pareto},
        "synthesis": _synthesis_summary(context, points, synth_runs),
        "backend": backend,
        "runtime_s": seconds,
        "notes": _NOTES + [_NOTE_SYNTH if context["synthesize"] else _NOTE_NO_SYNTH],
        "files": ["points.csv", "pareto.csv", "area_vs_latency.png",
                  "energy_vs_accuracy.png", "summary.json"],
    }
