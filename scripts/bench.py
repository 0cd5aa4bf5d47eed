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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np                                         # noqa: E402

from rpu.config import RPUConfig                           # noqa: E402
from rpu.compiler import plan_schedule, compile_lstm      # noqa: E402
from rpu.energy.activity import energy_from_activity, action_counts   # noqa: E402
from rpu.energy.model import ACTIONS                             # noqa: E402


SHAPES = {"S": (64, 128), "M": (256, 256), "L": (1024, 1024)}

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

#: The paper (Gong et al., SiPS 2017, abstract), 45 nm: docs/architecture.md, section 1.
PAPER = {"gops_per_watt": 309.0, "gops": 128.0, "area_mm2": 1.51, "power_mw": 413.0,
         "gops_per_mm2": 85.0, "technology": "45 nm CMOS"}
#: docs/architecture.md, section 6: an H100 running torch.nn.LSTM at batch 1, S to L.
H100 = {"gops": "50 to 1250", "gops_per_watt": "0.4 to 6", "power": "whole-board"}

#: Steps over which utilization and energy are stated.
REPORT_STEPS = 20
#: Steps of the Amaranth simulation of S (slow: a few hundred cycles per second).
AMARANTH_STEPS = 4


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
        "utilization_steady": schedule.macs_per_step() / (config.mac_lanes
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

def synth_task(name, config_dict, out_dir):
    from rpu.eda.report import synthesize_rpu
    config = RPUConfig.from_dict(config_dict)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        result = synthesize_rpu(config, out_dir)
    except Exception as error:                         # reported, not fatal
        return {"name": name, "error": f"{type(error).__name__}: {error}"[-3000:]}
    wall = time.monotonic() - started
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime)
           + (child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime))
    d = result.to_dict()
    return {
        "name": name,
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
    program = compile_lstm(config, **weights)
    x = config.data_format.quantize(rng.standard_normal((steps, I)))
    return program, x


def session_cycles(program, results):
    """Cycles of a session: program words, weight words, and per run the cycles through
    its last h transfer (as rpu.sim.hdl.measure_speed counts them without an HDL run)."""
    image = program.weight_image
    return (len(program.registers) + image.shape[0] * image.shape[1]
            + sum(r.cycles for r in results))


def golden(config, program, x):
    return config.fixed_model().run(program.matrix, x)


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
        "utilization_measured": schedule.macs_per_step() * steps / (config.mac_lanes
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
        "utilization_measured": schedule.macs_per_step() * steps / (config.mac_lanes
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
                       "synthesize": True, "kind": "shape"})
    for name, resources, synth in SWEEP:
        points.append({"name": name, "shape": "S", "I": 64, "H": 128, "resources": resources,
                       "synthesize": synth, "kind": "sweep"})
    for p in points:
        p["config"] = RPUConfig(input_size=p["I"], hidden_size=p["H"], **p["resources"])
    return points


def run(args):
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bench = {"generated": datetime.datetime.now().isoformat(timespec="seconds"),
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

    # 2. Synthesis: S alone (its time is a requirement), the others two at a time.
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
                "why": "schedule-only sweep point (its area and clock are not needed to "
                       "show the engine-bound schedule; synthesis of 128+ lanes takes "
                       "several minutes each)"})

    def record_synth(result):
        name = result["name"]
        bench["points"][name]["synthesis"] = result
        if "error" in result:
            log(f"synthesis of {name} failed: {result['error'][:300]}")
        else:
            log(f"synthesis of {name}: {result['logic_ge']:,.0f} GE, "
                f"{result['total_um2'] / 1e6:.3f} mm2, {result['f_max_mhz']:.0f} MHz, "
                f"{result['wall_s']:.0f} s")

    first = [p for p in to_synth if p["name"] == "S"]
    rest = [p for p in to_synth if p["name"] != "S"]
    for p in first:
        log("synthesis of S (alone, for its time)")
        result = synth_task(p["name"], p["config"].to_dict(), str(workdir / p["name"]))
        result["parallel_jobs"] = 1
        record_synth(result)

    # 3. Simulation, alone on the machine (speeds).
    s_config = next(p["config"] for p in points if p["name"] == "S")
    m_config = next(p["config"] for p in points if p["name"] == "M")
    l_config = next(p["config"] for p in points if p["name"] == "L")
    sims = {}
    if args.simulate:
        log(f"Amaranth simulation of S ({AMARANTH_STEPS} steps)")
        try:
            sims["S_amaranth"] = simulate_amaranth_s(s_config, 64, 128)
        except Exception:
            sims["S_amaranth"] = {"error": traceback.format_exc()[-3000:]}
        ok, version = verilator_available()
        if ok:
            for key, config, (I, H), steps in (("S_verilator", s_config, SHAPES["S"],
                                                REPORT_STEPS),
                                               ("M_verilator", m_config, SHAPES["M"],
                                                REPORT_STEPS),
                                               ("L_verilator", l_config, SHAPES["L"], 1)):
                log(f"Verilator simulation: {key} ({steps} step(s); builds if not cached)")
                try:
                    sims[key] = simulate_verilator(config, I, H, steps, seed=2,
                                                   build_dir=workdir / "hdl_sim",
                                                   cold=key == "S_verilator")
                    sims[key]["verilator_version"] = version
                except Exception:
                    sims[key] = {"error": traceback.format_exc()[-3000:]}
        else:
            # >>> Verilator speed goes here once rpu.sim.hdl provides it (it is needed for
            # >>> the 20-step S run and the full L step). <<<
            bench["not_run"].append({"what": "Verilator simulation (S speed, one step of L)",
                                     "why": f"Verilator not available: {version}"})
    else:
        bench["not_run"].append({"what": "all simulations", "why": "--no-simulate"})
    bench["simulation"] = sims
    bench["not_run"].append({
        "what": "Amaranth simulation of M and L",
        "why": "Amaranth's simulator runs the 64-lane RPU at a few hundred cycles per "
               "second; M's weight load alone is 33k cycles and L needs 655k cycles for its "
               "weight load and one step (about an hour); both are simulated with Verilator "
               "instead"})
    bench["not_run"].append({
        "what": "synthesis against a real 45 nm Liberty library (areas in um2)",
        "why": "no real library is bundled with the project (the Nangate 45 nm library is "
               "not on PyPI); um2 figures are GE x 0.798 um2 (Nangate NAND2_X1). "
               "`python -m rpu synth --liberty PATH` maps to one when available"})

    if rest:
        log(f"synthesis of {', '.join(p['name'] for p in rest)} ({args.jobs} at a time)")
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(synth_task, p["name"], p["config"].to_dict(),
                                   str(workdir / p["name"])) for p in rest]
            for future in futures:
                result = future.result()
                result["parallel_jobs"] = args.jobs
                record_synth(result)

    # 4. Derived figures: GOPS at the estimated clock, GOPS/mm2, energy.
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
    amaranth = sims.get("S_amaranth", {})
    if "activity" in amaranth:
        syn = bench["points"]["S"].get("synthesis", {})
        entry = energy_figures(s_config, 64, 128, syn.get("f_max_mhz"),
                               activity=amaranth["activity"], steps=amaranth["steps"])
        entry["source"] = "activity counters of the Amaranth simulation of the RTL"
        bench["points"]["S"]["energy_simulated"] = entry

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


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"not JSON serializable: {value!r}")


