"""Stalls on every stream, reset in the middle of a run, runs back to back, reloading.

Every result is checked against the fixed-point model: no vector lost, duplicated or
reordered, whatever the stream partners do.
"""

import dataclasses

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from rpu.config import RPUConfig
from rpu.compiler import compile_lstm
from rpu.sim.session import Load, Run, StallPatterns, simulate_session
from tests.helpers import random_lstm


CONFIG = RPUConfig(input_size=6, hidden_size=9, pim_arrays=2, lanes_per_array=4,
                   activation_units=2, elementwise_units=1)


def golden(config, program, x_codes, h0=None, c0=None):
    return FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                     activation_segments=config.activation_segments
                     ).run(program.matrix, x_codes, h0=h0, c0=c0)


def inputs(rng, config, steps, I):
    return config.data_format.quantize(rng.standard_normal((steps, I)))


# 48 sessions, each with its own four random 1021-cycle patterns.
@pytest.mark.parametrize("seed", range(48))
def test_random_stalls_on_every_stream(seed):
    rng = np.random.default_rng(seed)
    I, H = int(rng.integers(1, 7)), int(rng.integers(1, 10))
    program = compile_lstm(CONFIG, **random_lstm(rng, I, H))
    x = inputs(rng, CONFIG, int(rng.integers(2, 6)), I)
    probability = [0.2, 0.5, 0.8][seed % 3]
    stalls = StallPatterns.random(seed, probability=probability)
    [result] = simulate_session(CONFIG, [Load(program), Run(x)], stalls=stalls)
    expected = golden(CONFIG, program, x)
    np.testing.assert_array_equal(result.h, expected.h)
    np.testing.assert_array_equal(result.c, expected.c)
    assert result.saturations == expected.saturations
    # Stalls only ever add cycles: at least the cycles in which the RPU held (its stalled
    # output; the others wait for the host to take the last h words).
    assert result.cycles >= program.schedule.total_cycles(len(x))
    assert result.run_cycles >= program.schedule.run_cycles(len(x)) + result.stalled_cycles


def test_no_stall_while_the_streams_keep_up():
    """With x always valid and h always ready, the two-word stream buffers never hold the
    RPU: no stalled cycle, the run takes exactly the schedule's cycles. With a starved x
    stream (and h always taken) it holds, and the held cycles are exactly what the run takes
    more."""
    rng = np.random.default_rng(5)
    program = compile_lstm(CONFIG, **random_lstm(rng, 5, 9))
    x = inputs(rng, CONFIG, 4, 5)
    [free] = simulate_session(CONFIG, [Load(program), Run(x)])
    assert free.stalled_cycles == 0
    assert free.run_cycles == program.schedule.run_cycles(4)
    starved = dataclasses.replace(StallPatterns.never(),
                                  x_valid=StallPatterns.random(3, probability=0.3).x_valid)
    [held] = simulate_session(CONFIG, [Load(program), Run(x)], stalls=starved)
    np.testing.assert_array_equal(held.outputs, free.outputs)
    assert held.stalled_cycles > 0
    assert held.run_cycles == free.run_cycles + held.stalled_cycles


def test_stall_patterns_are_reproducible():
    a, b = StallPatterns.random(7), StallPatterns.random(7)
    for name in ("program_valid", "weights_valid", "x_valid", "h_ready"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert 0 < getattr(a, name).mean() < 1


def test_back_to_back_runs_with_and_without_state():
    rng = np.random.default_rng(100)
    program = compile_lstm(CONFIG, **random_lstm(rng, 5, 9))
    x1, x2, x3 = (inputs(rng, CONFIG, steps, 5) for steps in (4, 3, 5))
    r1, r2, r3 = simulate_session(CONFIG, [
        Load(program), Run(x1), Run(x2, keep_state=True), Run(x3)])
    g1 = golden(CONFIG, program, x1)
    g2 = golden(CONFIG, program, x2, h0=g1.h[-1], c0=g1.c[-1])
    g3 = golden(CONFIG, program, x3)
    for result, expected in ((r1, g1), (r2, g2), (r3, g3)):
        np.testing.assert_array_equal(result.h, expected.h)
        np.testing.assert_array_equal(result.c, expected.c)
    # Carrying the state over is the same as one long run.
    whole = golden(CONFIG, program, np.concatenate([x1, x2]))
    np.testing.assert_array_equal(np.concatenate([r1.h, r2.h]), whole.h)


def test_new_program_between_runs():
    """Two different LSTMs (different sizes) loaded one after the other into one RPU."""
    rng = np.random.default_rng(200)
    first = compile_lstm(CONFIG, **random_lstm(rng, 6, 9))
    second = compile_lstm(CONFIG, **random_lstm(rng, 2, 3))
    x1, x2 = inputs(rng, CONFIG, 3, 6), inputs(rng, CONFIG, 4, 2)
    r1, r2, r3 = simulate_session(CONFIG, [
        Load(first), Run(x1), Load(second), Run(x2), Load(first), Run(x1)],
        stalls=StallPatterns.random(3, probability=0.6))
    np.testing.assert_array_equal(r1.h, golden(CONFIG, first, x1).h)
    np.testing.assert_array_equal(r2.h, golden(CONFIG, second, x2).h)
    np.testing.assert_array_equal(r2.c, golden(CONFIG, second, x2).c)
    np.testing.assert_array_equal(r3.h, r1.h)


@pytest.mark.parametrize("reset_after", [3, 40, 150])
def test_reset_in_the_middle_then_clean_run(reset_after):
    rng = np.random.default_rng(300 + reset_after)
    program = compile_lstm(CONFIG, **random_lstm(rng, 4, 7))
    x = inputs(rng, CONFIG, 6, 4)
    aborted, clean = simulate_session(CONFIG, [
        Load(program), Run(x, reset_after=reset_after), Load(program), Run(x)])
    expected = golden(CONFIG, program, x)
    assert aborted.h is None
    # What came out before the reset is a correct prefix.
    np.testing.assert_array_equal(aborted.outputs[:, 0], expected.h.reshape(-1)[
        :len(aborted.outputs)])
    np.testing.assert_array_equal(clean.h, expected.h)
    np.testing.assert_array_equal(clean.c, expected.c)
    assert clean.cycles == program.schedule.total_cycles(len(x))
