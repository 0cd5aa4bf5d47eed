"""EDA flows: synthesis with Yosys, the Liberty reader, the timing estimate, the SRAM and
cell-library models, the synthesis report, and lint of the generated Verilog."""