# --------------------------------------------------------------------------------------
# docs/benchmarks.md
# --------------------------------------------------------------------------------------

def _f(value, fmt="{:,.0f}", none="n/a"):
    if value is None:
        return none
    return fmt.format(value)


def _pct(value):
    return _f(value, "{:.1%}")


def results_table(bench, names=("S", "M", "L"), paper=True):
    """The S/M/L table (also used in README's Results section)."""
    pts = [bench["points"][n] for n in names]
    sims = bench.get("simulation", {})

    def syn(p, key, scale=1.0, fmt="{:,.0f}"):
        s = p.get("synthesis")
        if not s or "error" in s or s.get(key) is None:
            return "not run"
        return fmt.format(s[key] * scale)

    def thr(p, key, fmt):
        t = p.get("throughput")
        return fmt.format(t[key]) if t else "n/a"

    measured = {}
    for n in names:
        parts = []
        a = sims.get(f"{n}_amaranth")
        v = sims.get(f"{n}_verilator")
        if a and "error" not in a:
            parts.append(f"{a['cycles_per_step_measured']:,.0f} (Amaranth)")
        if v and "error" not in v:
            same = "=" if v["run_cycles"] == v["predicted_run_cycles"] else "!="
            steps = f"a {v['steps']}-step run" if v["steps"] > 1 else "a 1-step run"
            parts.append(f"{steps}: {v['run_cycles']:,} cycles {same} predicted, "
                         "pipeline fill included (Verilator)")
        measured[n] = "; ".join(parts) or "not simulated"
    util_measured = {}
    for n in names:
        parts = []
        a = sims.get(f"{n}_amaranth")
        v = sims.get(f"{n}_verilator")
        if v and "error" not in v:
            parts.append(f"{v['utilization_measured']:.1%} over {v['steps']} "
                         f"step{'s' if v['steps'] > 1 else ''} (Verilator)")
        if a and "error" not in a:
            parts.append(f"{a['utilization_measured']:.1%} over {a['steps']} steps (Amaranth)")
        util_measured[n] = "; ".join(parts) or "not simulated"

    head = "| | " + " | ".join(f"{n} (I={bench['points'][n]['model']['input_size']}, "
                                 f"H={bench['points'][n]['model']['hidden_size']})"
                                 for n in names)
    rows = [head + (" | paper, 45 nm |" if paper else " |"),
            "|---|" + "---:|" * len(names) + ("---:|" if paper else "")]

    def row(label, values, paper_value=""):
        rows.append(f"| {label} | " + " | ".join(values)
                    + (f" | {paper_value} |" if paper else " |"))

    P = bench["paper"]
    row("MAC lanes / activation / element-wise units",
        [f"{p['model']['mac_lanes']} / {p['model']['activation_units']} / "
         f"{p['model']['elementwise_units']}" for p in pts], "?")
    row("cycles per step (model)", [f"{p['model']['cycles_per_step']:,}" for p in pts])
    row("cycles per step (simulated)", [measured[n] for n in names])
    row("utilization, steady state (model)", [_pct(p["model"]["utilization_steady"])
                                              for p in pts])
    row(f"utilization over {REPORT_STEPS} steps (model)",
        [_pct(p["model"]["utilization_20_steps"]) for p in pts])
    row("utilization (simulated)", [util_measured[n] for n in names])
    row("ops per step", [f"{p['model']['ops_per_step']:,}" for p in pts])
    row("clock (estimated, MHz)", [syn(p, "f_max_mhz") for p in pts])
    row("throughput (GOPS at that clock)", [thr(p, "gops", "{:.1f}") for p in pts],
        f"about {P['gops']:.0f}")
    row("logic area (GE, synthesized)", [syn(p, "logic_ge") for p in pts])
    row("logic area (mm2)", [syn(p, "logic_um2", 1e-6, "{:.3f}") for p in pts])
    row("SRAM macros (mm2, modelled)", [syn(p, "sram_um2", 1e-6, "{:.3f}") for p in pts])
    row("total area (mm2)", [syn(p, "total_um2", 1e-6, "{:.3f}") for p in pts],
        f"{P['area_mm2']}")
    row("GOPS/mm2", [thr(p, "gops_per_mm2", "{:.1f}") for p in pts], f"{P['gops_per_mm2']:.0f}")
    row("energy per step (nJ, modelled)", [f"{p['energy']['per_step_pj'] / 1e3:,.1f}"
                                           for p in pts])
    row("GOPS/W (modelled)", [f"{p['energy']['gops_per_watt']:,.0f}" for p in pts],
        f"{P['gops_per_watt']:.0f}")
    row("power (mW, modelled, at that clock)", [_f(p["energy"]["power_mw"], "{:,.0f}")
                                                for p in pts], f"{P['power_mw']:.0f}")
    return "\n".join(rows) + "\n"


