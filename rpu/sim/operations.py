"""A session of an RPU: the operations a testbench applies to it, in order, and what a run
gives back. Every simulator (:mod:`rpu.sim.session`) takes and returns these.

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

from rpu.config import MAX_STEPS
from rpu.compiler import Program


__all__ = ["Load", "LoadState", "Run", "StallPatterns", "RunResult", "SimulationError",
           "STREAMS", "complete_run_result", "check_session", "run_limit", "x_transfers",
           "run_steps"]


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
    """One run: ``x_codes`` (T, I) data-format codes; with a batch of B sequences
    (``RPUConfig.batch``), (B, T, I).

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
    outputs : numpy.ndarray of int64, (N, 2), or (N, B, 2) with a batch
        Every (h, c) pair transferred on the ``h`` stream, in order.
    h, c : numpy.ndarray of int64, (T, H) or (B, T, H) with a batch, or None
        The last layer's outputs as steps x units (None if the run was cut short by reset).
    layers_h, layers_c : list of numpy.ndarray, or None
        Every streamed layer's outputs (all layers when the program sets output_all).
    activity : dict of int, or None
        The RPU's activity counters after the run (see :class:`rpu.hw.top.RPU`).
    cycles : int
        Cycles from the start cycle through the last h transfer.
    run_cycles, saturations : int
        The RPU's counters after the run (None if it was reset).
    stalled_cycles : int or None
        Busy cycles of the run in which the RPU held (its ``stalled`` output): with the
        schedule's ``run_cycles(T)``, ``run_cycles = run_cycles(T) + stalled_cycles``.
        Amaranth's simulator only (None from the HDL simulators).
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
    stalled_cycles: Optional[int] = None


def complete_run_result(program, steps, outputs, *, cycles, run_cycles, saturations,
                        activity, stalled_cycles=None):
    """The :class:`RunResult` of a complete run of ``program``: ``outputs`` (N, 2) split into
    steps and into the layers the program streams out. With a batch of B sequences,
    ``outputs`` is (N, B, 2) and every h and c array gets a leading sequence axis:
    (B, T, H)."""
    schedule = program.schedule
    B = program.config.batch
    emitted = schedule.layers if schedule.output_all else schedule.layers[-1:]
    outputs = np.asarray(outputs, dtype=np.int64).reshape((-1, 2) if B == 1 else (-1, B, 2))
    # (steps, outputs per step, B, 2)
    per_step = outputs.reshape(steps, schedule.outputs_per_step(), B, 2)
    layers_h, layers_c, offset = [], [], 0
    for layer in emitted:
        part = per_step[:, offset:offset + layer.hidden_size].transpose(2, 0, 1, 3)
        if B == 1:
            part = part[0]
        layers_h.append(part[..., 0].copy())
        layers_c.append(part[..., 1].copy())
        offset += layer.hidden_size
    return RunResult(outputs, layers_h[-1], layers_c[-1], cycles, run_cycles, saturations,
                     layers_h, layers_c, activity, stalled_cycles)


def x_transfers(config, x_codes):
    """The payloads of the ``x`` stream for a run's ``x_codes``: one int per transfer, or
    with a batch a list of B ints (sequence b's word in element b)."""
    x = np.asarray(x_codes)
    if config.batch == 1:
        return [int(v) for v in x.reshape(-1)]
    return [[int(v) for v in words] for words in x.reshape(config.batch, -1).T]


def run_steps(config, x_codes):
    """Steps of a run's ``x_codes`` ((T, I), or (B, T, I) with a batch)."""
    x = np.asarray(x_codes)
    return x.shape[0] if config.batch == 1 else x.shape[1]


def run_limit(program, steps, stalls, max_cycles):
    """The cycles after which a run of ``steps`` steps is given up: ``max_cycles``, or 8x
    its predicted count divided by the stall patterns' density, plus 1000."""
    return max_cycles or int(8 * program.schedule.total_cycles(steps)
                             / stalls.density()) + 1000


def check_session(config, operations):
    """Validate ``operations`` (a list of Load, LoadState and Run) for ``config``'s RPU
    before any simulator starts; raises TypeError or ValueError naming the operation."""
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
            I, B = loaded.input_size, config.batch
            shape = "(T, {I})" if B == 1 else f"({B}, T, {I})"
            if x.shape[:-2] != (() if B == 1 else (B,)) or x.ndim < 2 or x.shape[-1] != I \
                    or not 1 <= x.shape[-2] <= MAX_STEPS:
                raise ValueError(f"operations[{index}].x_codes must have shape "
                                 f"{shape.format(I=I)} with 1 <= T <= {MAX_STEPS}, not "
                                 f"{x.shape}")
            fmt = config.data_format
            if x.min() < fmt.min_code or x.max() > fmt.max_code:
                raise ValueError(f"operations[{index}].x_codes must be codes of {fmt}")
        else:
            raise TypeError(f"operations[{index}] must be a Load, LoadState or Run, not "
                            f"{operation!r}")
