"""Stacked LSTMs on one RPU: every layer's weights in the PIM memories, interleaved or layer
by layer, initial states in and final states out, all bit exact against the fixed model."""

import numpy as np
import pytest

from lstm_ref.fixed_lstm import FixedLSTM
from lstm_ref.float_lstm import lstm_forward
from rpu.config import RPUConfig, ConfigError
from rpu.compiler import compile_stacked, plan_layer_by_layer, choose_mode
from rpu.sim.session import Load, LoadState, Run, simulate_session
from tests.helpers import random_stack


stack = random_stack


def config_for(input_size, hidden_sizes, **resources):
    values = dict(pim_arrays=2, lanes_per_array=4, activation_units=1, elementwise_units=1)
    values.update(resources)
    return RPUConfig(input_size=input_size, hidden_size=max(hidden_sizes),
                     num_layers=len(hidden_sizes), **values)


def golden(config, program, x, h0=None, c0=None):
    model = FixedLSTM(data_format=config.data_format, weight_format=config.weight_format,
                      activation_segments=config.activation_segments)
    return model.run_stacked(program.matrices, x, h0=h0, c0=c0)


CASES = {
    "2-layers-5-4": (3, [5, 4], {}),
    "2-layers-wide-then-narrow": (6, [9, 2], dict(activation_units=2)),
    "3-layers-3-7-2": (4, [3, 7, 2], {}),
    "3-layers-16-lanes": (5, [8, 12, 6], dict(pim_arrays=4, elementwise_units=2)),
}


@pytest.mark.parametrize("name", CASES)
def test_interleaved_bit_exact(name):
    input_size, hidden_sizes, resources = CASES[name]
    config = config_for(input_size, hidden_sizes, **resources)
    rng = np.random.default_rng(len(name))
    layers = stack(rng, input_size, hidden_sizes)
    x_float = rng.standard_normal((20, input_size))
    x = config.data_format.quantize(x_float)
    program = compile_stacked(config, layers, output_all=True)
    [result] = simulate_session(config, [Load(program), Run(x)])
    expected = golden(config, program, x)
    for layer_h, layer_c, reference in zip(result.layers_h, result.layers_c, expected):
        np.testing.assert_array_equal(layer_h, reference.h)
        np.testing.assert_array_equal(layer_c, reference.c)
    assert result.cycles == program.schedule.total_cycles(20)
    assert result.activity == program.schedule.activity(20)
    assert result.saturations == sum(r.saturations for r in expected)
    # Against float64, layer after layer.
    inputs = x_float
    for layer_h, params in zip(result.layers_h, layers):
        reference = lstm_forward(inputs, **params)
        assert np.abs(config.data_format.to_float(layer_h) - reference.h).max() <= 2 ** -7
        inputs = reference.h


def test_initial_states_in_final_states_out():
    config = config_for(3, [5, 4])
    rng = np.random.default_rng(11)
    program = compile_stacked(config, stack(rng, 3, [5, 4]), output_all=True)
    fmt = config.data_format
    h0 = [fmt.quantize(rng.uniform(-1, 1, h)) for h in (5, 4)]
    c0 = [fmt.quantize(rng.uniform(-2, 2, h)) for h in (5, 4)]
    x = fmt.quantize(rng.standard_normal((6, 3)))
    fresh, loaded = simulate_session(config, [
        Load(program), Run(x), LoadState(h0, c0), Run(x, keep_state=True)])
    expected = golden(config, program, x, h0=h0, c0=c0)
    for position in range(2):
        np.testing.assert_array_equal(loaded.layers_h[position], expected[position].h)
        np.testing.assert_array_equal(loaded.layers_c[position], expected[position].c)
        # Final states of every layer are the last step's outputs.
        np.testing.assert_array_equal(loaded.layers_h[position][-1], expected[position].h[-1])
    assert not np.array_equal(fresh.h, loaded.h)


def test_last_layer_only_on_the_stream():
    config = config_for(4, [3, 7, 2])
    rng = np.random.default_rng(12)
    program = compile_stacked(config, stack(rng, 4, [3, 7, 2]))
    x = config.data_format.quantize(rng.standard_normal((5, 4)))
    [result] = simulate_session(config, [Load(program), Run(x)])
    assert result.outputs.shape == (5 * 2, 2)
    np.testing.assert_array_equal(result.h, golden(config, program, x)[-1].h)


def test_layer_by_layer_matches_interleaved():
    """Each layer run on its own over the whole sequence, its outputs streamed back in."""
    config = config_for(4, [6, 3])
    rng = np.random.default_rng(13)
    program = compile_stacked(config, stack(rng, 4, [6, 3]))
    x = config.data_format.quantize(rng.standard_normal((7, 4)))
    inputs = x
    for layer_program in plan_layer_by_layer(program):
        [result] = simulate_session(config, [Load(program),
                                             Load(layer_program, weights=False),
                                             Run(inputs)])
        assert result.cycles == layer_program.schedule.total_cycles(7)
        inputs = result.h
    np.testing.assert_array_equal(inputs, golden(config, program, x)[-1].h)
    modes = choose_mode(program, 7)
    assert modes["mode"] == min(("interleaved", "layer_by_layer"), key=modes.get)


def test_stack_must_fit():
    config = config_for(3, [5, 4])
    rng = np.random.default_rng(14)
    with pytest.raises(ConfigError, match="num_layers"):
        compile_stacked(config, stack(rng, 3, [5, 4, 4]))
    with pytest.raises(ConfigError, match="hidden_size"):
        compile_stacked(config, stack(rng, 3, [6, 4]))
    layers = stack(rng, 3, [5, 4])
    layers[1]["weight_ih"] = layers[1]["weight_ih"][:, :4]
    with pytest.raises(ValueError, match=r"layers\[1\].*input size 4.*hidden size 5"):
        compile_stacked(config, layers)