def _intro(bench):
    """Title, provenance and the machine the benchmarks ran on."""
    m = bench["machine"]
    return ["# Benchmarks", "",
            f"Generated by `make bench` (`scripts/bench.py`) on {bench['generated']}; do not "
            "edit by hand. Everything below is in `build/bench.json` too.", "",
            f"Machine: {m['cpus']} CPUs ({m['cpu_model'] or 'unknown model'}), Python "
            f"{m['python']}, Amaranth {m['amaranth']}; load average "
            f"{m['load_average_at_start'][0]:.1f} at the start and "
            f"{m['load_average_at_end'][0]:.1f} at the end (other work was running on the "
            "machine; the times below are wall times under that load unless marked CPU). "
            f"The whole run took {bench['wall_s'] / 60:.1f} min.", ""]


def _method():
    """## What is measured, and how."""
    return ["## What is measured, and how", "",
            "- **Cycles per step and utilization (model)**: the expansion model's static "
            "schedule (`rpu.compiler.plan_schedule`); utilization = 4H(I+H) x steps "
            f"/ (MAC lanes x cycles), steady state and over a {REPORT_STEPS}-step run with pipeline "
            "fill. The simulated RTL must take exactly the predicted cycles; the simulated "
            "rows show it does.",
            "- **Simulated**: S in Amaranth's simulator (a 1-step and a "
            f"{AMARANTH_STEPS}-step run after one load; cycles per step = the difference / "
            f"{AMARANTH_STEPS - 1}), S for {REPORT_STEPS} steps and L for one full step on "
            "the Verilated RTL (`rpu.sim.hdl`), all checked bit for bit against the "
            "fixed-point model.",
            "- **Ops per step**: docs/architecture.md, section 3, 8H(I+H) + 13H.",
            "- **Clock**: the critical path of the synthesized netlist (Yosys + ABC on the "
            "generic 45 nm gate-equivalent library of `rpu.cell_library`, logical-effort "
            "delays; static timing estimate without wire load, one corner); **estimated**.",
            "- **Throughput** = ops per step x clock / cycles per step.",
            "- **Area**: logic from synthesis (hierarchy kept; GE, 1 GE = NAND2 = 0.798 um2 "
            "at 45 nm); every memory as an SRAM macro priced by the density model of "
            "`rpu.sram_model` (**modelled**). GOPS/mm2 uses logic plus SRAM.",
            "- **Energy**: action counts x per-action energies at 45 nm (`rpu.energy`, "
            "Horowitz ISSCC 2014 and derived), the counts from the activity counters "
            f"(`rpu.energy_actions`) that the schedule implies for {REPORT_STEPS} steps; "
            "the weight-read energy is scaled to the size of the lane memories. "
            "**Modelled**: no leakage, clock tree or control. For S the counters of the "
            "Amaranth simulation give the same counts (below).",
            "- **Tool costs**: elaboration (`Fragment.get`) and Verilog emission "
            "(`rpu.generator.emit_verilog`, elaboration included) in a fresh process per "
            "configuration, peak resident memory from `resource.getrusage`; synthesis wall "
            "time (and CPU time of Python and Yosys); simulation speed in cycles per second.",
            ""]


