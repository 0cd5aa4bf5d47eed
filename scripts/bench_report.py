"""docs/benchmarks.md from the results of scripts/bench.py (``build/bench.json``).

The shapes, the paper's figures and the step counts the report states are defined here and
read by bench.py.
"""

from rpu.config import RPUConfig
from rpu.compiler import plan_schedule
from rpu.energy.activity import action_counts
from rpu.energy.model import ACTIONS
from bench_delta import markdown_section as delta_section


SHAPES = {"S": (64, 128), "M": (256, 256), "L": (1024, 1024)}

#: The paper (Gong et al., SiPS 2017, abstract), 45 nm: docs/architecture.md, section 1.
PAPER = {"gops_per_watt": 309.0, "gops": 128.0, "area_mm2": 1.51, "power_mw": 413.0,
         "gops_per_mm2": 85.0, "technology": "45 nm CMOS"}
#: docs/architecture.md, section 6: an H100 running torch.nn.LSTM at batch 1, S to L.
H100 = {"gops": "50 to 1250", "gops_per_watt": "0.4 to 6", "power": "whole-board"}

#: Steps over which utilization and energy are stated.
REPORT_STEPS = 20
#: Steps of the Amaranth simulation of S (slow: a few hundred cycles per second).
AMARANTH_STEPS = 4


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
            "generic 45 nm gate-equivalent library of `rpu.eda.cell_library`, logical-effort "
            "delays; static timing estimate without wire load, one corner); **estimated**.",
            "- **Throughput** = ops per step x clock / cycles per step.",
            "- **Area**: logic from synthesis (hierarchy kept; GE, 1 GE = NAND2 = 0.798 um2 "
            "at 45 nm); every memory as an SRAM macro priced by the density model of "
            "`rpu.eda.sram_model` (**modelled**). GOPS/mm2 uses logic plus SRAM.",
            "- **Energy**: action counts x per-action energies at 45 nm (`rpu.energy.model`, "
            "Horowitz ISSCC 2014 and derived), the counts from the activity counters "
            f"(`rpu.energy.activity`) that the schedule implies for {REPORT_STEPS} steps; "
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
           "Logic in GE from the synthesized hierarchy (`rpu.eda.report`: each module's "
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


def _library_section(pts):
    """### S on a real standard-cell library (OSU 0.18 um) beside the generic 45 nm one."""
    generic = pts.get("S", {}).get("synthesis", {})
    osu = pts.get("S", {}).get("synthesis_osu018")
    if not osu or "error" in osu or "error" in generic:
        return []
    def path(clock):
        return f"{clock.get('start', '?')} -> {clock.get('end', '?')}"
    return ["### S on OSU 0.18 um", "",
            "The same RTL mapped onto the OSU 0.18 um standard cells (Debian's "
            "`qflow-tech-osu018`, a real library with timing), SRAM macros modelled at 180 nm:",
            "",
            "| library | f_max (estimated) | logic | SRAM (modelled) | critical path |",
            "|---|---:|---:|---:|---|",
            f"| generic 45 nm | {_f(generic.get('f_max_mhz'))} MHz | "
            f"{generic['logic_um2'] / 1e6:.3f} mm2 | {generic['sram_um2'] / 1e6:.3f} mm2 | "
            f"{path(generic['clock'])} |",
            f"| OSU 0.18 um | {_f(osu.get('f_max_mhz'))} MHz | {osu['logic_um2'] / 1e6:.3f} mm2 | "
            f"{osu['sram_um2'] / 1e6:.3f} mm2 | {path(osu['clock'])} |", ""]


#: The paper's figures times the issue's factors: the headline configuration's targets.
TARGETS = {"gops": 2 * PAPER["gops"], "gops_per_mm2": 2 * PAPER["gops_per_mm2"],
           "gops_per_watt": 4 * PAPER["gops_per_watt"]}


def _weights(config):
    return (f"{config['weight_width']} bits" + (" + row scales" if config.get("row_scales")
                                               else "")
            + f", P = {config.get('weights_per_word', 1)}")


