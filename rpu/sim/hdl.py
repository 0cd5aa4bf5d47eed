"""Simulate the generated Verilog with Verilator or Icarus Verilog, exactly like
:func:`~rpu.sim.amaranth_sim.simulate_session_amaranth`.

The same session (loads, state loads, runs, resets, stall patterns) is replayed on the
emitted ``rpu.v`` and ``rpu_sram.v`` and gives the same :class:`~rpu.sim.operations.RunResult`
values as Amaranth's simulator, bit for bit and cycle for cycle:

* :mod:`rpu.sim.interface` -- the ports and the ``rpu_wrap`` module around ``rpu``;
* :mod:`rpu.sim.stimulus` -- the stimulus and results files both testbenches use;
* :mod:`rpu.sim.verilator` -- the C++ harness and the Verilator build;
* :mod:`rpu.sim.icarus` -- the Verilog testbench ``tb_rpu`` and the Icarus build;
* :mod:`rpu.sim.build` -- tools and the build cache (``~/.cache/rpu/<simulator>``).

Both testbenches follow ``simulate_session``'s protocol step by step: in every cycle they set
the inputs, sample ``valid & ready`` of every stream (and the h payload) just before the
rising edge, clock, and count the session cycle. A stall pattern bit is chosen by the session
cycle, a payload is only written when offered (it holds otherwise), a run starts with one
``start`` cycle, its reset cycle is the last one of the run, and a complete run waits for
``busy`` to fall before reading ``cycles``, ``saturations`` and the RPU's other outputs.
The tests (tests/sim/test_hdl_sim.py) check that all three simulators agree.

Most callers want :func:`rpu.sim.simulate_session` or :func:`rpu.sim.simulate_program`,
which take ``simulator="amaranth"``, ``"verilator"`` or ``"icarus"``.
"""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rpu.compiler import compile_stacked
from rpu.config import RPUConfig
from rpu.sim.build import SimulatorNotFound, BuildError
from rpu.sim.icarus import find_icarus, build_icarus
from rpu.sim.interface import interface, rpu_verilog
from rpu.sim.amaranth_sim import simulate_session_amaranth
from rpu.sim.operations import (Load, Run, StallPatterns, SimulationError, check_session,
                                run_steps)
from rpu.sim.stimulus import MAX_PATTERN, write_stimulus, read_results, same_result
from rpu.sim.verilator import find_verilator, build_verilator


__all__ = ["simulate_session_hdl", "measure_speed", "session_cycles",
           "HDL_SIMULATORS", "SimulatorNotFound", "BuildError", "MAX_PATTERN",
           "find_verilator", "find_icarus", "build_verilator", "build_icarus", "same_result"]


#: The simulators of the generated Verilog.
HDL_SIMULATORS = ("verilator", "icarus")


def _check_simulator(simulator):
    if simulator not in HDL_SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(HDL_SIMULATORS)}, not "
                         f"{simulator!r}")


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def session_cycles(operations, stalls=None):
    """About how many cycles a session takes (the predicted cycles of its loads and runs,
    divided by the stall patterns' density): what chooses the Verilator build's
    optimisation (:func:`rpu.sim.verilator.choose_optimization`)."""
    stalls = StallPatterns.never() if stalls is None else stalls
    cycles = 0
    program = None
    for operation in operations:
        if isinstance(operation, Load):
            program = operation.program
            cycles += len(program.registers)
            if operation.weights:
                cycles += program.weight_image.shape[0] * program.weight_image.shape[1]
        elif isinstance(operation, Run):
            cycles += program.schedule.total_cycles(run_steps(program.config,
                                                               operation.x_codes))
        else:                           # LoadState: a word per unit of every layer
            cycles += sum(layer.hidden_size for layer in program.schedule.layers)
    return int(cycles / stalls.density())