def _shapes_section(bench):
    """## S, M and L on the default resources: the results table."""
    return ["## S, M and L on the default resources", "",
            "Default resources: 4 PIM arrays x 16 MAC lanes, 4 activation units, 2 element-wise "
            "units, Q3.12 data and weights. The paper's figures (Gong et al., SiPS 2017, 45 nm; "
            "docs/architecture.md, section 1) are beside ours; its LSTM shape and resources are not "
            "public. For scale: an H100 running torch.nn.LSTM at batch 1 was measured at "
            f"{bench['h100']['gops']} GOPS and {bench['h100']['gops_per_watt']} GOPS/W "
            "(whole-board power) over S to L (docs/architecture.md, section 6).", "",
            results_table(bench).rstrip(), ""]


def _energy_section(pts):
    """### Energy per step by action (modelled), and the RTL's own counters on S."""
    out = ["### Energy per step by action (modelled)", "",
           "| action | " + " | ".join(f"{n}: pJ per step (share)" for n in SHAPES)
           + " | pJ per action (S; L) |",
           "|---|" + "---:|" * (len(SHAPES) + 1)]
    for a in ACTIONS:
        cells = []
        for n in SHAPES:
            e = pts[n]["energy"]
            cells.append(f"{e['breakdown_pj'].get(a, 0) / e['steps']:,.0f} "
                         f"({e['breakdown_fraction'].get(a, 0):.1%})")
        per = (f"{pts['S']['energy']['energy_per_action_pj'][a]:.3g}; "
               f"{pts['L']['energy']['energy_per_action_pj'][a]:.3g}")
        out.append(f"| {a} | " + " | ".join(cells) + f" | {per} |")
    out.append("")
    es = pts["S"].get("energy_simulated")
    if es:
        same = es["action_counts"] == action_counts(
            RPUConfig.from_dict(pts["S"]["configuration"]),
            plan_schedule(RPUConfig.from_dict(pts["S"]["configuration"]), 64, 128)
            .activity(es["steps"]))
        out += [f"From the RTL's own activity counters (Amaranth simulation of S, "
                f"{es['steps']} steps): {es['per_step_pj'] / 1e3:,.1f} nJ per step, "
                f"{es['gops_per_watt']:,.0f} GOPS/W (modelled; a short run, so pipeline "
                "fill weighs more); the action counts "
                + ("equal" if same else "**differ from**")
                + " those the schedule implies for the same run.", ""]
    return out


