"""The fixed-point formats of a sweep: calibrated once per (data width, weight width), and
their accuracy on the inputs with the bit-accurate fixed-point model (no RTL simulation: the
RTL is bit exact to that model for any resources, so accuracy depends on the formats only).
"""

import numpy as np

from rpu.config import RPUConfig


__all__ = ["calibrate_format", "measure_accuracy"]


def calibrate_format(shared, widths):
    """Calibrate the formats of one ``(data width, weight width)`` and measure their
    accuracy on the inputs (runs in a worker).

    Parameters
    ----------
    shared : dict
        ``layers``, ``calibration`` and ``sequences`` (lists of ``(T, I)`` arrays),
        ``references`` (float64 h of the last layer per sequence), ``segments``.
    widths : tuple of int

    Returns
    -------
    dict
        ``values`` (the format fields of :class:`RPUConfig`), ``accuracy``, and what
        calibration found on the calibration inputs.
    """
    from rpu.compiler.calibration import calibrate

    data_width, weight_width = widths
    segments = min(shared["segments"], 1 << (data_width - 2))
    chosen = calibrate(shared["layers"], shared["calibration"], data_width=data_width,
                       weight_width=weight_width, activation_segments=segments)
    values = {"data_width": data_width, "data_frac_bits": chosen.data_frac_bits,
              "cell_frac_bits": chosen.cell_frac_bits, "weight_width": weight_width,
              "weight_frac_bits": chosen.weight_frac_bits, "activation_segments": segments}
    config = RPUConfig(**values)
    accuracy = measure_accuracy(shared["layers"], shared["sequences"], shared["references"],
                                config)
    return {"values": values, "accuracy": accuracy,
            "calibration_saturations": dict(chosen.saturations),
            "calibration_max_abs_error_h": chosen.max_abs_error_h}


def measure_accuracy(layers, sequences, references, config):
    """Saturations and |h - float64| of the last layer, with the fixed-point model."""
    from lstm_ref.fixed_lstm import quantize_lstm

    model = config.fixed_model()
    fmt = config.data_format
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                              p.get("bias_hh"), config.weight_format) for p in layers]
    saturations = {"input": 0, "preactivation": 0, "cell": 0, "hidden": 0}
    largest, total, count = 0.0, 0.0, 0
    for sequence, reference in zip(sequences, references):
        saturations["input"] += int(np.sum((sequence > fmt.max_value)
                                           | (sequence < fmt.min_value)))
        outputs = model.run_stacked(matrices, fmt.quantize(sequence, name="inputs"))
        for output in outputs:
            for kind, events in output.saturations_by_kind.items():
                saturations[kind] += events
        error = np.abs(fmt.to_float(outputs[-1].h) - reference)
        largest = max(largest, float(error.max()))
        total += float(error.sum())
        count += error.size
    return {"max_abs_error_h": largest, "mean_abs_error_h": total / count,
            "saturations": sum(saturations.values()),
            "saturations_by_kind": saturations}
