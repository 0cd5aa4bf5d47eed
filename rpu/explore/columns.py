"""The columns of points.csv and pareto.csv (one per metric of a point, with its unit)."""


__all__ = ["COLUMNS", "NO_SYNTH"]

#: ``(key, CSV header with unit)`` of every column of points.csv and pareto.csv.
COLUMNS = (
    ("point", "point [id]"),
    ("pim_arrays", "pim_arrays [arrays]"),
    ("lanes_per_array", "lanes_per_array [lanes]"),
    ("weights_per_word", "weights_per_word [weights]"),
    ("batch", "batch [sequences]"),
    ("mac_lanes", "mac_lanes [lanes]"),
    ("activation_units", "activation_units [units]"),
    ("elementwise_units", "elementwise_units [units]"),
    ("data_width", "data_width [bits]"),
    ("data_frac_bits", "data_frac_bits [bits]"),
    ("cell_frac_bits", "cell_frac_bits [bits]"),
    ("weight_width", "weight_width [bits]"),
    ("weight_frac_bits", "weight_frac_bits [bits]"),
    ("row_scales", "row_scales [bool]"),
    ("activation_segments", "activation_segments [segments]"),
    ("steps", "steps [steps]"),
    ("cycles_per_step", "cycles_per_step [cycles]"),
    ("total_cycles", "total_cycles [cycles]"),
    ("utilization", "utilization [fraction]"),
    ("area_clock_source", "area_clock_source [text]"),
    ("logic_area_ge", "logic_area [GE]"),
    ("logic_area_um2", "logic_area [um2]"),
    ("sram_area_um2", "sram_area_modelled [um2]"),
    ("total_area_um2", "total_area [um2]"),
    ("total_area_mm2", "total_area [mm2]"),
    ("critical_path_ns", "critical_path_estimated [ns]"),
    ("f_max_mhz", "f_max_estimated [MHz]"),
    ("latency_us", "latency [us]"),
    ("throughput_gops", "throughput [GOPS]"),
    ("energy_per_step_pj", "energy_per_step_modelled [pJ]"),
    ("gops_per_watt", "efficiency_modelled [GOPS/W]"),
    ("power_mw", "power_modelled [mW]"),
    ("max_abs_error_h", "max_abs_error_h_vs_float64 [1]"),
    ("mean_abs_error_h", "mean_abs_error_h_vs_float64 [1]"),
    ("saturations", "saturations [events]"),
    ("pareto", "pareto [bool]"),
)

NO_SYNTH = "none (--no-synth): no area, no clock"