def _first_seen(names, values_of):
    """The keys of ``values_of(n)`` over ``names``, in order of first appearance."""
    keys = []
    for n in names:
        for key in values_of(n):
            if key not in keys:
                keys.append(key)
    return keys


def _area_section(pts):
    """### Area by component: logic per component, SRAM macros, critical paths."""
    out = ["### Area by component", "",
           "Logic in GE from the synthesized hierarchy (`rpu.synth_report`: each module's "
           "own cells, grouped by component); SRAM macros in mm2 (modelled). Full reports: "
           "`build/bench/<name>/synth.md`.", ""]
    names = [n for n in SHAPES if "synthesis" in pts[n] and "error" not in pts[n]["synthesis"]]
    if not names:
        return out
    comps = _first_seen(names, lambda n: pts[n]["synthesis"]["components_ge"])
    out += ["| component | " + " | ".join(f"{n} (GE)" for n in names) + " |",
            "|---|" + "---:|" * len(names)]
    for c in comps:
        out.append(f"| {c} | " + " | ".join(
            f"{pts[n]['synthesis']['components_ge'].get(c, 0):,.0f}" for n in names) + " |")
    out.append("| **logic total** | " + " | ".join(
        f"**{pts[n]['synthesis']['logic_ge']:,.0f}**" for n in names) + " |")
    kinds = _first_seen(names, lambda n: pts[n]["synthesis"]["memories_um2"])
    out += ["", "| SRAM macros (modelled) | " + " | ".join(f"{n} (mm2)" for n in names)
            + " |", "|---|" + "---:|" * len(names)]
    for k in kinds:
        cells = []
        for n in names:
            s = pts[n]["synthesis"]
            if k in s["memories_um2"]:
                mem = s["memories"][k]
                cells.append(f"{s['memories_um2'][k] / 1e6:.4f} ({mem['count']} x "
                             f"{', '.join(mem['geometry'])})")
            else:
                cells.append("-")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    out.append("")
    out += ["Critical paths (estimated):", ""]
    for n in names:
        c = pts[n]["synthesis"]["clock"]
        if c.get("f_max_mhz"):
            out.append(f"- {n}: {c['critical_path_ns']:.2f} ns, {c['logic_depth']} cells, "
                       f"from `{c['start']}` to `{c['end']}`")
    out.append("")
    return out


#: The points of the sweep table, in its order.
SWEEP_ORDER = ["S-16", "S-32", "S", "S-128", "S-256", "S-64-A1E1", "S-64-A16E8",
               "S-128-A1E1", "S-256-A16E8"]


