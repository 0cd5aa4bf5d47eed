#!/usr/bin/env python3
"""The RPU benchmark: shapes S, M and L of docs/architecture.md, section 6, and a resource sweep on S.

Usage (from the repository root; ``make bench`` runs it with the project's venv)::

    python scripts/bench.py [--out build/bench.json] [--doc docs/benchmarks.md]
                            [--workdir build/bench] [--jobs 2] [--synth all|shapes|S|none]

For every configuration it reports:

* from the expansion model (``rpu.compiler.plan_schedule``): cycles per step,
  utilization (steady state, and over a 20-step run with pipeline fill), ops per step;
* from synthesis (``rpu.eda.report.synthesize_rpu``, generic GE library): logic area
  per component, SRAM macro area (density model), the estimated clock; hence GOPS at that
  clock and GOPS/mm2;
* from the energy model (``rpu.energy_actions``): modelled energy per step, its
  breakdown and GOPS/W, from the activity counters the schedule implies for 20 steps;
* the tool's own costs: elaboration and Verilog emission time and peak memory (in a
  fresh subprocess, ``resource.getrusage``), synthesis time (wall and CPU).

For S it also simulates: Amaranth's simulator (measured cycles per step and utilization,
the RTL's activity counters and the energy from them, simulation speed); and, if
``rpu.sim.hdl`` finds Verilator, a 20-step run of S and one full step of L on the
Verilated RTL (cycle count and bit-exactness against the fixed-point model, speed).

The delta mode (issue 12) runs on ``examples/delta`` in the RTL, dense and delta side by
side (``scripts/bench_delta.py``; ``--only-delta`` reruns just that into an existing JSON).
S is built for the ULX3S 85F on a 100 MHz PLL clock (``--only-fpga`` rebuilds just that).

It writes ``build/bench.json`` (everything) and regenerates ``docs/benchmarks.md``.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np                                         # noqa: E402

from rpu.config import RPUConfig                           # noqa: E402
from rpu.compiler import plan_schedule, compile_lstm      # noqa: E402
from rpu.energy.activity import energy_from_activity                  # noqa: E402
from bench_delta import delta_example                          # noqa: E402
from bench_report import (markdown, SHAPES, PAPER, H100, REPORT_STEPS,   # noqa: E402
                          AMARANTH_STEPS)


#: Weight precision and packed weight words on S and M (issue 9, items 1 and 2): per-row
#: scales make 8- and 4-bit weights usable; P weights per lane word feed P MACs per read. The
#: packed points keep the 64 lanes of the default resources (P times the MACs) and give the
#: cell engine the units to keep up (A8 E4 from 256 MACs on). (name, shape, resources); every
#: one is synthesized on the generic 45 nm library, those of S on OSU 0.18 um too.
_W8, _W4 = dict(weight_width=8, row_scales=True), dict(weight_width=4, row_scales=True)
_ENGINE = dict(activation_units=8, elementwise_units=4)
PRECISION = [
    ("S-w8", "S", _W8),
    ("S-w4", "S", _W4),
    ("S-w8-P2", "S", dict(_W8, weights_per_word=2)),
    ("S-w8-P4", "S", dict(_W8, weights_per_word=4, **_ENGINE)),
    ("S-w4-P4", "S", dict(_W4, weights_per_word=4, **_ENGINE)),
    ("S-w4-P8", "S", dict(_W4, weights_per_word=8, **_ENGINE)),
    # The headline configuration: 12-bit data, 8-bit weights with row scales, 4 per word.
    ("S-d12-w8-P4", "S", dict(_W8, data_width=12, weights_per_word=4, **_ENGINE)),
    ("M-w8-P2", "M", dict(_W8, weights_per_word=2)),
    ("M-w8-P4", "M", dict(_W8, weights_per_word=4, **_ENGINE)),
    ("M-w4-P4", "M", dict(_W4, weights_per_word=4, **_ENGINE)),
    ("M-w4-P8", "M", dict(_W4, weights_per_word=8, **_ENGINE)),
]
#: Weight reuse across a batch (issue 9, item 3): B sequences in lockstep, every weight read
#: feeding B MACs. (name, shape, resources, synthesized on the generic library?, and on OSU
#: 0.18 um?): 1,024 MACs or more (batch 16, and batch 8 at P = 4) are left to the model,
#: whose throughput, utilization and energy do not need the synthesis (tens of minutes each).
BATCH = [
    ("S-b4", "S", dict(batch=4), True, True),
    ("S-b16", "S", dict(batch=16), False, False),
    ("M-b4", "M", dict(batch=4), True, False),
    ("M-b16", "M", dict(batch=16), False, False),
    # Batch 8 on S at the headline's precision, and at 8-bit data and 4-bit weights (8 x 4
    # multipliers: no product register, RPUConfig.registered_products).
    ("S-d12-w8-P4-b8", "S", dict(_W8, data_width=12, weights_per_word=4, batch=8, **_ENGINE),
     False, False),
    ("S-d8-w4-b8", "S", dict(_W4, data_width=8, activation_segments=64, batch=8), True, True),
]
#: The configuration README and docs/benchmarks.md hold against the paper's three figures.
HEADLINE = "S-d12-w8-P4"

#: The resource sweep on S: (name, resources, synthesized?).
SWEEP = [
    ("S-16", dict(pim_arrays=1, lanes_per_array=16), True),
    ("S-32", dict(pim_arrays=2, lanes_per_array=16), True),
    ("S-128", dict(pim_arrays=8, lanes_per_array=16), True),
    ("S-64-A1E1", dict(activation_units=1, elementwise_units=1), True),
    ("S-64-A16E8", dict(activation_units=16, elementwise_units=8), True),
    ("S-128-A1E1", dict(pim_arrays=8, lanes_per_array=16, activation_units=1,
                        elementwise_units=1), False),
    ("S-256", dict(pim_arrays=16, lanes_per_array=16), False),
    ("S-256-A16E8", dict(pim_arrays=16, lanes_per_array=16, activation_units=16,
                         elementwise_units=8), False),
]

def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def machine():
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import amaranth
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "amaranth": amaranth.__version__,
            "load_average_at_start": list(os.getloadavg())}


# --------------------------------------------------------------------------------------
# Model figures
# --------------------------------------------------------------------------------------

def model_figures(config, I, H):
    schedule = plan_schedule(config, I, H)
    layer = schedule.layers[0]
    return {
        "input_size": I, "hidden_size": H,
        "mac_lanes": config.mac_lanes,
        "activation_units": config.activation_units,
        "elementwise_units": config.elementwise_units,
        "cycles_per_step": schedule.step_cycles,
        "groups": layer.groups, "columns": layer.columns, "group_period": layer.period,
        "engine_cycles": schedule.engine_cycles,
        "bound": "engine" if layer.period > layer.columns else "lanes",
        "utilization_steady": schedule.macs_per_step() / (config.macs
                                                          * schedule.step_cycles),
        "utilization_20_steps": schedule.utilization(REPORT_STEPS),
        "total_cycles_20_steps": schedule.total_cycles(REPORT_STEPS),
        "macs_per_step": schedule.macs_per_step(),
        "ops_per_step": schedule.ops_per_step(),
    }


def energy_figures(config, I, H, f_max_mhz, activity=None, steps=REPORT_STEPS):
    schedule = plan_schedule(config, I, H)
    activity = schedule.activity(steps) if activity is None else activity
    seconds = schedule.step_cycles / (f_max_mhz * 1e6) if f_max_mhz else None
    report = energy_from_activity(config, activity, steps, schedule.ops_per_step(), seconds)
    d = report.to_dict()
    return {
        "kind": "modelled",
        "source": "activity counters implied by the schedule",
        "steps": steps,
        "per_step_pj": report.per_step_pj,
        "gops_per_watt": report.gops_per_watt,
        "power_mw": report.power_w * 1e3 if report.power_w is not None else None,
        "action_counts": d["action_counts"],
        "energy_per_action_pj": d["energy_per_action_pj"],
        "breakdown_pj": d["breakdown_pj_modelled"],
        "breakdown_fraction": d["breakdown_fraction_modelled"],
    }


# --------------------------------------------------------------------------------------
# Verilog emission in a fresh process: time and peak memory
# --------------------------------------------------------------------------------------

def emission_worker(config_json):
    """Run in a subprocess: elaborate, then emit Verilog; print times and peak RSS."""
    from amaranth.hdl import Fragment
    from rpu.hw.top import RPU
    from rpu.generator import emit_verilog
    config = RPUConfig.from_dict(json.loads(config_json))
    started = time.monotonic()
    Fragment.get(RPU(config=config, sram_macros=True), None)
    elaboration = time.monotonic() - started
    started = time.monotonic()
    text = emit_verilog(config)
    emission = time.monotonic() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"elaboration_s": elaboration, "emission_s": emission,
                      "verilog_bytes": len(text.encode()),
                      "peak_rss_mb": max(own, children) / 1024}))


def measure_emission(config):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--emission-worker",
         json.dumps(config.to_dict())], capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - started
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-2000:]}
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_wall_s"] = wall
    return figures


# --------------------------------------------------------------------------------------
# Synthesis (in worker processes)
# --------------------------------------------------------------------------------------

def synth_task(name, config_dict, out_dir, library=None):
    from rpu.eda.report import synthesize_rpu
    config = RPUConfig.from_dict(config_dict)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        result = synthesize_rpu(config, out_dir, library=library)
    except Exception as error:                         # reported, not fatal
        return {"name": name, "error": f"{type(error).__name__}: {error}"[-3000:]}
    wall = time.monotonic() - started
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime)
           + (child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime))
    d = result.to_dict()
    return {
        "name": name, "library": library or "generic",
        "report": str(Path(out_dir) / "synth.md"),
        "wall_s": wall, "cpu_s": cpu,
        "generation_s": result.generation_s, "synthesis_s": result.synthesis_s,
        "yosys_peak_rss_mb": child1.ru_maxrss / 1024,
        "logic_ge": d["area"]["logic_ge"], "logic_um2": d["area"]["logic_um2"],
        "sequential_ge": d["area"]["sequential"],
        "sram_um2": d["area"]["sram_um2_modelled"], "total_um2": d["area"]["total_um2"],
        "components_ge": {k: v["area"] for k, v in d["components"].items()},
        "memories_um2": {k: v["area_um2"] for k, v in d["memories"].items()},
        "memories": {k: {"count": v["count"], "geometry": v["geometry"], "bits": v["bits"]}
                     for k, v in d["memories"].items()},
        "clock": d["clock"],
        "f_max_mhz": d["clock"]["f_max_mhz"],
        "yosys_version": d["synthesis"]["yosys_version"],
        "flow": d["library"]["flow"],
    }


# --------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------

def random_lstm(config, I, H, steps, seed=0):
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(H)
    weights = dict(weight_ih=rng.uniform(-bound, bound, (4 * H, I)),
                   weight_hh=rng.uniform(-bound, bound, (4 * H, H)),
                   bias_ih=rng.uniform(-bound, bound, 4 * H),
                   bias_hh=rng.uniform(-bound, bound, 4 * H))
    program = compile_lstm(config, **weights, row_shifts="auto" if config.row_scales else None)
    x = config.data_format.quantize(rng.standard_normal((steps, I)))
    return program, x


def session_cycles(program, results):
    """Cycles of a session: program words, weight words, and per run the cycles through
    its last h transfer (as rpu.sim.hdl.measure_speed counts them without an HDL run)."""
    image = program.weight_image
    return (len(program.registers) + image.shape[0] * image.shape[1]
            + sum(r.cycles for r in results))


def golden(config, program, x):
    shifts = None if program.row_shifts is None else program.row_shifts[0]
    return config.fixed_model().run(program.matrix, x, row_shifts=shifts)


def simulate_amaranth_s(config, I, H):
    from rpu.sim.session import simulate_session, Load, Run
    program, x = random_lstm(config, I, H, AMARANTH_STEPS, seed=1)
    started = time.monotonic()
    one, full = simulate_session(config, [Load(program), Run(x[:1]), Run(x)])
    seconds = time.monotonic() - started
    schedule = program.schedule
    steps = AMARANTH_STEPS
    fixed = golden(config, program, x)
    cycles = session_cycles(program, [one, full])
    return {
        "simulator": "amaranth",
        "steps": steps,
        "run_cycles": full.cycles,
        "predicted_run_cycles": schedule.total_cycles(steps),
        "one_step_run_cycles": one.cycles,
        "cycles_per_step_measured": (full.cycles - one.cycles) / (steps - 1),
        "utilization_measured": schedule.macs_per_step() * steps / (config.macs
                                                                    * full.cycles),
        "bit_exact": bool(np.array_equal(full.h, fixed.h) and np.array_equal(full.c, fixed.c)),
        "activity": full.activity,
        "activity_equals_schedule": full.activity == schedule.activity(steps),
        "session_cycles": cycles,
        "seconds": seconds,
        "cycles_per_second": cycles / seconds,
        "note": "one session: load program and weights, a 1-step run, a "
                f"{steps}-step run; the time includes building the simulator",
    }


def verilator_available():
    try:
        from rpu.sim import hdl as hdl_sim
        tool = hdl_sim.find_verilator()
        return True, getattr(tool, "version", "")
    except Exception as error:                       # ImportError, SimulatorNotFound, ...
        return False, f"{type(error).__name__}: {error}"


def first_result(config, program, x):
    """The first result of a model never built before: a Verilator build from an empty cache
    (its own temporary folder, so the precompiled runtime is built too), then the session.
    Build and run times are reported separately (issue 10: under 20 s for S on 2 cores)."""
    import tempfile
    from rpu.sim import hdl as hdl_sim
    from rpu.sim.session import Load, Run
    operations = [Load(program), Run(x)]
    with tempfile.TemporaryDirectory(prefix="rpu-bench-cold-") as cold:
        timings = {}
        started = time.monotonic()
        hdl_sim.build_verilator(config, cold, cycles=hdl_sim.session_cycles(operations),
                                timings=timings)
        built = time.monotonic()
        hdl_sim.simulate_session_hdl(config, operations, simulator="verilator",
                                     build_dir=cold)
        finished = time.monotonic()
    return {"optimization": timings.get("optimization"),
            "verilog_s": timings.get("verilog_seconds"),
            "verilate_s": timings.get("verilate_seconds"),
            "compile_s": timings.get("compile_seconds"),
            "build_s": built - started, "run_s": finished - built,
            "total_s": finished - started,
            "note": "wall clock from an empty build cache: emit the Verilog, Verilator, "
                    "C++ compilation (runtime included), then the session (load + run)"}


def simulate_verilator(config, I, H, steps, seed, build_dir, *, cold=False):
    """One session on the Verilated RTL: results, cycle check, bit-exactness, speed.

    The Verilator build is cached in ``build_dir`` (under the bench's working directory,
    so that a first run measures the build time and a rerun reuses it). With ``cold``, the
    first result from an empty cache is measured first (:func:`first_result`)."""
    from rpu.sim import hdl as hdl_sim
    from rpu.sim.session import Load, Run
    program, x = random_lstm(config, I, H, steps, seed=seed)
    cold_figures = first_result(config, program, x) if cold else None
    started = time.monotonic()
    _, build_s = hdl_sim.build_verilator(config, build_dir)
    build_wall = time.monotonic() - started
    started = time.monotonic()
    (result,) = hdl_sim.simulate_session_hdl(config, [Load(program), Run(x)],
                                             simulator="verilator", build_dir=build_dir)
    seconds = time.monotonic() - started
    schedule = program.schedule
    fixed = golden(config, program, x)
    cycles = session_cycles(program, [result])
    figures = {
        "simulator": "verilator",
        "steps": steps,
        "run_cycles": result.cycles,
        "predicted_run_cycles": schedule.total_cycles(steps),
        "utilization_measured": schedule.macs_per_step() * steps / (config.macs
                                                                    * result.cycles),
        "bit_exact": bool(np.array_equal(result.h, fixed.h)
                          and np.array_equal(result.c, fixed.c)),
        "build_s": build_s, "build_cached": build_s == 0.0, "build_wall_s": build_wall,
        "session_cycles": cycles,
        "seconds": seconds,
        "cycles_per_second_end_to_end": cycles / seconds,
        "note": "end to end: writing the stimulus file, the Verilated process, reading "
                "the results",
    }
    if cold_figures is not None:
        figures["first_result"] = cold_figures
    try:
        speed = hdl_sim.measure_speed(config, steps, simulators=("verilator",), seed=seed,
                                      build_dir=build_dir)
        figures["cycles_per_second"] = speed.get("verilator")
        figures["speed_session_cycles"] = speed.get("cycles")
        figures["speed_note"] = ("rpu.sim.hdl.measure_speed: the simulator process alone, "
                                 "one session (load + run)")
    except Exception as error:
        figures["speed_error"] = f"{type(error).__name__}: {error}"
    return figures


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------

def configurations():
    points = []
    for name, (I, H) in SHAPES.items():
        points.append({"name": name, "shape": name, "I": I, "H": H, "resources": {},
                       "synthesize": True, "osu018": name == "M", "kind": "shape"})
    for name, resources, synth in SWEEP:
        points.append({"name": name, "shape": "S", "I": 64, "H": 128, "resources": resources,
                       "synthesize": synth, "kind": "sweep"})
    for name, shape, resources in PRECISION:
        I, H = SHAPES[shape]
        points.append({"name": name, "shape": shape, "I": I, "H": H, "resources": resources,
                       "synthesize": True, "osu018": shape == "S", "kind": "precision"})
    for name, shape, resources, synth, osu018 in BATCH:
        I, H = SHAPES[shape]
        points.append({"name": name, "shape": shape, "I": I, "H": H, "resources": resources,
                       "synthesize": synth, "osu018": osu018, "kind": "batch"})
    for p in points:
        p["config"] = RPUConfig(input_size=p["I"], hidden_size=p["H"], **p["resources"])
    return points


def config_of(points, name):
    """The RPUConfig of the point called ``name``."""
    return next(p["config"] for p in points if p["name"] == name)


def digits_accuracy(weight_width, row_scales, data_width=16):
    """Accuracy of examples/digits' 450 test images in the bit-accurate model of an RPU with
    ``weight_width``-bit weights and ``data_width``-bit data, against float64.

    It is the example's own ``fixed_point_accuracy`` (``run_example.py --fixed-point``): the
    steps of ``python -m rpu run --calibration`` (calibration of the formats, weight codes and
    row shifts on the example's 40 calibration images, compilation of the calibrated weights)
    up to the simulation, then the program's reference run, with which the RTL is bit exact.
    About 5 s."""
    import importlib.util
    path = ROOT / "examples" / "digits" / "run_example.py"
    spec = importlib.util.spec_from_file_location("digits_run_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.fixed_point_accuracy(data_width=data_width, weight_width=weight_width,
                                          row_scales=row_scales)
    return {"data_width": data_width, "weight_width": weight_width, "row_scales": row_scales,
            "formats": result["formats"], "accuracy": result["accuracy"],
            "float64_accuracy": result["float64_accuracy"],
            "predictions_differing": result["predictions_differing"],
            "note": "bit-accurate fixed-point model (the RTL is bit exact with it); formats, "
                    "weight codes and row shifts calibrated as `rpu run --calibration` does"}


def run(args):
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bench = {"generated": datetime.datetime.now().isoformat(timespec="seconds"),
             "commit": git_commit(),
             "machine": machine(), "paper": PAPER, "h100": H100,
             "report_steps": REPORT_STEPS, "points": {}, "not_run": []}
    points = configurations()
    for p in points:
        config = p["config"]
        entry = {"kind": p["kind"], "shape": p["shape"], "configuration": config.to_dict(),
                 "model": model_figures(config, p["I"], p["H"])}
        bench["points"][p["name"]] = entry

    # 1. Verilog emission, one fresh process each, one at a time.
    for p in points:
        log(f"emission of {p['name']}")
        bench["points"][p["name"]]["emission"] = measure_emission(p["config"])
    # 2. Synthesis of S alone (its time is a requirement); 3. simulation, alone on the
    # machine (speeds); then the other syntheses, args.jobs at a time.
    rest = synthesize_s(args, bench, points, workdir)
    bench["simulation"] = simulate_all(args, bench, points, workdir)
    synthesize_rest(args, bench, rest, workdir)
    # S on an FPGA (ULX3S 85F): bitstream, post-route f_max and utilization.
    if args.fpga:
        bench["fpga"] = fpga_task(config_of(points, "S"), workdir / "S-ulx3s-85f")
    else:
        bench["not_run"].append({"what": "S on the ULX3S 85F", "why": "--no-fpga"})
    # 4. Derived figures: GOPS at the estimated clock, GOPS/mm2, energy; the digits
    # example's accuracy at each weight precision.
    derive(bench, points)
    log("digits accuracy at 16, 8 and 4-bit weights (golden model)")
    bench["digits_precision"] = [digits_accuracy(16, False), digits_accuracy(8, False),
                                 digits_accuracy(8, True), digits_accuracy(4, False),
                                 digits_accuracy(4, True), digits_accuracy(8, True, 12),
                                 digits_accuracy(4, True, 12)]
    bench["headline"] = HEADLINE
    bench["delta_example"] = delta_example_entry(args)

    bench["machine"]["load_average_at_end"] = list(os.getloadavg())
    bench["wall_s"] = time.monotonic() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(bench, indent=2, default=_json_default) + "\n")
    log(f"wrote {out}")
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(markdown(bench))
    log(f"wrote {doc} in {bench['wall_s'] / 60:.1f} min")
    return bench


def delta_example_entry(args):
    """The delta mode on examples/delta in the RTL (scripts/bench_delta.py): Verilator when
    there is one, else Amaranth (about three minutes per run)."""
    if not args.simulate:
        return None
    log("delta example: dense and delta runs of examples/delta in the RTL")
    try:
        return delta_example(simulator="verilator" if verilator_available()[0]
                             else "amaranth")
    except Exception:
        return {"error": traceback.format_exc()[-3000:]}


def _record_synth(bench, result):
    name = result["name"]
    bench["points"][name]["synthesis"] = result
    if "error" in result:
        log(f"synthesis of {name} failed: {result['error'][:300]}")
    else:
        log(f"synthesis of {name}: {result['logic_ge']:,.0f} GE, "
            f"{result['total_um2'] / 1e6:.3f} mm2, {result['f_max_mhz']:.0f} MHz, "
            f"{result['wall_s']:.0f} s")


def synthesize_s(args, bench, points, workdir):
    """Synthesize S alone (and on OSU 0.18 um when that library is installed); returns the
    other points to synthesize, recording in ``bench["not_run"]`` the ones left out."""
    to_synth = [p for p in points if p["synthesize"]]
    if args.synth == "none":
        to_synth = []
    elif args.synth == "S":
        to_synth = [p for p in to_synth if p["name"] == "S"]
    elif args.synth == "shapes":
        to_synth = [p for p in to_synth if p["kind"] == "shape"]
    for p in points:
        if p["synthesize"] and p not in to_synth:
            bench["not_run"].append({"what": f"synthesis of {p['name']}",
                                     "why": f"--synth {args.synth}"})
    for p in points:
        if not p["synthesize"]:
            bench["not_run"].append({
                "what": f"synthesis of {p['name']}",
                "why": "schedule-only point (its area and clock are not needed to show "
                       "the schedule, the utilization and the modelled energy; synthesis of "
                       "1,024 MACs or more takes tens of minutes)" if p["kind"] == "batch" else
                       "schedule-only sweep point (its area and clock are not needed to "
                       "show the engine-bound schedule; synthesis of 128+ lanes takes "
                       "several minutes each)"})
    for p in (p for p in to_synth if p["name"] == "S"):
        log("synthesis of S (alone, for its time)")
        result = synth_task(p["name"], p["config"].to_dict(), str(workdir / p["name"]))
        result["parallel_jobs"] = 1
        _record_synth(bench, result)
        synthesize_osu018(bench, p, workdir)
    return [p for p in to_synth if p["name"] != "S"]


def osu018_missing(bench, points):
    """Whether the OSU 0.18 um library is missing (then recorded as not run for ``points``)."""
    from rpu.eda.libraries import LIBRARIES
    library = LIBRARIES["osu018"]
    if Path(library.liberty).is_file():
        return False
    for point in points:
        bench["not_run"].append({
            "what": f"synthesis of {point['name']} on OSU 0.18 um",
            "why": f"{library.liberty} is missing (apt-get install qflow-tech-osu018)"})
    return True


def synthesize_osu018(bench, point, workdir):
    """S on the OSU 0.18 um standard cells (a real library with timing), beside the generic
    45 nm estimate: f_max and area at 180 nm."""
    if osu018_missing(bench, [point]):
        return
    log(f"synthesis of {point['name']} on OSU 0.18 um")
    result = synth_task(point["name"], point["config"].to_dict(),
                        str(workdir / f"{point['name']}-osu018"), library="osu018")
    bench["points"][point["name"]]["synthesis_osu018"] = result


def rerun_osu018(args, bench, names):
    """The OSU 0.18 um syntheses of the points ``names`` again, ``args.jobs`` at a time,
    into ``bench`` (after a change of the flow or the RTL)."""
    points = {p["name"]: p for p in configurations()}
    unknown = [name for name in names if name not in points]
    if unknown:
        raise SystemExit(f"--only-osu018: unknown point(s) {', '.join(unknown)}")
    if osu018_missing(bench, [points[name] for name in names]):
        return
    workdir = Path(args.workdir)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {name: pool.submit(synth_task, name, points[name]["config"].to_dict(),
                                     str(workdir / f"{name}-osu018"), library="osu018")
                   for name in names}
        for name, future in futures.items():
            result = future.result()
            result["parallel_jobs"] = args.jobs
            bench["points"][name]["synthesis_osu018"] = result
            log(f"synthesis of {name} on OSU 0.18 um: "
                + (f"{result['f_max_mhz']:.0f} MHz" if "error" not in result else "failed"))
    Path(args.out).write_text(json.dumps(bench, indent=2, default=_json_default) + "\n")


#: The clock S is built for on the FPGA (issue 11's target): the ECP5's PLL makes it from the
#: board's 25 MHz, and nextpnr places and routes for it. And nextpnr's placement seed.
FPGA_CLOCK_MHZ = 100
FPGA_SEED = 1
#: Further nextpnr seeds at which the same netlist is placed and routed again (the spread
#: of f_max over seeds; the bitstream and the figures above are the first seed's).
FPGA_MORE_SEEDS = (2, 3)


def fpga_task(config, out_dir, board="ulx3s-85f", seed=FPGA_SEED):
    """Build S's bitstream for ``board`` on a :data:`FPGA_CLOCK_MHZ` clock (rpu.fpga.build:
    fit check, Amaranth's platform flow, the YoWASP tools) and keep nextpnr's figures."""
    from rpu.fpga.build import build_bitstream
    log(f"FPGA build of S on {board} at {FPGA_CLOCK_MHZ} MHz, seed {seed} (about 7 minutes, "
        f"and 5 more for the other seeds)")
    started = time.monotonic()
    try:
        result = build_bitstream(config, board, out_dir, clock_hz=FPGA_CLOCK_MHZ * 1e6,
                                 seed=seed)
    except Exception as error:                         # reported, not fatal
        return {"board": board, "error": f"{type(error).__name__}: {error}"[-3000:]}
    wall_s = time.monotonic() - started
    log(f"the same netlist placed and routed at seeds {FPGA_MORE_SEEDS}, in parallel")
    from rpu.fpga.build import route_again, BuildFailed

    def again(more):
        try:
            return route_again(Path(out_dir) / "build", board, more)
        except BuildFailed as error:
            return str(error)
    with ThreadPoolExecutor(max_workers=2) as pool:
        spread = dict(zip(FPGA_MORE_SEEDS, pool.map(again, FPGA_MORE_SEEDS)))
    return {"board": board, "device": result["device"], "wall_s": wall_s,
            "seed": seed, "more_seeds": spread, "fmax_mhz": result["fmax_mhz"],
            "clock_mhz": result["clock_mhz"],
            "timing_met": result["timing_met"], "pll": result["pll"],
            "utilization": result["utilization"], "prediction": result["prediction"],
            "prediction_error": result["prediction_error"],
            "placement_counts": {kind: sum(v.values())
                                 for kind, v in result["placement"].items()},
            "throughput": result["throughput"],
            "report": _relative(Path(out_dir) / "fpga.md"),
            "commit": git_commit(), "largest_per_board": largest_per_board()}


def _relative(path):
    """``path`` from the repository's root, if it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def git_commit():
    """The commit checked out (``-dirty`` if the tree has changes), or None without git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def largest_per_board():
    """The largest square LSTM each board's device takes (the fit check's
    :func:`rpu.fpga.fit.largest_lstm`, default resources and any lane count), by device."""
    from rpu.fpga.boards import BOARDS
    from rpu.fpga.fit import largest_lstm_report
    devices = {}
    for name, target in BOARDS.items():
        devices.setdefault(target.device, []).append(name)
    return [{"boards": names, **largest_lstm_report(device)}
            for device, names in sorted(devices.items(), key=lambda item: item[0])]


def synthesize_rest(args, bench, rest, workdir):
    """The other points, ``args.jobs`` at a time: on the generic library, and on OSU 0.18 um
    those marked for it."""
    if not rest:
        return
    osu = [p for p in rest if p.get("osu018")]
    if osu and osu018_missing(bench, osu):
        osu = []
    for p in rest:
        if p["kind"] in ("precision", "batch") and not p.get("osu018"):
            bench["not_run"].append({
                "what": f"synthesis of {p['name']} on OSU 0.18 um",
                "why": "the OSU 0.18 um clock is reported for S's points; M's follow the "
                       "same lanes and units (a few minutes each)"})
    log(f"synthesis of {', '.join(p['name'] for p in rest)} ({args.jobs} at a time; "
        f"{len(osu)} on OSU 0.18 um too)")
    # The largest first (the MACs and cell engines are most of the synthesis time), so that
    # the jobs finish together.
    tasks = sorted([(p, None) for p in rest] + [(p, "osu018") for p in osu],
                   key=lambda task: -task[0]["config"].macs)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [(p, library, pool.submit(
            synth_task, p["name"], p["config"].to_dict(),
            str(workdir / (p["name"] if library is None else f"{p['name']}-{library}")),
            library=library)) for p, library in tasks]
        for p, library, future in futures:
            result = future.result()
            result["parallel_jobs"] = args.jobs
            if library is None:
                _record_synth(bench, result)
            else:
                bench["points"][p["name"]]["synthesis_osu018"] = result
                log(f"synthesis of {p['name']} on OSU 0.18 um: "
                    + (f"{result['f_max_mhz']:.0f} MHz" if "error" not in result
                       else "failed"))


def simulate_all(args, bench, points, workdir):
    """S in Amaranth; S, M and L in Verilator (S's first result from an empty cache too)."""
    configs = {p["name"]: p["config"] for p in points}
    shapes = {p["name"]: SHAPES[p["shape"]] for p in points}
    sims = {}
    if not args.simulate:
        bench["not_run"].append({"what": "all simulations", "why": "--no-simulate"})
        return sims
    log(f"Amaranth simulation of S ({AMARANTH_STEPS} steps)")
    try:
        sims["S_amaranth"] = simulate_amaranth_s(configs["S"], *SHAPES["S"])
    except Exception:
        sims["S_amaranth"] = {"error": traceback.format_exc()[-3000:]}
    ok, version = verilator_available()
    if not ok:
        bench["not_run"].append({"what": "Verilator simulation (S speed, one step of L)",
                                 "why": f"Verilator not available: {version}"})
    for key, name, steps in (("S_verilator", "S", REPORT_STEPS),
                             ("M_verilator", "M", REPORT_STEPS), ("L_verilator", "L", 1),
                             ("headline_verilator", HEADLINE, REPORT_STEPS)):
        if not ok:
            break
        log(f"Verilator simulation: {key} ({steps} step(s); builds if not cached)")
        try:
            sims[key] = simulate_verilator(configs[name], *shapes[name], steps, seed=2,
                                           build_dir=workdir / "hdl_sim", cold=name == "S")
            sims[key]["verilator_version"] = version
        except Exception:
            sims[key] = {"error": traceback.format_exc()[-3000:]}
    bench["not_run"].append({
        "what": "Amaranth simulation of M and L",
        "why": "Amaranth's simulator runs the 64-lane RPU at a few hundred cycles per "
               "second; M's weight load alone is 33k cycles and L needs 655k cycles for its "
               "weight load and one step (about an hour); both are simulated with Verilator "
               "instead"})
    return sims


def derive(bench, points):
    """GOPS at the estimated clock, GOPS/mm2 and energy of every point; S's energy from the
    activity counters of its Amaranth simulation."""
    for p in points:
        entry = bench["points"][p["name"]]
        syn = entry.get("synthesis")
        f_max = syn.get("f_max_mhz") if syn and "error" not in syn else None
        model = entry["model"]
        entry["energy"] = energy_figures(p["config"], p["I"], p["H"], f_max)
        if f_max:
            gops = model["ops_per_step"] * f_max * 1e6 / model["cycles_per_step"] / 1e9
            entry["throughput"] = {
                "clock_mhz_estimated": f_max, "gops": gops,
                "gops_per_mm2": gops / (syn["total_um2"] / 1e6),
                "gops_per_mm2_logic_only": gops / (syn["logic_um2"] / 1e6)}
    amaranth = bench["simulation"].get("S_amaranth", {})
    if "activity" in amaranth:
        s_config = config_of(points, "S")
        syn = bench["points"]["S"].get("synthesis", {})
        entry = energy_figures(s_config, *SHAPES["S"], syn.get("f_max_mhz"),
                               activity=amaranth["activity"], steps=amaranth["steps"])
        entry["source"] = "activity counters of the Amaranth simulation of the RTL"
        bench["points"]["S"]["energy_simulated"] = entry


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"not JSON serializable: {value!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "bench.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--workdir", default=str(ROOT / "build" / "bench"),
                        help="synthesis reports go to WORKDIR/<point>/")
    parser.add_argument("--jobs", type=int, default=2,
                        help="synthesis jobs in parallel after S (default 2)")
    parser.add_argument("--synth", choices=("all", "shapes", "S", "none"), default="all",
                        help="which points to synthesize (default all)")
    parser.add_argument("--no-simulate", dest="simulate", action="store_false")
    parser.add_argument("--no-fpga", dest="fpga", action="store_false",
                        help="skip S's FPGA build (ULX3S 85F, about 15 minutes)")
    parser.add_argument("--markdown-only", action="store_true",
                        help="regenerate the Markdown from an existing --out JSON")
    parser.add_argument("--only-osu018", metavar="NAMES",
                        help="rerun only the OSU 0.18 um syntheses of these points (comma "
                             "separated) into an existing --out JSON, --jobs at a time, then "
                             "regenerate the Markdown")
    parser.add_argument("--only-fpga", action="store_true",
                        help="rebuild only S's FPGA bitstream into an existing --out JSON, "
                             "then regenerate the Markdown")
    parser.add_argument("--only-delta", action="store_true",
                        help="rerun only the delta example into an existing --out JSON, "
                             "then regenerate the Markdown")
    parser.add_argument("--emission-worker", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emission_worker:
        emission_worker(args.emission_worker)
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.markdown_only or args.only_delta or args.only_osu018 or args.only_fpga:
        bench = json.loads(Path(args.out).read_text())
        if args.only_delta:
            bench["delta_example"] = delta_example_entry(args)
        if args.only_fpga:
            bench["fpga"] = fpga_task(config_of(configurations(), "S"),
                                      Path(args.workdir) / "S-ulx3s-85f")
            bench["fpga"]["alone"] = datetime.date.today().isoformat()
            Path(args.out).write_text(json.dumps(bench, indent=2, default=_json_default)
                                      + "\n")
        if args.only_osu018:
            rerun_osu018(args, bench, args.only_osu018.split(","))
            Path(args.out).write_text(json.dumps(bench, indent=2, default=_json_default)
                                      + "\n")
        Path(args.doc).write_text(markdown(bench))
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
