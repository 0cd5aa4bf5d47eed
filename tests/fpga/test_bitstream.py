"""``python -m rpu fpga``: a small configuration built end to end into a ULX3S bitstream by
the YoWASP tools (a few minutes), on a clock the ECP5's PLL makes from the board's 25 MHz,
with its report checked against nextpnr's own and against the fit check's prediction."""

import argparse
import json
import time

import pytest

from rpu.cli import fpga as fpga_command
from rpu.fpga.build import route_again
from rpu.fpga.fit import predict
from rpu.config import RPUConfig

SMALL = dict(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
             activation_units=1, elementwise_units=1)
#: The RPU's clock (MHz): the PLL's output, 3 x 25 MHz (the small configuration's f_max is
#: about 100 MHz).
CLOCK_MHZ = 75
#: The ECP5 bitstream preamble (the sync word ecppack writes after the header comment).
ECP5_PREAMBLE = b"\xff\xff\xbd\xb3"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("fpga")
    parser = argparse.ArgumentParser()
    fpga_command.add_parser(parser.add_subparsers(dest="command"))
    argv = ["fpga", "--board", "ulx3s-85f", "--clock-mhz", str(CLOCK_MHZ), "-o", str(out)]
    for name, value in SMALL.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    started = time.monotonic()
    assert fpga_command.run(parser.parse_args(argv)) == 0
    seconds = time.monotonic() - started
    print(f"ULX3S bitstream of the small configuration built in {seconds:.0f} s")
    return out, json.loads((out / "fpga.json").read_text())


def test_bitstream_is_written(build):
    out, report = build
    bitstream = (out / report["bitstream"]).read_bytes()
    assert report["bitstream"] == "rpu_ulx3s_85f.bit"
    assert ECP5_PREAMBLE in bitstream[:4096]
    assert len(bitstream) > 50_000
    page = (out / "fpga.md").read_text()
    assert page.startswith("# RPU on ulx3s-85f (LFE5U-85F)")
    # The largest LSTM the device takes with these resources (tests/fpga/test_fit.py checks
    # the fit check's answer).
    largest = report["largest_lstm"]["same_lanes"]
    assert largest["mac_lanes"] == 8 and largest["size"] > SMALL["hidden_size"]
    assert f"with these lanes and units: I = H = {largest['size']} with 8 MAC lanes" in page
    # nextpnr's report is the source of the numbers.
    nextpnr = json.loads((out / "build" / "report.json").read_text())
    assert report["utilization"]["dsps"]["used"] == nextpnr["utilization"]["MULT18X18D"]["used"]
    assert report["utilization"]["luts"]["available"] == 83640
    assert report["fmax_mhz"] == min(v["achieved"] for v in nextpnr["fmax"].values())


def test_timing_is_met_at_the_pll_clock(build):
    out, report = build
    assert report["clock_mhz"] == CLOCK_MHZ and report["board_clock_mhz"] == 25
    assert report["pll"]["output_mhz"] == CLOCK_MHZ and report["pll"]["input_mhz"] == 25
    # nextpnr timed the PLL's output clock, derived from the board clock's constraint.
    log = (out / "build" / "rpu_ulx3s_85f.tim").read_text()
    assert f"Derived frequency constraint of {CLOCK_MHZ:.1f} MHz" in log
    assert report["timing_met"] and report["fmax_mhz"] > CLOCK_MHZ
    assert report["link"]["divisor"] == round(CLOCK_MHZ * 1e6 / report["link"]["baud_rate"])
    throughput = report["throughput"]
    assert throughput["at_fmax"]["steps_per_s"] == pytest.approx(
        report["fmax_mhz"] * 1e6 / throughput["cycles_per_step"])


def _per_unit(elements, prefix):
    """Primitives per design unit under ``prefix`` (e.g. per lane, whatever the signal that
    Yosys named the cell after)."""
    counts = {}
    for element, count in elements.items():
        if element.startswith(prefix):
            unit = element[len(prefix):].split(".")[0]
            counts[unit] = counts.get(unit, 0) + count
    return counts


