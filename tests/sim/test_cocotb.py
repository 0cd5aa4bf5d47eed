"""The emitted Verilog under a cocotb testbench, as a user's own verification would run it.

``rpu generate`` writes ``rpu.v``, ``rpu_sram.v`` and ``rpu.json`` for a small RPU. cocotb's
runner builds them with Icarus Verilog and runs ``tests/cocotb/rpu_tb.py``. That testbench
drives only the documented ports, and checks the results against the golden models. This
test fails if any cocotb test fails.

Icarus Verilog (``iverilog``, Debian package ``iverilog``) must be installed. On CI
(``CI=true``) its absence is a failure; elsewhere the test is skipped, and says why.
"""

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from rpu.config import RPUConfig
from rpu.generator import generate
from tests.helpers import ON_CI


TESTBENCH_DIR = Path(__file__).parent / "cocotb"
TESTBENCH_MODULE = "rpu_tb"

# A small RPU: 2 PIM arrays of 4 lanes (8 MAC lanes), capacity I=5, H=6. The testbench runs
# LSTMs of that size and a smaller one on it.
CONFIG = dict(input_size=5, hidden_size=6, pim_arrays=2, lanes_per_array=4,
              activation_units=1, elementwise_units=1)


def _require_iverilog():
    if shutil.which("iverilog") and shutil.which("vvp"):
        return
    reason = ("Icarus Verilog (iverilog, vvp) is not installed, so the cocotb testbench of "
              "the emitted Verilog was NOT run; install it with `apt-get install iverilog`")
    if ON_CI:
        pytest.fail(reason + " (required on CI)")
    pytest.skip(reason)


def _failures(results_xml):
    """(number of cocotb tests, [(name, message)] of the failed ones) from results.xml."""
    root = ElementTree.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    failed = []
    for case in cases:
        for problem in list(case.iter("failure")) + list(case.iter("error")):
            failed.append((case.get("name"), problem.get("message") or problem.text or ""))
    return len(cases), failed


def test_cocotb_testbench(tmp_path, monkeypatch):
    _require_iverilog()
    from cocotb_tools.runner import get_runner

    dut_dir = tmp_path / "rpu"
    generate(RPUConfig(**CONFIG), dut_dir)

    # The runner hands the simulator's Python this process's sys.path.
    monkeypatch.syspath_prepend(str(TESTBENCH_DIR))
    runner = get_runner("icarus")
    build_dir = tmp_path / "sim_build"
    runner.build(sources=[dut_dir / "rpu.v", dut_dir / "rpu_sram.v"], hdl_toplevel="rpu",
                 build_dir=build_dir, timescale=("1ns", "1ps"), always=True)
    results_xml = build_dir / "results.xml"
    try:
        runner.test(test_module=TESTBENCH_MODULE, hdl_toplevel="rpu", build_dir=build_dir,
                    test_dir=build_dir, results_xml=str(results_xml),
                    extra_env={"RPU_COCOTB_DIR": str(dut_dir)}, seed=1)
    except SystemExit as exit:
        # The runner exits when the simulator fails or, under pytest, when a test failed.
        if not results_xml.exists():
            pytest.fail(f"the cocotb simulation failed (exit {exit.code}) without results")
    assert results_xml.exists(), "cocotb wrote no results"
    count, failed = _failures(results_xml)
    assert count >= 5, f"only {count} cocotb tests ran"
    assert not failed, "cocotb tests failed:\n" + "\n".join(
        f"  {name}: {message}" for name, message in failed)