def _precision_row(name, p):
    s, t, osu = p.get("synthesis"), p.get("throughput"), p.get("synthesis_osu018")
    ok = s and "error" not in s and t
    osu_mhz = f"{osu['f_max_mhz']:.0f}" if osu and "error" not in osu else "n/a"
    config, model = p["configuration"], p["model"]
    return (f"| {name} | {config.get('batch', 1)} | {config['data_width']} | "
            f"{_weights(config)} | {model['mac_lanes'] * config.get('batch', 1)} "
            f"| {model['cycles_per_step']:,} | {model['utilization_20_steps']:.1%} | "
            + (f"{s['f_max_mhz']:.0f} | {osu_mhz} | {t['gops']:.1f} | "
               f"{s['logic_um2'] / 1e6:.3f} | {s['sram_um2'] / 1e6:.3f} | "
               f"{t['gops_per_mm2']:.1f} | " if ok
               else "not synthesized | | | | | | ")
            + f"{p['energy']['gops_per_watt']:,.0f} |")


def _headline_lines(bench, name):
    """The headline configuration against the paper's three figures (x2, x2, x4)."""
    p = bench["points"].get(name)
    if not p or not p.get("throughput"):
        return []
    t, e = p["throughput"], p["energy"]
    got = {"gops": t["gops"], "gops_per_mm2": t["gops_per_mm2"],
           "gops_per_watt": e["gops_per_watt"]}
    out = [f"**{name}** (S at batch 1, 45 nm; clock estimated, area and energy modelled) "
           "against the paper (Gong et al., SiPS 2017) and the targets of 2x, 2x and 4x "
           "its figures:", "",
           "| figure | paper | target | " + name + " | met |", "|---|---:|---:|---:|---|"]
    for key, label in (("gops", "GOPS"), ("gops_per_mm2", "GOPS/mm2"),
                       ("gops_per_watt", "GOPS/W")):
        out.append(f"| {label} | {PAPER[key]:,.0f} | {TARGETS[key]:,.0f} | {got[key]:,.1f} | "
                   f"{'yes' if got[key] >= TARGETS[key] else 'no'} |")
    osu = p.get("synthesis_osu018")
    if osu and "error" not in osu:
        out += ["", f"On OSU 0.18 um the same RTL closes at {osu['f_max_mhz']:.0f} MHz "
                f"(estimated; logic {osu['logic_um2'] / 1e6:.2f} mm2 at 180 nm)."]
    sim = bench.get("simulation", {}).get("headline_verilator")
    if sim and "error" not in sim:
        out += ["", f"Verilator, {sim['steps']} steps: {sim['run_cycles']:,} cycles "
                f"(predicted {sim['predicted_run_cycles']:,}), bit exact with the fixed-point "
                f"model: {'yes' if sim['bit_exact'] else 'NO'}."]
    return out + [""]


def _older_osu018_flow(pts, names):
    """A note naming the points whose OSU 0.18 um synthesis predates the library's own flow
    (Kogge-Stone adders, arith_tree, ABC SOP balancing; rpu/eda/libraries.py): their result
    records no flow."""
    older = [n for n in names if pts[n].get("synthesis_osu018")
             and "error" not in pts[n]["synthesis_osu018"]
             and "flow" not in pts[n]["synthesis_osu018"]]
    if not older:
        return []
    return [f"The OSU 0.18 um clocks of {', '.join(older)} come from Yosys's default flow, "
            f"before the OSU 0.18 um flow of `rpu/eda/libraries.py` (Kogge-Stone adders, "
            f"`arith_tree`, ABC SOP balancing: S 192 -> 265 MHz); the next full `make bench` "
            f"resynthesizes them.", ""]


