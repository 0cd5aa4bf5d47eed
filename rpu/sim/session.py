"""Cycle-accurate simulation of an RPU with Amaranth's simulator.

The testbench drives the RPU only through its ports. A *session* is a list of operations
applied in order to one RPU:

* :class:`Load` -- write a program's registers and weight images through the ``program`` and
  ``weights`` streams;
* :class:`LoadState` -- write initial h and c of every layer through the ``state`` stream;
* :class:`Run` -- start a run, feed x_t through the ``x`` stream, collect (h, c) from the
  ``h`` stream; optionally assert reset part way through.

The stream partners can stall: :class:`StallPatterns` gives, for every stream, a repeating
per-cycle pattern of whether the testbench offers a word (valid) or takes one (ready). The
patterns are explicit bit arrays, so other simulators can replay exactly the same stimulus.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
from amaranth.hdl import Module, ClockDomain, Elaboratable
from amaranth.sim import Simulator

from rpu.hw.top import RPU, ACTIVITY_COUNTERS
from rpu.compiler.expansion import Program


__all__ = ["Load", "LoadState", "Run", "StallPatterns", "RunResult", "SimulationResult",
           "SimulationError", "simulate_session", "simulate_program", "complete_run_result"]


class SimulationError(RuntimeError):
    """The simulated RPU did not finish as expected."""


@dataclass(frozen=True)
class Load:
    """Load ``program`` (registers, then weight images unless ``weights`` is false) while
    the RPU is idle."""
    program: Program
    weights: bool = True


@dataclass(frozen=True)
class LoadState:
    """Load the state the next run starts from (with ``keep_state``): ``h0``/``c0`` one code
    array per layer of the loaded program, None for zeros."""
    h0: Optional[tuple] = None
    c0: Optional[tuple] = None


@dataclass(frozen=True)
class Run:
    """One run: ``x_codes`` (T, I) data-format codes.

    Attributes
    ----------
    keep_state : bool
        Start from the state the previous run left.
    reset_after : int, optional
        Assert ``rst`` for one cycle this many cycles after the start cycle, ending the run.
    """
    x_codes: np.ndarray
    keep_state: bool = False
    reset_after: Optional[int] = None


STREAMS = ("program_valid", "weights_valid", "state_valid", "x_valid", "h_ready")


@dataclass(frozen=True)
class StallPatterns:
    """Per-cycle behaviour of the testbench's stream partners.

    Each attribute is a bool array; in session cycle ``n`` the testbench uses entry
    ``n % len(array)`` (cycle 0 is the first cycle of the session).
    """
    program_valid: np.ndarray
    weights_valid: np.ndarray
    state_valid: np.ndarray
    x_valid: np.ndarray
    h_ready: np.ndarray

    @classmethod
    def never(cls):
        """No stalls: every stream is valid/ready in every cycle."""
        ones = np.ones(1, dtype=bool)
        return cls(*(ones for _ in STREAMS))

    @classmethod
    def random(cls, seed, *, probability=0.7, length=1021):
        """Each stream independently active with ``probability`` in each cycle."""
        if not 0 < probability <= 1:
            raise ValueError(f"probability must be in (0, 1], not {probability}")
        rng = np.random.default_rng(seed)
        patterns = [rng.random(length) < probability for _ in STREAMS]
        for pattern in patterns:
            pattern[rng.integers(length)] = True    # never all-stalled
        return cls(*patterns)

    def density(self):
        return min(float(np.mean(getattr(self, name))) for name in STREAMS)


@dataclass
class RunResult:
    """What one :class:`Run` produced.

    Attributes
    ----------
    outputs : numpy.ndarray of int64, (N, 2)
        Every (h, c) pair transferred on the ``h`` stream, in order.
    h, c : numpy.ndarray of int64, (T, H), or None
        The last layer's outputs as steps x units (None if the run was cut short by reset).
    layers_h, layers_c : list of numpy.ndarray, or None
        Every streamed layer's outputs (all layers when the program sets output_all).
    activity : dict of int, or None
        The RPU's activity counters after the run (see :class:`rpu.hw.top.RPU`).
    cycles : int
        Cycles from the start cycle through the last h transfer.
    run_cycles, saturations : int
        The RPU's counters after the run (None if it was reset).
    """
    outputs: np.ndarray
    h: Optional[np.ndarray]
    c: Optional[np.ndarray]
    cycles: int
    run_cycles: Optional[int]
    saturations: Optional[int]
    layers_h: Optional[list] = None
    layers_c: Optional[list] = None
    activity: Optional[dict] = None


#: The result of :func:`simulate_program` (one complete run).
SimulationResult = RunResult


def complete_run_result(program, steps, outputs, *, cycles, run_cycles, saturations,
                        activity):
    """The :class:`RunResult` of a complete run of ``program``: ``outputs`` (N, 2) split into
    steps and into the layers the program streams out."""
    schedule = program.schedule
    emitted = schedule.layers if schedule.output_all else schedule.layers[-1:]
    per_step = np.asarray(outputs, dtype=np.int64).reshape(steps, schedule.outputs_per_step(),
                                                           2)
    layers_h, layers_c, offset = [], [], 0
    for layer in emitted:
        part = per_step[:, offset:offset + layer.hidden_size]
        layers_h.append(part[:, :, 0].copy())
        layers_c.append(part[:, :, 1].copy())
        offset += layer.hidden_size
    return RunResult(np.asarray(outputs, dtype=np.int64).reshape(-1, 2), layers_h[-1],
                     layers_c[-1], cycles, run_cycles, saturations, layers_h, layers_c,
                     activity)


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


def _check_session(config, operations):
    loaded = None
    for index, operation in enumerate(operations):
        if isinstance(operation, Load):
            if not isinstance(operation.program, Program):
                raise TypeError(f"operations[{index}].program must be a Program")
            if operation.program.config != config:
                raise ValueError(f"operations[{index}]: program compiled for another "
                                 f"configuration")
            loaded = operation.program
        elif isinstance(operation, LoadState):
            if loaded is None:
                raise ValueError(f"operations[{index}]: LoadState before any Load")
            loaded.state_words(operation.h0, operation.c0)   # validates shapes and codes
        elif isinstance(operation, Run):
            if loaded is None:
                raise ValueError(f"operations[{index}]: Run before any Load")
            x = np.asarray(operation.x_codes)
            I = loaded.input_size
            if x.ndim != 2 or x.shape[1] != I or not 1 <= x.shape[0] <= 65535:
                raise ValueError(f"operations[{index}].x_codes must have shape (T, {I}) with "
                                 f"1 <= T <= 65535, not {x.shape}")
            fmt = config.data_format
            if x.min() < fmt.min_code or x.max() > fmt.max_code:
                raise ValueError(f"operations[{index}].x_codes must be codes of {fmt}")
        else:
            raise TypeError(f"operations[{index}] must be a Load, LoadState or Run, not "
                            f"{operation!r}")


def simulate_session(config, operations, *, stalls=None, vcd_path=None, max_cycles=None):
    """Apply ``operations`` in order to one simulated RPU.

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
    _check_session(config, operations)
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

            x_words = [int(v) for v in np.asarray(operation.x_codes).reshape(-1)]
            steps = len(operation.x_codes)
            expected = steps * program.schedule.outputs_per_step()
            limit = max_cycles or int(8 * program.schedule.total_cycles(steps)
                                      / stalls.density()) + 1000
            ctx.set(dut.steps, steps)
            ctx.set(dut.keep_state, int(operation.keep_state))
            ctx.set(dut.start, 1)
            await ctx.tick()
            session_cycle += 1
            ctx.set(dut.start, 0)
            cycle, next_x, outputs, last_transfer = 0, 0, [], 0
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
                _, _, x_transfer, h_transfer, payload = await ctx.tick().sample(
                    dut.x.valid & dut.x.ready, dut.h.valid & dut.h.ready, dut.h.payload)
                session_cycle += 1
                if x_transfer:
                    next_x += 1
                if h_transfer:
                    outputs.append((payload.h, payload.c))
                    last_transfer = cycle
                if reset:
                    ctx.set(harness.domain.rst, 0)
                    break
            ctx.set(dut.x.valid, 0)
            ctx.set(dut.h.ready, 0)
            outputs = np.array(outputs, dtype=np.int64).reshape(-1, 2)
            if reset:
                results.append(RunResult(outputs, None, None, last_transfer + 1, None, None))
                continue
            if next_x != len(x_words):
                raise SimulationError(f"the RPU took {next_x} of {len(x_words)} x values")
            while ctx.get(dut.busy):
                await ctx.tick()
                session_cycle += 1
            activity = {name: int(ctx.get(dut.activity[name])) for name in ACTIVITY_COUNTERS}
            results.append(complete_run_result(
                program, steps, outputs, cycles=last_transfer + 1,
                run_cycles=ctx.get(dut.cycles), saturations=ctx.get(dut.saturations),
                activity=activity))

    sim = Simulator(harness)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(testbench)
    if vcd_path:
        with sim.write_vcd(str(vcd_path)):
            sim.run()
    else:
        sim.run()
    return results


def simulate_program(program, x_codes, *, keep_state=False, stalls=None, vcd_path=None,
                     max_cycles=None, simulator="amaranth", build_dir=None):
    """Load ``program`` into a fresh RPU and run it once on ``x_codes`` (T, I).

    ``simulator`` is ``"amaranth"`` (this module), or ``"verilator"`` or ``"icarus"`` on the
    generated Verilog (:func:`rpu.sim.hdl.simulate_session_hdl`, which takes ``build_dir``
    and writes no waveform).

    Returns
    -------
    RunResult
    """
    if not isinstance(program, Program):
        raise TypeError(f"program must be a Program, not {program!r}")
    operations = [Load(program), Run(np.asarray(x_codes, dtype=np.int64),
                                     keep_state=keep_state)]
    if simulator == "amaranth":
        return simulate_session(program.config, operations, stalls=stalls,
                                vcd_path=vcd_path, max_cycles=max_cycles)[0]
    if vcd_path is not None:
        raise ValueError("vcd_path: waveforms are only written by the amaranth simulator")
    from rpu.sim.hdl import simulate_session_hdl
    return simulate_session_hdl(program.config, operations, stalls=stalls,
                                simulator=simulator, build_dir=build_dir,
                                max_cycles=max_cycles)[0]
