"""The RPU's clock on a board: the ECP5 PLL's dividers (:mod:`rpu.fpga.clock`), and the
board top built with and without the PLL."""

import pytest

from rpu.config import RPUConfig
from rpu.fpga.boards import BoardTop, board
from rpu.fpga.build import FORCE_BLOCK_RAM, clock_plan
from rpu.fpga.clock import PLLParameters, pll_parameters


@pytest.mark.parametrize("output_mhz", [3.125, 33.3, 48, 62.5, 75, 100, 133.33, 250, 400])
def test_pll_dividers_are_in_range_and_nearest(output_mhz):
    p = pll_parameters(25e6, output_mhz * 1e6)
    pfd = 25e6 / p.clki_div
    # The data sheet's ranges, and the frequencies the dividers give.
    assert 3.125e6 <= pfd <= 400e6
    assert p.output_hz == pytest.approx(pfd * p.clkfb_div)
    assert 400e6 <= p.output_hz * p.clkop_div <= 800e6
    assert p.vco_hz == pytest.approx(p.output_hz * p.clkop_div)
    assert 1 <= p.clki_div <= 128 and 1 <= p.clkfb_div <= 80 and 1 <= p.clkop_div <= 128
    # No setting is nearer: 25 MHz / d * f over every divider pair the PFD admits.
    nearest = min(abs(25e6 / d * f - output_mhz * 1e6)
                  for d in range(1, 9) for f in range(1, 81)
                  if any(400e6 <= 25e6 / d * f * k <= 800e6 for k in range(1, 129)))
    assert abs(p.output_hz - output_mhz * 1e6) == pytest.approx(nearest)


def test_pll_for_100_mhz_from_25():
    # 25 MHz x 4 = 100 MHz exactly, its VCO at 600 MHz (the middle of 400..800).
    assert pll_parameters(25e6, 100e6) == PLLParameters(25e6, 1, 4, 6)
    assert pll_parameters(25e6, 100e6).to_dict() == {
        "input_mhz": 25.0, "output_mhz": 100.0, "vco_mhz": 600.0, "clki_div": 1,
        "clkfb_div": 4, "clkop_div": 6}


@pytest.mark.parametrize("output_mhz", [0, 3, 401, 1000])
def test_pll_refuses_frequencies_out_of_its_range(output_mhz):
    with pytest.raises(ValueError, match="clock_hz must be between 3.125 and 400 MHz"):
        pll_parameters(25e6, output_mhz * 1e6)


def test_clock_plan():
    assert clock_plan("ulx3s-85f") == (25e6, None)
    assert clock_plan("ulx3s-85f", 25e6) == (25e6, None)
    assert clock_plan("orangecrab-85f") == (48e6, None)
    hz, pll = clock_plan("ulx3s-85f", 66.7e6)
    assert pll.input_hz == 25e6 and hz == pll.output_hz
    assert abs(hz - 66.7e6) < 0.1e6


def _rtlil(pll_mhz):
    config = RPUConfig(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                       activation_units=1, elementwise_units=1)
    target = board("ulx3s-85f")
    hz, pll = clock_plan(target.name, pll_mhz and pll_mhz * 1e6)
    platform = target.make_platform()
    plan = platform.prepare(BoardTop(config=config, clock_hz=hz, pll=pll), name="top",
                            script_after_read=FORCE_BLOCK_RAM)
    return plan.files["top.il"], plan.files["top.lpf"]


def test_board_top_on_the_board_clock_has_no_pll():
    rtlil, lpf = _rtlil(None)
    assert "EHXPLLL" not in rtlil
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ' in lpf


def test_board_top_on_a_pll():
    rtlil, lpf = _rtlil(100)
    assert rtlil.count("cell \\EHXPLLL") == 1
    for parameter, value in (("CLKI_DIV", 1), ("CLKFB_DIV", 4), ("CLKOP_DIV", 6),
                             ("CLKOP_CPHASE", 5)):
        assert f"parameter \\{parameter} {value}" in rtlil
    assert 'parameter \\FEEDBK_PATH "CLKOP"' in rtlil
    # nextpnr derives the PLL output's constraint from the board clock's.
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ' in lpf


def test_board_top_refuses_a_clock_other_than_the_pll_output():
    with pytest.raises(ValueError, match="is not the PLL's output"):
        BoardTop(config=RPUConfig(input_size=4, hidden_size=8), clock_hz=50e6,
                 pll=pll_parameters(25e6, 100e6))
