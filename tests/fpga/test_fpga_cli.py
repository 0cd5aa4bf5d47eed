"""``python -m rpu fpga`` (rpu.cli.fpga): the fit check's refusals and bad options, all
before any tool runs; ``run --device`` on a missing port."""

import argparse

import numpy as np
import pytest

from rpu.cli import fpga as fpga_command
from rpu.host import run_on_board
from rpu.compiler import compile_lstm
from rpu.config import RPUConfig
from rpu.fpga.fit import FitError, largest_lstm
from tests.helpers import random_lstm

SMALL = dict(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
             activation_units=1, elementwise_units=1)
SMALL_ARGS = ["--input-size", "4", "--hidden-size", "8", "--pim-arrays", "2",
              "--lanes-per-array", "4", "--activation-units", "1", "--elementwise-units", "1"]


def parse(argv):
    """The parsed command line of ``fpga ARGV``, as the CLI's parser reads it."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    fpga_command.add_parser(commands)
    return parser.parse_args(["fpga", *argv])


def test_cli_check_only(tmp_path, capsys):
    args = parse(["--board", "ulx3s-85f", "--input-size", "4", "--hidden-size", "8",
                  "--pim-arrays", "2", "--lanes-per-array", "4", "--activation-units", "1",
                  "--elementwise-units", "1", "--check-only", "-o", str(tmp_path / "out")])
    assert fpga_command.run(args) == 0
    out = capsys.readouterr().out
    assert "fit check for LFE5U-85F:" in out and "11 DSPs of 156, 16 EBRs of 208" in out
    # The largest LSTM these 8 lanes take (rpu.fpga.fit's tests check its value).
    largest = largest_lstm("LFE5U-85F", RPUConfig(**SMALL))
    assert (f"largest LSTM on the LFE5U-85F with these lanes and units: I = H = "
            f"{largest.input_size} with 8 MAC lanes (2 x 4)") in out
    assert not (tmp_path / "out" / "build").exists()


def test_cli_refuses_before_building(tmp_path):
    args = parse(["--board", "orangecrab-25f", "--input-size", "64", "--hidden-size", "128",
                  "-o", str(tmp_path / "out")])
    with pytest.raises(FitError, match="DSPs"):
        fpga_command.run(args)
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_batch(tmp_path):
    """The host link streams one sequence: a batch is refused before building."""
    args = parse(["--board", "ulx3s-85f", "--input-size", "4", "--hidden-size", "8",
                  "--batch", "2", "-o", str(tmp_path / "out")])
    with pytest.raises(FitError, match=r"^batch must be 1 on a board .*, not 2$"):
        fpga_command.run(args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--baud-rate", "20000000"], "--baud-rate 20000000 is too high"),
    (["--baud-rate", "0"], "--baud-rate must be from 1"),
    (["--seed", "-1"], "--seed must be from 0"),
    (["--seeds", "0"], "--seeds must be from 1"),
    (["--seeds", "17"], "--seeds must be from 1"),
    (["--seed", str((1 << 31) - 1), "--seeds", "2"], "--seeds 2: seeds from --seed"),
    (["--clock-mhz", "0"], "--clock-mhz must be a finite positive number"),
    (["--clock-mhz", "nan"], "--clock-mhz must be a finite positive number"),
    (["--clock-mhz", "500"], "--clock-mhz: clock_hz must be between 3.125 and 400 MHz"),
    # The baud rate is checked against the PLL's clock: at 3.125 MHz, 2 Mbaud leaves fewer
    # cycles per bit than the UART needs.
    (["--clock-mhz", "3.125", "--baud-rate", "2000000"], "--baud-rate 2000000 is too high"),
])
def test_cli_bad_options(tmp_path, argv, message):
    args = parse(["--board", "ulx3s-85f", "--input-size", "4", "--hidden-size", "8",
                  "-o", str(tmp_path), *argv])
    with pytest.raises(ValueError, match=message):
        fpga_command.run(args)


def test_cli_unknown_board(capsys):
    with pytest.raises(SystemExit) as caught:
        parse(["--board", "de10-nano", "--input-size", "4", "--hidden-size", "8", "-o", "x"])
    assert caught.value.code == 2
    assert "invalid choice: 'de10-nano'" in capsys.readouterr().err


def test_run_on_a_missing_device_names_the_option(tmp_path):
    config = RPUConfig(**SMALL)
    program = compile_lstm(config, **random_lstm(np.random.default_rng(0), 4, 8))
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(ValueError, match=f"--device {missing}: "):
        run_on_board(program, [np.zeros((1, 4), np.int64)], missing, baud_rate=115200)


def test_fpga_command_through_main(tmp_path, capsys):
    """``python -m rpu fpga`` is wired into the command line: the check-only path and a
    refusal with exit 2 naming what overflows."""
    from rpu.cli import main
    assert main(["fpga", "--board", "ulx3s-85f", *SMALL_ARGS, "--check-only",
                 "-o", str(tmp_path / "ok")]) == 0
    assert "fit check for LFE5U-85F" in capsys.readouterr().out
    assert main(["fpga", "--board", "orangecrab-25f", "--input-size", "64", "--hidden-size",
                 "128", "-o", str(tmp_path / "big")]) == 2
    assert "DSPs" in capsys.readouterr().err


def test_cli_exits_1_when_the_clock_is_not_met(tmp_path, monkeypatch, capsys):
    """A build whose f_max is below its clock writes everything and exits 1, naming a clock
    it would meet."""
    import rpu.fpga.build as build

    def missed(config, board, out, **options):
        assert options["clock_hz"] == 100e6
        count = {"used": 1, "available": 2}
        return {"bitstream": "rpu_ulx3s_85f.bit", "build_seconds": 1.0, "fmax_mhz": 80.98,
                "clock_mhz": 100.0, "timing_met": False,
                "utilization": {kind: count for kind in ("luts", "ffs", "dsps", "ebrs")}}
    monkeypatch.setattr(build, "build_bitstream", missed)
    args = parse(["--board", "ulx3s-85f", *SMALL_ARGS, "--clock-mhz", "100",
                  "-o", str(tmp_path / "out")])
    assert fpga_command.run(args) == 1
    err = capsys.readouterr().err
    assert "timing is not met: f_max 80.98 MHz is below the 100 MHz clock" in err
    assert "rebuild with --clock-mhz 80 or less" in err
