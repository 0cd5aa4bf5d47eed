"""The expansion model: from an LSTM and an :class:`rpu.config.RPUConfig` to an exact
schedule (:mod:`~rpu.compiler.schedule`), the program words and weight images that run it
(:mod:`~rpu.compiler.encoding`, :mod:`~rpu.compiler.codegen`); and calibration of formats
(:mod:`~rpu.compiler.calibration`).
"""

from rpu.compiler.schedule import (expand_step, ops_per_step, plan_schedule, LayerSchedule,
                                   Schedule, plan_layer_by_layer, choose_mode, LANE_TO_ENGINE)
from rpu.compiler.encoding import program_registers, weight_image
from rpu.compiler.codegen import compile_lstm, compile_stacked, with_delta, Program


__all__ = ["expand_step", "ops_per_step", "plan_schedule", "LayerSchedule", "Schedule",
           "plan_layer_by_layer", "choose_mode", "LANE_TO_ENGINE", "program_registers",
           "weight_image", "compile_lstm", "compile_stacked", "with_delta", "Program"]