def _build(config, simulator, build_dir, timings=None, *, cycles=None, optimization=None):
    """The command that runs ``simulator``'s build of ``config`` (built now if not cached)."""
    if simulator == "verilator":
        executable, _ = build_verilator(config, build_dir, cycles=cycles,
                                        optimization=optimization, timings=timings)
        return [str(executable)]
    started = time.monotonic()
    rpu_verilog(config)
    emitted = time.monotonic()
    vvp_file, vvp = build_icarus(config, build_dir)
    if timings is not None:
        # Icarus compiles in about a second: the cache does not change this much.
        timings["verilog_seconds"] = emitted - started
        timings["build_seconds"] = time.monotonic() - emitted
    return [vvp, "-n", str(vvp_file)]


def _run_session(config, operations, stalls, simulator, build_dir, max_cycles,
                 timings=None, optimization=None):
    """Returns the results, the session's cycles, and the simulator's (wall, CPU) seconds."""
    _check_simulator(simulator)
    command = _build(config, simulator, build_dir, timings,
                     cycles=session_cycles(operations, stalls), optimization=optimization)
    iface = interface(config)
    stimulus = write_stimulus(config, operations, stalls, max_cycles, iface)
    with tempfile.TemporaryDirectory(prefix="rpu-hdl-") as work:
        stimulus_path, results_path = Path(work) / "stimulus.txt", Path(work) / "results.txt"
        stimulus_path.write_text(stimulus)
        command += [f"+stimulus={stimulus_path}", f"+results={results_path}"]
        started, cpu = time.monotonic(), _children_cpu()
        result = subprocess.run(command, capture_output=True, text=True, cwd=work)
        seconds = (time.monotonic() - started, _children_cpu() - cpu)
        text = results_path.read_text() if results_path.is_file() else ""
    if result.returncode != 0 or "tb_rpu:" in result.stdout:
        log = (result.stdout + result.stderr).strip().splitlines()
        raise SimulationError(f"{simulator} exited with {result.returncode}:\n"
                              + "\n".join(log[-30:]))
    results, cycles = read_results(config, operations, text, stalls, max_cycles,
                                   iface)
    return results, cycles, seconds


def simulate_session_hdl(config, operations, *, stalls=None, simulator="verilator",
                         build_dir=None, max_cycles=None):
    """:func:`rpu.sim.amaranth_sim.simulate_session_amaranth` on the generated Verilog.

    Parameters
    ----------
    config : RPUConfig
    operations : list of Load, LoadState and Run
    stalls : StallPatterns, optional
        Stream partner behaviour (default: never stall); patterns of at most
        :data:`MAX_PATTERN` cycles.
    simulator : {"verilator", "icarus"}
    build_dir : path, optional
        Cache of the builds (default ``~/.cache/rpu``): one directory per key, a hash of the
        Verilog, the testbench and the simulator's version, under ``<simulator>/``.
    max_cycles : int, optional
        As for ``simulate_session``.

    Returns
    -------
    list of RunResult
        One per :class:`~rpu.sim.operations.Run`, equal to what ``simulate_session`` returns.

    Raises
    ------
    SimulatorNotFound, BuildError, SimulationError
    """
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    _check_simulator(simulator)
    check_session(config, operations)
    stalls = StallPatterns.never() if stalls is None else stalls
    results, _, _ = _run_session(config, operations, stalls, simulator, build_dir, max_cycles)
    return results


