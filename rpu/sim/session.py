"""Simulate a session of an RPU: the one choice of simulator.

A *session* is a list of operations applied in order to one RPU (:mod:`rpu.sim.operations`):

* :class:`Load` -- write a program's registers and weight images through the ``program`` and
  ``weights`` streams;
* :class:`LoadState` -- write initial h and c of every layer through the ``state`` stream;
* :class:`Run` -- start a run, feed x_t through the ``x`` stream, collect (h, c) from the
  ``h`` stream; optionally assert reset part way through.

The stream partners can stall (:class:`StallPatterns`). :func:`simulate_session` and
:func:`simulate_program` run a session in Amaranth's simulator
(:mod:`rpu.sim.amaranth_sim`, the default), or on the generated Verilog with Verilator or
Icarus Verilog (:mod:`rpu.sim.hdl`); all three give bit-identical :class:`RunResult` values.
"""

import numpy as np

from rpu.compiler import Program
from rpu.sim.amaranth_sim import simulate_session_amaranth
from rpu.sim.hdl import HDL_SIMULATORS, simulate_session_hdl
from rpu.sim.operations import (Load, LoadState, Run, StallPatterns, RunResult,
                                SimulationError, complete_run_result)


__all__ = ["SIMULATORS", "simulate_session", "simulate_program", "Load", "LoadState", "Run",
           "StallPatterns", "RunResult", "SimulationError", "complete_run_result"]


#: The simulators, the first the default: Amaranth's, then those of the generated Verilog.
SIMULATORS = ("amaranth",) + HDL_SIMULATORS


def simulate_session(config, operations, *, simulator="amaranth", stalls=None,
                     vcd_path=None, max_cycles=None, build_dir=None):
    """Apply ``operations`` in order to one simulated RPU.

    Parameters
    ----------
    config : RPUConfig
    operations : list of Load, LoadState and Run
    simulator : {"amaranth", "verilator", "icarus"}
        Amaranth's simulator (:func:`rpu.sim.amaranth_sim.simulate_session_amaranth`), or
        the generated Verilog on Verilator or Icarus Verilog
        (:func:`rpu.sim.hdl.simulate_session_hdl`).
    stalls : StallPatterns, optional
        Stream partner behaviour (default: never stall).
    vcd_path : str, optional
        Write a waveform (Amaranth only).
    max_cycles : int, optional
        Give up on a run after this many cycles (default: 8x its predicted count divided by
        the stall patterns' density, plus 1000).
    build_dir : path, optional
        Cache of the Verilator and Icarus builds (default ``~/.cache/rpu``).

    Returns
    -------
    list of RunResult
        One per :class:`Run`, in order.

    Raises
    ------
    ValueError
        An unknown ``simulator``, or ``vcd_path`` with another simulator than Amaranth.
    SimulatorNotFound, BuildError
        Verilator or Icarus Verilog is missing, or failed to build the simulation.
    SimulationError
        The simulated RPU did not finish as expected.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not "
                         f"{simulator!r}")
    if simulator == "amaranth":
        return simulate_session_amaranth(config, operations, stalls=stalls,
                                         vcd_path=vcd_path, max_cycles=max_cycles)
    if vcd_path is not None:
        raise ValueError("vcd_path: waveforms are only written by the amaranth simulator")
    return simulate_session_hdl(config, operations, stalls=stalls, simulator=simulator,
                                build_dir=build_dir, max_cycles=max_cycles)


def simulate_program(program, x_codes, *, keep_state=False, stalls=None, vcd_path=None,
                     max_cycles=None, simulator="amaranth", build_dir=None):
    """Load ``program`` into a fresh RPU and run it once on ``x_codes`` (T, I), with
    ``simulator`` (see :func:`simulate_session`).

    Returns
    -------
    RunResult
    """
    if not isinstance(program, Program):
        raise TypeError(f"program must be a Program, not {program!r}")
    operations = [Load(program), Run(np.asarray(x_codes, dtype=np.int64),
                                     keep_state=keep_state)]
    return simulate_session(program.config, operations, simulator=simulator, stalls=stalls,
                            vcd_path=vcd_path, max_cycles=max_cycles, build_dir=build_dir)[0]
