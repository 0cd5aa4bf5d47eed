"""The host driver (rpu.host.Board) against the whole board design (UART, protocol engine,
RPU) simulated by Verilator behind a pseudo-terminal: a small LSTM end to end, bit exact with
Amaranth's simulation of the same program and with the fixed-point model; broken frames
injected and detected."""

import numpy as np
import pytest

from rpu.config import RPUConfig
from rpu.compiler import compile_lstm
from rpu.fpga import protocol
from rpu.fpga.protocol import Command, Error, encode_frame
from rpu.host import Board, BoardError
from rpu.sim.session import simulate_session, Load, LoadState, Run
from tests.helpers import random_lstm, require_simulator

CONFIG = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                   activation_units=1, elementwise_units=1)


@pytest.fixture(scope="module")
def simulated():
    from rpu.sim.hdl import find_verilator
    require_simulator("Verilator", find_verilator)
    from rpu.host.simulated import SimulatedBoard
    # max_payload 128 and FIFOs of 32: loads take several frames, a run several STREAMs.
    # The Verilator build is cached (~/.cache/rpu/board-verilator), as rpu.sim's are.
    with SimulatedBoard(CONFIG, divisor=4, max_payload=128, fifo_depth=32) as board:
        yield board


@pytest.fixture
def board(simulated):
    with Board(simulated.port, timeout=10) as board:
        board.reset()
        yield board


def program_and_inputs(seed, steps):
    rng = np.random.default_rng(seed)
    program = compile_lstm(CONFIG, **random_lstm(rng, 4, 8, scale=2.0))
    x = CONFIG.data_format.quantize(rng.standard_normal((steps, 4)))
    return program, x


def test_lstm_end_to_end_is_bit_exact(board):
    program, x = program_and_inputs(1, 20)      # 80 x words: more than the FIFO's 32
    board.load(program)
    h, counters = board.run(x)
    reference = simulate_session(CONFIG, [Load(program), Run(x)])[0]
    fixed = CONFIG.fixed_model().run(program.matrix, x)
    np.testing.assert_array_equal(h, reference.h)
    np.testing.assert_array_equal(board.last_result.c, reference.c)
    np.testing.assert_array_equal(h, fixed.h)
    assert counters.saturations == reference.saturations
    assert counters.activity == reference.activity
    assert counters.errors == 0
    # 160 outputs do not fit the h FIFO of 32: the RPU waits for the link, so its cycles
    # are more than alone.
    assert counters.cycles >= reference.run_cycles
    assert counters.activity["outputs"] == 20 * 8


def test_state_loads_and_runs_that_keep_it(board):
    program, x = program_and_inputs(2, 6)
    rng = np.random.default_rng(3)
    h0 = (CONFIG.data_format.quantize(rng.uniform(-1, 1, 8)),)
    c0 = (CONFIG.cell_format.quantize(rng.uniform(-2, 2, 8)),)
    board.load(program)
    board.load_state(h0, c0)
    first, _ = board.run(x[:3], keep_state=True)
    second, counters = board.run(x[3:], keep_state=True)
    reference = simulate_session(CONFIG, [Load(program), LoadState(h0, c0),
                                          Run(x[:3], keep_state=True),
                                          Run(x[3:], keep_state=True)])
    np.testing.assert_array_equal(first, reference[0].h)
    np.testing.assert_array_equal(second, reference[1].h)
    assert counters.cycles == reference[1].run_cycles   # 12 x words fit the FIFO: no stall


def test_small_run_counts_the_rpus_own_cycles(board):
    program, x = program_and_inputs(4, 3)
    board.load(program)
    _, counters = board.run(x)
    reference = simulate_session(CONFIG, [Load(program), Run(x)])[0]
    assert counters.cycles == reference.run_cycles
    assert counters.saturations == reference.saturations


def _error_of(board, data):
    board.send_raw(data)
    with pytest.raises(BoardError) as caught:
        board.expect(Command.PING)
    return caught.value