def _precision_section(bench):
    """## Weight precision and packed words on S and M."""
    pts = bench["points"]
    names = [n for n in pts if pts[n]["kind"] in ("precision", "batch") or n in ("S", "M")]
    if len(names) < 3:
        return []
    names.sort(key=lambda n: (list(SHAPES).index(pts[n]["shape"]), pts[n]["kind"] != "shape"))
    out = ["## Weight precision, packed weight words and batches (S: I=64, H=128; M: I=256, "
           "H=256)", "",
           "Weights of 16, 8 and 4 bits with a power-of-two scale per weight row (`--weight-"
           "width N --row-scales 1`); P weights per lane memory word (`--weights-per-word P`) "
           "read once and used by P MACs. The packed points keep the default 64 lanes (so "
           "64 x P MACs); from 256 MACs on they have 8 activation and 4 element-wise units. "
           "A batch of B sequences runs in lockstep, every weight read feeding B MACs; "
           "throughput and energy count all B sequences. "
           "The multipliers are sized to the operands (data x weight bits); energy is "
           "modelled at the widths built, a weight read at the word's bits.", "",
           "Clocks are estimated (static timing of the mapped netlist with the SRAM macros' "
           "modelled access time), on the generic 45 nm library and on OSU 0.18 um; GOPS, "
           "areas and GOPS/mm2 are at 45 nm.", "",
           "| point | batch | data bits | weights | MACs | cycles/step | utilization | clock "
           "45 nm (MHz) | clock OSU 0.18 um (MHz) | GOPS | logic (mm2) | SRAM (mm2) | "
           "GOPS/mm2 | GOPS/W (modelled) |",
           "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    out += [_precision_row(n, pts[n]) for n in names] + [""]
    out += _older_osu018_flow(pts, names)
    out += _headline_lines(bench, bench.get("headline"))
    eights = [n for n in names if pts[n]["shape"] == "S"
              and pts[n]["configuration"].get("batch") == 8]
    if eights:
        out += ["Batch 8 on S against the targets of 4,000 GOPS/W (modelled) and 95 % "
                "utilization: " + "; ".join(
                    f"{n} {pts[n]['energy']['gops_per_watt']:,.0f} GOPS/W, "
                    f"{pts[n]['model']['utilization_20_steps']:.1%}" for n in eights) + ".",
                ""]
    digits = bench.get("digits_precision")
    if digits:
        out += ["Accuracy of `examples/digits` (450 test images; formats calibrated as "
                "`rpu run` does; bit-accurate model, with which the RTL is bit exact):", "",
                "| data | weights | row scales | formats | accuracy | float64 | difference |",
                "|---:|---|---|---|---:|---:|---:|"]
        for d in digits:
            out.append(f"| {d.get('data_width', 16)} bits | {d['weight_width']} bits | "
                       f"{'yes' if d['row_scales'] else 'no'} | "
                       f"{d['formats']['data']}, {d['formats']['weights']} | "
                       f"{d['accuracy']:.2%} | {d['float64_accuracy']:.2%} | "
                       f"{(d['accuracy'] - d['float64_accuracy']) * 100:+.2f} pp |")
    out.append("")
    return out


def _fpga_section(bench):
    """## S on an FPGA: the ULX3S 85F, placed and routed."""
    f = bench.get("fpga")
    if not f:
        return []
    out = ["## S on an FPGA (ULX3S 85F)", ""]
    if "error" in f:
        return out + [f"Build failed: {f['error'].strip().splitlines()[-1][:300]}", ""]
    u, p, t = f["utilization"], f["prediction"], f["throughput"]
    out += [f"`python -m rpu fpga --board {f['board']} --clock-mhz {f['clock_mhz']:g} "
            f"--seed {f['seed']}` on S with its UART host link: the RPU on a "
            f"{f['clock_mhz']:g} MHz clock from the ECP5's PLL, placed and routed for it by "
            f"nextpnr-ecp5 in {f['wall_s'] / 60:.1f} min. Post-route f_max "
            f"**{f['fmax_mhz']:.1f} MHz** (timing {'met' if f['timing_met'] else 'NOT met'} "
            f"at {f['clock_mhz']:g} MHz); {t['at_fmax']['gops']:.1f} GOPS at f_max."
            + _spread(f)
            + (f" Built alone on {f['alone']}{_at(f.get('commit'))} (`scripts/bench.py "
               f"--only-fpga`), after the rest of this page (generated "
               f"{bench['generated']}"
               + (f" at commit {bench['commit']})." if bench.get("commit") else
                  ", by a bench that did not record its commit: the RPU's RTL of the "
                  "figures above may differ from this build's).")
               if f.get("alone") else ""), "",
            "| resource | used | of | predicted (fit check) |", "|---|---:|---:|---:|"]
    for kind, label in (("luts", "LUT4"), ("ffs", "flip-flops"), ("dsps", "MULT18X18D"),
                        ("ebrs", "DP16KD block RAM")):
        predicted = f"{p[kind]:,}" if kind in p else ""
        out.append(f"| {label} | {u[kind]['used']:,} | {u[kind]['available']:,} | "
                   f"{predicted} |")
    out += ["", f"Full report: `{f['report']}`.", ""]
    return out + _largest_section(f.get("largest_per_board"))


def _spread(f):
    """The same netlist at the further seeds."""
    more = f.get("more_seeds")
    if not more:
        return ""
    figures = [f"{value:.1f} MHz at seed {seed}" if isinstance(value, float)
               else f"seed {seed} failed ({value})" for seed, value in more.items()]
    worst = min([f["fmax_mhz"]] + [v for v in more.values() if isinstance(v, float)])
    return (f" The same netlist placed and routed again at other nextpnr seeds: "
            f"{', '.join(figures)}; "
            + (f"{f['clock_mhz']:g} MHz is met at every seed tried."
               if worst >= f["clock_mhz"] else
               f"the slowest, {worst:.1f} MHz, misses {f['clock_mhz']:g} MHz."))


def _at(commit):
    return f" at commit {commit}" if commit else ""


def _largest_size(entry):
    if entry is None:
        return "nothing fits"
    return (f"{entry['size']} ({entry['mac_lanes']} lanes; {entry['luts']:,} LUTs, "
            f"{entry['dsps']} DSPs, {entry['ebrs']} EBRs; N + 1 overflows the "
            f"{' and '.join(entry['limited_by'])})")


def _largest_section(largest):
    """### The largest LSTM per board, by the fit check."""
    if not largest:
        return []
    out = ["### The largest LSTM per board (fit check)", "",
           "The largest square one-layer LSTM (I = H = N, Q3.12 data and weights) whose "
           "board design (RPU and host link) fits each device, by the fit check "
           "(`rpu.fpga.fit.largest_lstm`; `python -m rpu fpga ... --check-only` prints it "
           "for any resources): with the default resources (64 MAC lanes, 4 activation and "
           "2 element-wise units; on a device whose multipliers cannot take them, the most "
           "lanes and units that fit), and with any lane count (fewer, deeper weight "
           "memories fill their block RAMs better, at the cost of throughput). "
           "**Predicted** (EBRs and DSPs exactly, LUTs by the fitted model), not built.", "",
           "| device | boards | N, default resources | N, any lane count |",
           "|---|---|---|---|"]
    for entry in largest:
        out.append(f"| {entry['device']} | {', '.join(entry['boards'])} | "
                   f"{_largest_size(entry['same_lanes'])} | "
                   f"{_largest_size(entry['fewer_lanes'])} |")
    out.append("")
    return out


def markdown(bench):
    """docs/benchmarks.md from the results of :func:`run` (``build/bench.json``)."""
    pts = bench["points"]
    out = (_intro(bench) + _method() + _shapes_section(bench) + _energy_section(pts)
           + _area_section(pts) + _library_section(pts) + _precision_section(bench)
           + _sweep_section(pts)
           + _tool_costs_section(pts)
           + _simulation_section(bench.get("simulation", {})) + _fpga_section(bench)
           + delta_section(bench.get("delta_example"))
           + _not_run_section(bench))
    return "\n".join(out)