def measure_speed(config, steps, *, simulators=("verilator", "amaranth"), seed=0,
                  build_dir=None, optimization=None):
    """Simulation speed of one session on each simulator: load an LSTM of the RPU's capacity
    (I x H, one layer per RPU layer), run it ``steps`` steps, no stalls.

    Parameters
    ----------
    optimization : {"O0", "O1", "O2"}, optional
        The Verilator build's optimisation level (default: the one the session's length
        chooses, :func:`rpu.sim.verilator.choose_optimization`, as for any session).

    Returns
    -------
    dict
        ``cycles`` (of the session); for each simulator, ``<name>``: cycles per second of
        wall-clock time of the simulation proper (the simulator process for Verilator and
        Icarus, ``simulate_session`` with its elaboration for Amaranth),
        ``<name>_cpu``: cycles per CPU second (steadier on a busy machine), and
        ``<name>_seconds`` (the run alone). For Verilator and Icarus also
        ``<name>_verilog_seconds`` (emitting the RTL: about 0 if this process emitted it
        before) and ``<name>_build_seconds`` (the simulator's build: 0.0 for Verilator if it
        was cached); for a new Verilator build its parts ``verilator_verilate_seconds``
        (Verilator's translation) and ``verilator_compile_seconds`` (the C++ compilation);
        ``verilator_optimization``: the level of the build used.
        The time to the first result of a new configuration is about
        ``<name>_verilog_seconds + <name>_build_seconds + <name>_seconds``. The simulators
        must agree on the results, or SimulationError is raised.
    """
    unknown = set(simulators) - set(HDL_SIMULATORS) - {"amaranth"}
    if unknown:
        raise ValueError(f"unknown simulator(s): {', '.join(sorted(unknown))}")
    operations = _benchmark_session(config, steps, seed)
    stalls = StallPatterns.never()
    report = {"config": config.to_dict(), "steps": steps}
    reference, cycles, timings = None, None, {}
    for simulator in HDL_SIMULATORS:
        if simulator not in simulators:
            continue
        build = {}
        results, cycles, timings[simulator] = _run_session(
            config, operations, stalls, simulator, build_dir, None, build, optimization)
        for name, value in build.items():
            report[f"{simulator}_{name}"] = value
        if reference is not None and not same_result(reference[0], results[0]):
            raise SimulationError("the simulators disagree on the benchmark session")
        reference = results
    if "amaranth" in simulators:
        started, cpu = time.monotonic(), time.process_time()
        results = simulate_session_amaranth(config, operations, stalls=stalls)
        timings["amaranth"] = (time.monotonic() - started, time.process_time() - cpu)
        if cycles is None:
            # No HDL run counted them: the load, the start cycle, and the run through its
            # last transfer (busy falls a few cycles after it).
            program = operations[0].program
            image = program.weight_image
            cycles = len(program.registers) + image.shape[0] * image.shape[1] + results[0].cycles
        if reference is not None and not same_result(reference[0], results[0]):
            raise SimulationError("the simulators disagree on the benchmark session")
    report["cycles"] = cycles
    for simulator, (wall, cpu) in timings.items():
        report[f"{simulator}_seconds"] = wall
        report[simulator] = cycles / wall
        report[f"{simulator}_cpu"] = cycles / cpu if cpu > 0 else float("inf")
    return report


def _benchmark_session(config, steps, seed):
    rng = np.random.default_rng(seed)
    I, H = config.input_size, config.hidden_size
    bound = 1 / np.sqrt(H)
    layers = []
    for index in range(config.num_layers):
        columns = I if index == 0 else H
        layers.append(dict(weight_ih=rng.uniform(-bound, bound, (4 * H, columns)),
                           weight_hh=rng.uniform(-bound, bound, (4 * H, H)),
                           bias_ih=rng.uniform(-bound, bound, 4 * H),
                           bias_hh=rng.uniform(-bound, bound, 4 * H)))
    program = compile_stacked(config, layers)
    x = config.data_format.quantize(rng.standard_normal((steps, I)))
    return [Load(program), Run(x)]


if __name__ == "__main__":      # pragma: no cover - a quick manual benchmark
    import json
    args = [int(v) for v in sys.argv[1:]]
    input_size, hidden_size, steps = (args + [64, 128, 20][len(args):])[:3]
    print(json.dumps(measure_speed(RPUConfig(input_size=input_size, hidden_size=hidden_size),
                                   steps, simulators=("verilator",)), indent=2))
