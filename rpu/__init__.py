"""RPU: an LSTM processing-in-memory accelerator generator.

The package is layered; each folder has one role (``docs/architecture.md`` describes them):

* :mod:`rpu.config` -- :class:`RPUConfig`, the one immutable configuration;
* :mod:`rpu.hw` -- the Amaranth hardware (top, controller, cell engine, ...), over :mod:`pim`;
* :mod:`rpu.compiler` -- the expansion model: schedule, program words, calibration;
* :mod:`rpu.generator` -- ``rpu.v``, ``rpu_sram.v`` and the parameter file ``rpu.json``;
* :mod:`rpu.sim` -- simulation: Amaranth, Verilator and Icarus back ends;
* :mod:`rpu.eda` -- synthesis with Yosys, Liberty, timing, area, lint;
* :mod:`rpu.frontend` -- trained models in: safetensors, ONNX, npz, pt;
* :mod:`rpu.energy` -- the energy model and the activity counters' actions;
* :mod:`rpu.explore` -- design-space exploration;
* :mod:`rpu.cli` -- ``python -m rpu`` and its commands.

The public names below are imported on first use, so that ``import rpu.frontend`` does not
load Amaranth.
"""

import importlib


#: Public name -> module that defines it.
_EXPORTS = {
    "RPUConfig": "rpu.config", "ConfigError": "rpu.config",
    "RPU": "rpu.hw.top",
    "compile_lstm": "rpu.compiler.codegen", "compile_stacked": "rpu.compiler.codegen",
    "plan_schedule": "rpu.compiler.schedule", "Schedule": "rpu.compiler.schedule",
    "Program": "rpu.compiler.codegen",
    "calibrate": "rpu.compiler.calibration",
    "generate": "rpu.generator", "emit_verilog": "rpu.generator", "describe": "rpu.generator",
    "simulate_program": "rpu.sim.session", "simulate_session": "rpu.sim.session",
    "Load": "rpu.sim.session", "Run": "rpu.sim.session", "RunResult": "rpu.sim.session",
    "load_model": "rpu.frontend", "ImportedLSTM": "rpu.frontend",
    "ModelImportError": "rpu.frontend",
    "energy_from_activity": "rpu.energy.activity",
    "run_model": "rpu.flow",
    "explore": "rpu.explore.sweep",
    "synthesize_rpu": "rpu.eda.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'rpu' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
