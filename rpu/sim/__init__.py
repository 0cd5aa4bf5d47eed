"""Simulation of an RPU: Amaranth's simulator and the Verilator and Icarus back ends, which
share one stimulus format and give bit-identical results.

* :mod:`rpu.sim.operations` -- a session's operations (Load, LoadState, Run), stall patterns
  and results;
* :mod:`rpu.sim.session` -- :data:`SIMULATORS` and the one choice among them,
  :func:`simulate_session` and :func:`simulate_program` (re-exported here);
* :mod:`rpu.sim.amaranth_sim` -- Amaranth's simulator;
* :mod:`rpu.sim.hdl` -- the generated Verilog on Verilator or Icarus Verilog, with
  :mod:`rpu.sim.interface`, :mod:`rpu.sim.stimulus`, :mod:`rpu.sim.build`,
  :mod:`rpu.sim.verilator` and :mod:`rpu.sim.icarus`.
"""

from rpu.sim.build import SimulatorNotFound, BuildError
from rpu.sim.operations import (Load, LoadState, Run, StallPatterns, RunResult,
                                SimulationError)
from rpu.sim.session import SIMULATORS, simulate_session, simulate_program


__all__ = ["SIMULATORS", "simulate_session", "simulate_program", "Load", "LoadState", "Run",
           "StallPatterns", "RunResult", "SimulationError", "SimulatorNotFound", "BuildError"]
