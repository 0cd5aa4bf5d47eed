"""Cycle-accurate simulation of an RPU running a program, with Amaranth's simulator.

The testbench drives the RPU only through its ports: it loads the program and the weight
images, starts a run, feeds x_t word by word and collects (h_t, c_t).
"""

from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from .top import RPU
from .expansion import Program


__all__ = ["SimulationResult", "SimulationError", "simulate_program"]


class SimulationError(RuntimeError):
    """The simulated RPU did not finish as expected."""


@dataclass
class SimulationResult:
    """Outputs and measurements of one simulated run.

    Attributes
    ----------
    h, c : numpy.ndarray of int64, (T, H)
        Data-format codes of every h_t and c_t, as streamed out.
    cycles : int
        Cycles from the start cycle through the transfer of the last h (measured by the
        testbench).
    run_cycles : int
        The RPU's own ``cycles`` counter after the run.
    saturations : int
        The RPU's ``saturations`` counter after the run.
    """

    h: np.ndarray
    c: np.ndarray
    cycles: int
    run_cycles: int
    saturations: int


def _pattern(pattern, rng):
    """A per-cycle boolean source: None (always), a probability, or a callable."""
    if pattern is None:
        return lambda: True
    if callable(pattern):
        return pattern
    probability = float(pattern)
    return lambda: bool(rng.random() < probability)


def simulate_program(program, x_codes, *, keep_state=False, x_valid=None, h_ready=None,
                     seed=0, vcd_path=None, max_cycles=None):
    """Simulate one run of ``program`` on inputs ``x_codes``.

    Parameters
    ----------
    program : Program
        From :func:`rpu.expansion.compile_lstm`.
    x_codes : numpy.ndarray of int, (T, I)
        Data-format codes of the inputs.
    keep_state : bool
        Start from the state left in the RPU (never true for a fresh RPU).
    x_valid, h_ready : None, float or callable
        Per-cycle behaviour of the stream partners: always (None), with a probability, or
        a function called once per cycle returning a bool.
    seed : int
        Seed of the stall patterns.
    vcd_path : str, optional
        Write a waveform.
    max_cycles : int, optional
        Give up after this many cycles of the run (default: 8x the predicted count + 1000).

    Returns
    -------
    SimulationResult
    """
    if not isinstance(program, Program):
        raise TypeError(f"program must be a Program, not {program!r}")
    config, schedule = program.config, program.schedule
    x_codes = np.asarray(x_codes, dtype=np.int64)
    I, H = program.input_size, program.hidden_size
    if x_codes.ndim != 2 or x_codes.shape[1] != I or x_codes.shape[0] < 1:
        raise ValueError(f"x_codes must have shape (T, {I}) with T >= 1, not {x_codes.shape}")
    steps = x_codes.shape[0]
    if max_cycles is None:
        max_cycles = 8 * schedule.total_cycles(steps) + 1000

    rng = np.random.default_rng(seed)
    want_x, want_h = _pattern(x_valid, rng), _pattern(h_ready, rng)
    dut = RPU(config=config)
    inputs = [int(v) for v in x_codes.reshape(-1)]
    outputs = []
    measured = {}

    async def testbench(ctx):
        # Program and weights: the load ports are ready whenever the RPU is idle.
        ctx.set(dut.program.valid, 1)
        for address, word in program.registers:
            ctx.set(dut.program.payload, {"addr": address, "data": word})
            await ctx.tick().until(dut.program.ready)
        ctx.set(dut.program.valid, 0)
        ctx.set(dut.weights.valid, 1)
        image = program.weight_image
        for array in range(image.shape[0]):
            for address in range(image.shape[1]):
                ctx.set(dut.weights.payload, {"array": array, "addr": address,
                                              "data": [int(v) for v in image[array, address]]})
                await ctx.tick().until(dut.weights.ready)
        ctx.set(dut.weights.valid, 0)

        ctx.set(dut.steps, steps)
        ctx.set(dut.keep_state, int(keep_state))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle = 0
        next_x = 0
        while len(outputs) < steps * H:
            cycle += 1
            if cycle > max_cycles:
                raise SimulationError(
                    f"no result after {max_cycles} cycles: {len(outputs)} of {steps * H} h "
                    f"values and {next_x} of {len(inputs)} x values transferred")
            offer_x = next_x < len(inputs) and want_x()
            ctx.set(dut.x.valid, int(offer_x))
            if offer_x:
                ctx.set(dut.x.payload, inputs[next_x])
            ctx.set(dut.h.ready, int(want_h()))
            _, _, x_valid_now, x_ready_now, h_valid_now, h_ready_now, payload = \
                await ctx.tick().sample(dut.x.valid, dut.x.ready, dut.h.valid, dut.h.ready,
                                        dut.h.payload)
            if x_valid_now and x_ready_now:
                next_x += 1
            if h_valid_now and h_ready_now:
                outputs.append((payload.h, payload.c))
        ctx.set(dut.x.valid, 0)
        ctx.set(dut.h.ready, 0)
        if next_x != len(inputs):
            raise SimulationError(f"the RPU took {next_x} of {len(inputs)} x values")
        measured["cycles"] = cycle + 1   # cycles 0 (start) .. cycle (last transfer)
        # Let the engine finish its padding units, then read the status counters.
        while ctx.get(dut.busy):
            await ctx.tick()
        measured["run_cycles"] = ctx.get(dut.cycles)
        measured["saturations"] = ctx.get(dut.saturations)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd_path:
        with sim.write_vcd(vcd_path):
            sim.run()
    else:
        sim.run()

    values = np.array(outputs, dtype=np.int64).reshape(steps, H, 2)
    return SimulationResult(h=values[:, :, 0], c=values[:, :, 1], cycles=measured["cycles"],
                            run_cycles=measured["run_cycles"],
                            saturations=measured["saturations"])
