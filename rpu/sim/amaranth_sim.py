"""Cycle-accurate simulation of an RPU with Amaranth's simulator.

The testbench drives the RPU only through its ports, applying a session's operations
(:mod:`rpu.sim.operations`) in order; in every cycle each stream partner offers or takes a
word as its stall pattern says. The Verilator and Icarus testbenches (:mod:`rpu.sim.hdl`)
follow the same protocol step by step.
"""

import numpy as np
from amaranth.hdl import Module, ClockDomain, Elaboratable
from amaranth.sim import Simulator

from rpu.hw.top import RPU, ACTIVITY_COUNTERS
from rpu.sim.operations import (Load, LoadState, StallPatterns, RunResult, STREAMS,
                                SimulationError, complete_run_result, check_session,
                                run_limit, x_transfers, run_steps)


__all__ = ["simulate_session_amaranth"]


class _Harness(Elaboratable):
    """The RPU in an explicit ``sync`` domain, so that the testbench can drive reset."""

    def __init__(self, dut):
        self.dut = dut
        self.domain = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = self.dut
        return m


def simulate_session_amaranth(config, operations, *, stalls=None, vcd_path=None,
                              max_cycles=None):
    """Apply ``operations`` in order to one RPU in Amaranth's simulator.

    Parameters
    ----------
    config : RPUConfig
    operations : list of Load, LoadState and Run
    stalls : StallPatterns, optional
        Stream partner behaviour (default: never stall).
    vcd_path : str, optional
        Write a waveform.
    max_cycles : int, optional
        Give up on a run after this many cycles (default: 8x its predicted count divided by
        the stall patterns' density, plus 1000).

    Returns
    -------
    list of RunResult
        One per :class:`Run`, in order.
    """
    check_session(config, operations)
    stalls = StallPatterns.never() if stalls is None else stalls
    dut = RPU(config=config)
    harness = _Harness(dut)
    results = []
    patterns = {name: [bool(v) for v in getattr(stalls, name)] for name in STREAMS}

    async def testbench(ctx):
        session_cycle = 0

        def active(name):
            pattern = patterns[name]
            return pattern[session_cycle % len(pattern)]

        async def send(stream, name, payloads):
            nonlocal session_cycle
            index = 0
            while index < len(payloads):
                offer = active(name)
                ctx.set(stream.valid, int(offer))
                if offer:
                    ctx.set(stream.payload, payloads[index])
                _, _, transferred = await ctx.tick().sample(stream.valid & stream.ready)
                session_cycle += 1
                if transferred:
                    index += 1
            ctx.set(stream.valid, 0)

        program = None
        for operation in operations:
            if isinstance(operation, Load):
                program = operation.program
                await send(dut.program, "program_valid",
                           [{"addr": a, "data": d} for a, d in program.registers])
                if operation.weights:
                    image = program.weight_image
                    await send(dut.weights, "weights_valid", [
                        {"array": array, "addr": address,
                         "data": [int(v) for v in image[array, address]]}
                        for array in range(image.shape[0])
                        for address in range(image.shape[1])])
                continue
            if isinstance(operation, LoadState):
                await send(dut.state, "state_valid",
                           program.state_words(operation.h0, operation.c0))
                continue

            x_words = x_transfers(config, operation.x_codes)
            steps = run_steps(config, operation.x_codes)
            expected = steps * program.schedule.outputs_per_step()
            limit = run_limit(program, steps, stalls, max_cycles)
            ctx.set(dut.steps, steps)
            ctx.set(dut.keep_state, int(operation.keep_state))
            ctx.set(dut.start, 1)
            await ctx.tick()
            session_cycle += 1
            ctx.set(dut.start, 0)
            cycle, next_x, outputs, last_transfer, stalled = 0, 0, [], 0, 0
            reset = False
            while len(outputs) < expected:
                cycle += 1
                if cycle > limit:
                    error = SimulationError(
                        f"no result after {limit} cycles: {len(outputs)} of {expected} h "
                        f"values and {next_x} of {len(x_words)} x values transferred")
                    error.outputs = outputs
                    raise error
                if operation.reset_after is not None and cycle == operation.reset_after:
                    reset = True
                    ctx.set(harness.domain.rst, 1)
                offer_x = next_x < len(x_words) and active("x_valid")
                ctx.set(dut.x.valid, int(offer_x))
                if offer_x:
                    ctx.set(dut.x.payload, x_words[next_x])
                ctx.set(dut.h.ready, int(active("h_ready")))
                _, _, x_transfer, h_transfer, payload, held = await ctx.tick().sample(
                    dut.x.valid & dut.x.ready, dut.h.valid & dut.h.ready, dut.h.payload,
                    dut.stalled)
                session_cycle += 1
                stalled += held
                if x_transfer:
                    next_x += 1
                if h_transfer:
                    # A pair, or with a batch one pair per sequence.
                    outputs.append((payload.h, payload.c) if config.batch == 1
                                   else [(pair.h, pair.c) for pair in payload])
                    last_transfer = cycle
                if reset:
                    ctx.set(harness.domain.rst, 0)
                    break
            ctx.set(dut.x.valid, 0)
            ctx.set(dut.h.ready, 0)
            outputs = np.array(outputs, dtype=np.int64).reshape(
                (-1, 2) if config.batch == 1 else (-1, config.batch, 2))
            if reset:
                results.append(RunResult(outputs, None, None, last_transfer + 1, None, None))
                continue
            if next_x != len(x_words):
                raise SimulationError(f"the RPU took {next_x} of {len(x_words)} x values")
            while ctx.get(dut.busy):
                stalled += ctx.get(dut.stalled)
                await ctx.tick()
                session_cycle += 1
            activity = {name: int(ctx.get(dut.activity[name])) for name in ACTIVITY_COUNTERS}
            results.append(complete_run_result(
                program, steps, outputs, cycles=last_transfer + 1,
                run_cycles=ctx.get(dut.cycles), saturations=ctx.get(dut.saturations),
                activity=activity, stalled_cycles=stalled))

    sim = Simulator(harness)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(testbench)
    if vcd_path:
        with sim.write_vcd(str(vcd_path)):
            sim.run()
    else:
        sim.run()
    return results