def _sweep_section(pts):
    """## Resource sweep on S."""
    out = ["## Resource sweep on S (I=64, H=128)", "",
           "Same LSTM, other resources. Rows without synthesis are schedule-only points "
           "(no area or clock); they show where the cell engine, not the lanes, sets the "
           "pace (bound = engine: the engine needs more cycles per row group than the "
           "lanes' 1+I+H columns).", "",
           "| point | lanes | act. | e-w. | cycles/step | bound | utilization (20 steps) "
           "| clock (MHz) | GOPS | logic (GE) | total (mm2) | GOPS/mm2 | GOPS/W (modelled) "
           "| synthesis (s) |",
           "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in SWEEP_ORDER:
        p = pts[n]
        mo = p["model"]
        s = p.get("synthesis")
        ok = s and "error" not in s
        t = p.get("throughput")
        out.append(
            f"| {n} | {mo['mac_lanes']} | {mo['activation_units']} | "
            f"{mo['elementwise_units']} | {mo['cycles_per_step']:,} | {mo['bound']} | "
            f"{mo['utilization_20_steps']:.1%} | "
            + (f"{s['f_max_mhz']:.0f} | {t['gops']:.1f} | {s['logic_ge']:,.0f} | "
               f"{s['total_um2'] / 1e6:.3f} | {t['gops_per_mm2']:.1f} | "
               if ok else "not synthesized | | | | | ")
            + f"{p['energy']['gops_per_watt']:,.0f} | "
            + (f"{s['wall_s']:.0f} |" if ok else " |"))
    out.append("")
    return out


def _tool_costs_section(pts):
    """## Tool costs: elaboration, emission, synthesis; the requirements they meet."""
    out = ["## Tool costs", "",
           "| point | elaboration (s) | Verilog emission (s) | peak memory (MB) | "
           "Verilog (MB) | synthesis wall (s) | synthesis CPU (s) | jobs in parallel |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in ["S", "M", "L"] + [x for x in SWEEP_ORDER if x != "S"]:
        p = pts[n]
        e = p.get("emission", {})
        s = p.get("synthesis")
        ok = s and "error" not in s
        if "error" in e:
            em = "failed | | | "
        else:
            em = (f"{e['elaboration_s']:.1f} | {e['emission_s']:.1f} | "
                  f"{e['peak_rss_mb']:,.0f} | {e['verilog_bytes'] / 1e6:.2f} | ")
        out.append(f"| {n} | {em}"
                   + (f"{s['wall_s']:.0f} | {s['cpu_s']:.0f} | {s['parallel_jobs']} |"
                      if ok else "not run | | |"))
    out.append("")
    L = pts["L"].get("emission", {})
    S = pts["S"].get("synthesis")
    checks = []
    if "emission_s" in L:
        checks.append(f"Verilog emission of L: {L['emission_s']:.1f} s and "
                      f"{L['peak_rss_mb']:,.0f} MB peak "
                      + ("(requirement: under 60 s and 4 GB: met)"
                         if L["emission_s"] < 60 and L["peak_rss_mb"] < 4096
                         else "(requirement: under 60 s and 4 GB: **not met**)"))
    if S and "error" not in S:
        checks.append(f"synthesis of S: {S['wall_s']:.0f} s wall, alone "
                      + ("(requirement: under 5 min: met)" if S["wall_s"] < 300
                         else "(requirement: under 5 min: **not met**)"))
    out += [f"- {c}" for c in checks] + [""]
    return out


def _simulation_row(key, label, v):
    """A row of the simulation speed table."""
    if "error" in v:
        return (f"| {label} | {key.split('_')[1]} | | | | failed: "
                f"{v['error'].strip().splitlines()[-1][:200]} |")
    ok = v["run_cycles"] == v["predicted_run_cycles"] and v["bit_exact"]
    result = (f"{v['run_cycles']:,} cycles = predicted, bit exact" if ok else
              f"{v['run_cycles']:,} cycles (predicted {v['predicted_run_cycles']:,}), "
              f"bit exact: {v['bit_exact']}")
    if v["simulator"] == "amaranth":
        speed = f"{v['cycles_per_second']:,.0f} (incl. simulator setup)"
    else:
        parts = [f"{v['cycles_per_second_end_to_end']:,.0f} end to end"]
        if v.get("cycles_per_second"):
            parts.append(f"{v['cycles_per_second']:,.0f} simulator alone")
        speed = "; ".join(parts)
        build = ("Verilator build cached from an earlier run" if v["build_cached"]
                 else f"Verilator build {v['build_s']:.0f} s")
        result += f"; {build}"
    return (f"| {label} | {v['simulator']} | {v['session_cycles']:,} | "
            f"{v['seconds']:.1f} | {speed} | {result} |")


def _simulation_section(sims):
    """Simulation speed: the table and Verilator's speed-up over Amaranth."""
    out = ["Simulation speed:", "",
           "| run | simulator | session cycles | seconds | cycles/s | result |",
           "|---|---|---:|---:|---:|---|"]
    for key, label in (("S_amaranth", f"S, load + 1 + {AMARANTH_STEPS} steps"),
                       ("S_verilator", f"S, load + {REPORT_STEPS} steps"),
                       ("M_verilator", f"M, load + {REPORT_STEPS} steps"),
                       ("L_verilator", "L, load + 1 step")):
        v = sims.get(key)
        if v:
            out.append(_simulation_row(key, label, v))
    out.append("")
    amaranth = sims.get("S_amaranth", {}).get("cycles_per_second")
    ratios = []
    for key, name in (("S_verilator", "S"), ("M_verilator", "M"), ("L_verilator", "L")):
        speed = sims.get(key, {}).get("cycles_per_second")
        if amaranth and speed:
            ratios.append(f"{name} {speed / amaranth:,.0f}x")
    cold = sims.get("S_verilator", {}).get("first_result")
    if cold:
        parts = [f"Verilog {cold['verilog_s']:.1f} s" if cold.get("verilog_s") is not None
                 else None,
                 f"Verilator {cold['verilate_s']:.1f} s" if cold.get("verilate_s") is not None
                 else None,
                 f"C++ at -{cold['optimization']} {cold['compile_s']:.1f} s"
                 if cold.get("compile_s") is not None else None]
        out += [f"First result of a new S model (empty build cache, {REPORT_STEPS} steps): "
                f"**{cold['total_s']:.1f} s** = build {cold['build_s']:.1f} s ("
                f"{', '.join(p for p in parts if p)}) + run {cold['run_s']:.1f} s. "
                f"Target: under 20 s on 2 cores.", ""]
    if ratios:
        out += [f"Verilator (simulator alone) against Amaranth's simulator on S "
                f"({amaranth:,.0f} cycles/s): {', '.join(ratios)}. S, M and L have the same "
                f"64 lanes and engine (only the memory depths differ), so Amaranth's speed "
                f"on S stands for all three; M and L were not run in Amaranth (about an hour "
                f"each for the weight load alone). Target: at least 100x on S.", ""]
    return out


def _not_run_section(bench):
    if not bench["not_run"]:
        return []
    return ["## Not run", ""] + [f"- {x['what']}: {x['why']}" for x in bench["not_run"]] + [""]


def markdown(bench):
    """docs/benchmarks.md from the results of :func:`run` (``build/bench.json``)."""
    pts = bench["points"]
    out = (_intro(bench) + _method() + _shapes_section(bench) + _energy_section(pts)
           + _area_section(pts) + _sweep_section(pts) + _tool_costs_section(pts)
           + _simulation_section(bench.get("simulation", {})) + _not_run_section(bench))
    return "\n".join(out)


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
    parser.add_argument("--markdown-only", action="store_true",
                        help="regenerate the Markdown from an existing --out JSON")
    parser.add_argument("--emission-worker", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emission_worker:
        emission_worker(args.emission_worker)
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.markdown_only:
        bench = json.loads(Path(args.out).read_text())
        Path(args.doc).write_text(markdown(bench))
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