def test_memories_are_block_ram_and_macs_are_dsps(build):
    _, report = build
    placement = report["placement"]
    ebr, dsp = placement["DP16KD"], placement["MULT18X18D"]
    for array in range(2):
        lanes = {f"lane{lane}": 1 for lane in range(4)}
        # One weight memory (one DP16KD) and one multiplier (one MULT18X18D) per MAC lane.
        assert _per_unit(ebr, f"link.rpu.pim{array}.") == lanes
        assert _per_unit(dsp, f"link.rpu.pim{array}.") == lanes
    # The x, h and cell-state memories and the FIFOs' RAMs are DP16KD with their output
    # registers (rpu.fpga.bram: one block each, named block0), the h FIFO's h and c apart.
    for memory in ("link.rpu.x_memory.block0", "link.rpu.h_memory.block0",
                   "link.rpu.engine.cell_memory.block0", "link.rpu.engine.act0.rom",
                   "link.buffer", "link.x_fifo.storage0.block0",
                   "link.h_fifo.storage0.block0", "link.h_fifo.storage1.block0"):
        assert ebr[memory] == 1
    # The activation unit's interpolation and the element-wise unit's two products.
    assert _per_unit(dsp, "link.rpu.engine.") == {"act0": 1, "ew0": 2}
    assert placement["TRELLIS_DPR16X4"] == {}          # no memory left in LUT RAM
    assert report["utilization"]["lut_rams"]["used"] == 0


def test_prediction_matches_nextpnr(build):
    _, report = build
    used = {kind: report["utilization"][kind]["used"] for kind in ("luts", "dsps", "ebrs")}
    prediction = predict(RPUConfig(**SMALL), "LFE5U-85F")
    assert used["ebrs"] == prediction.ebrs == 16
    assert used["dsps"] == prediction.dsps == 11
    assert abs(prediction.luts - used["luts"]) <= 0.10 * used["luts"]


def test_routing_again_at_another_seed(build):
    """The same netlist placed and routed at another nextpnr seed (the bench's spread of f_max
    over seeds): nextpnr's own report of it, the same cells placed."""
    out, report = build
    fmax = route_again(out / "build", "ulx3s-85f", 2)
    again = json.loads((out / "build" / "seed2.json").read_text())
    first = json.loads((out / "build" / "report.json").read_text())
    assert fmax == min(v["achieved"] for v in again["fmax"].values()) > 0
    assert again["utilization"] == first["utilization"]
    assert "Max frequency for clock" in (out / "build" / "seed2.tim").read_text()


def test_more_seeds_when_the_clock_is_missed(tmp_path):
    """A clock the small configuration cannot reach (150 MHz; its f_max is about 100):
    with --seeds 2 the netlist is placed and routed at seeds 1 and 2, the fastest is kept
    (its report, log and bitstream), and the command exits 1 naming the missed clock."""
    parser = argparse.ArgumentParser()
    fpga_command.add_parser(parser.add_subparsers(dest="command"))
    argv = ["fpga", "--board", "ulx3s-85f", "--clock-mhz", "150", "--seeds", "2",
            "-o", str(tmp_path)]
    for name, value in SMALL.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    assert fpga_command.run(parser.parse_args(argv)) == 1
    report = json.loads((tmp_path / "fpga.json").read_text())
    build = tmp_path / "build"
    tried = {int(seed): fmax for seed, fmax in report["seeds"].items()}
    assert sorted(tried) == [1, 2] and not report["timing_met"]
    for seed in (1, 2):     # each seed's own nextpnr report
        nextpnr = json.loads((build / f"seed{seed}.json").read_text())
        assert tried[seed] == min(v["achieved"] for v in nextpnr["fmax"].values()) < 150
    best = max(tried, key=tried.get)
    assert report["seed"] == best and report["fmax_mhz"] == tried[best]
    assert (build / "report.json").read_text() == (build / f"seed{best}.json").read_text()
    assert (build / "rpu_ulx3s_85f.tim").read_text() == \
        (build / f"seed{best}.tim").read_text()
    assert ECP5_PREAMBLE in (tmp_path / "rpu_ulx3s_85f.bit").read_bytes()[:4096]
    assert f"seed {best} of the seeds tried" in (tmp_path / "fpga.md").read_text()