def test_corrupted_frames_are_detected_and_take_no_effect(board, simulated):
    program, x = program_and_inputs(5, 4)
    board.load(program)
    before = board.status()["errors"]
    # A weight frame with one payload bit flipped: refused, and the weights stay as loaded.
    weights = program.weight_image
    frame = bytearray(encode_frame(Command.WEIGHTS, bytes(9)))
    frame[6] ^= 0x01
    assert _error_of(board, frame).code == Error.CRC
    # Garbage, a truncated frame, a character with a low stop bit, an unknown command.
    assert _error_of(board, b"\x13\x37").code == Error.SYNC
    assert _error_of(board, encode_frame(Command.PING)[:3]).code == Error.TIMEOUT
    simulated.inject_framing_error()
    assert _error_of(board, encode_frame(Command.PING)).code == Error.FRAMING
    assert _error_of(board, encode_frame(0x55)).code == Error.COMMAND
    assert _error_of(board, encode_frame(Command.PROGRAM, bytes(4))).code == Error.SIZE
    status = board.status()
    assert status["errors"] == before + 6
    # Nothing of the broken frames took effect: the run is still exact.
    h, counters = board.run(x)
    reference = simulate_session(CONFIG, [Load(program), Run(x)])[0]
    np.testing.assert_array_equal(h, reference.h)
    assert counters.errors == before + 6
    assert weights is program.weight_image


def test_loads_are_refused_while_running(board):
    program, x = program_and_inputs(6, 2)
    board.load(program)
    board.transact(Command.START, protocol.pack_fields(protocol.START_FIELDS,
                                                       {"steps": 2, "keep_state": 0}))
    with pytest.raises(BoardError, match="BUSY") as caught:
        board.load(program)
    assert caught.value.code == Error.BUSY
    assert board.status()["busy"] == 1
    board.reset()                               # abandons the run
    assert board.status()["busy"] == 0
    h, _ = board.run(x)
    np.testing.assert_array_equal(h, simulate_session(CONFIG, [Load(program), Run(x)])[0].h)


def test_program_for_another_configuration_is_refused(board):
    other = RPUConfig(input_size=4, hidden_size=8, pim_arrays=1, lanes_per_array=8,
                      activation_units=1, elementwise_units=1)
    rng = np.random.default_rng(0)
    with pytest.raises(BoardError, match="another RPU configuration"):
        board.load(compile_lstm(other, **random_lstm(rng, 4, 8)))


def test_run_on_board_gives_the_simulators_result(simulated):
    from rpu.host import run_on_board
    from rpu.sim.session import simulate_program
    program, x = program_and_inputs(7, 3)      # 24 outputs fit the h FIFO: no stall
    [result] = run_on_board(program, [x], simulated.port,
                            baud_rate=protocol.DEFAULT_BAUD_RATE)
    reference = simulate_program(program, x)
    np.testing.assert_array_equal(result.outputs, reference.outputs)
    np.testing.assert_array_equal(result.h, reference.h)
    assert result.run_cycles == reference.run_cycles
    assert result.activity == reference.activity


def test_run_command_on_the_device(simulated, tmp_path, capsys):
    """``python -m rpu run MODEL --inputs X.npy --device PORT``: import, load, run on the
    (simulated) board, compare with the fixed-point model."""
    import json
    from rpu.cli import main
    rng = np.random.default_rng(11)
    params = random_lstm(rng, 4, 8)
    np.savez(tmp_path / "model.npz", **{f"{name}_l0": value for name, value in params.items()})
    np.save(tmp_path / "x.npy", rng.standard_normal((3, 4)))
    code = main(["run", str(tmp_path / "model.npz"), "--inputs", str(tmp_path / "x.npy"),
                 "--device", simulated.port, "--no-calibrate", "--pim-arrays", "2",
                 "--lanes-per-array", "4", "--activation-units", "1",
                 "--elementwise-units", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["simulator"] == f"board at {simulated.port}"
    assert report["bit_exact_with_fixed_point_model"]
    assert report["cycles"] == report["predicted_cycles"]


@pytest.mark.parametrize("arguments, message", [
    (["--device", "/dev/rpu-no-such-port"], "--device /dev/rpu-no-such-port"),
    (["--device", "/dev/null", "--simulator", "verilator"], "--device"),
    (["--device", "/dev/null", "--baud-rate", "0"], "--baud-rate"),
])
def test_run_device_refusals(tmp_path, capsys, arguments, message):
    from rpu.cli import main
    rng = np.random.default_rng(12)
    np.savez(tmp_path / "model.npz",
             **{f"{name}_l0": value for name, value in random_lstm(rng, 4, 8).items()})
    np.save(tmp_path / "x.npy", rng.standard_normal((3, 4)))
    code = main(["run", str(tmp_path / "model.npz"), "--inputs", str(tmp_path / "x.npy"),
                 "--no-calibrate", *arguments])
    assert code == 2
    assert message in capsys.readouterr().err
