"""The fixed-point formats of a sweep: calibrated once per (data width, weight width, row
scales), and their accuracy on the inputs with the bit-accurate fixed-point model (no RTL
simulation: the RTL is bit exact to that model for any resources, so accuracy depends on the
formats only).
"""

import numpy as np

from rpu.config import RPUConfig


__all__ = ["calibrate_format", "measure_accuracy"]


def calibrate_format(shared, key):
    """Calibrate the formats of one ``(data width, weight width, row scales)`` and measure
    their accuracy on the inputs (runs in a worker).

    Parameters
    ----------
    shared : dict
        ``layers``, ``calibration`` and ``sequences`` (lists of ``(T, I)`` arrays),
        ``references`` (float64 h of the last layer per sequence), ``segments``.
    key : tuple
        ``(data_width, weight_width, row_scales)``: two ints and a bool. With row scales,
        the per-row shifts are calibrated too (:func:`rpu.compiler.calibration.calibrate`
        with ``row_scales=True``). The accuracy is that of calibration's weight codes (and
        shifts), those ``rpu run`` compiles.

    Returns
    -------
    dict
        ``values`` (the format fields of :class:`RPUConfig`, ``row_scales`` included),
        ``accuracy``, ``row_shifts`` (the calibrated shifts per layer, or None without row
        scales), and what calibration found on the calibration inputs.
    """
    from rpu.compiler.calibration import calibrate

    data_width, weight_width, row_scales = key
    segments = min(shared["segments"], 1 << (data_width - 2))
    chosen = calibrate(shared["layers"], shared["calibration"], data_width=data_width,
                       weight_width=weight_width, activation_segments=segments,
                       row_scales=bool(row_scales))
    values = {"data_width": data_width, "data_frac_bits": chosen.data_frac_bits,
              "cell_frac_bits": chosen.cell_frac_bits, "weight_width": weight_width,
              "weight_frac_bits": chosen.weight_frac_bits, "activation_segments": segments,
              "row_scales": bool(row_scales)}
    config = RPUConfig(**values)
    # The calibrated weight codes (calibrate's parameters on the code grid), as `rpu run`
    # compiles them.
    accuracy = measure_accuracy(list(chosen.layers), shared["sequences"],
                                shared["references"], config, row_shifts=chosen.row_shifts)
    return {"values": values, "accuracy": accuracy, "row_shifts": chosen.row_shifts,
            "calibration_saturations": dict(chosen.saturations),
            "calibration_max_abs_error_h": chosen.max_abs_error_h}


def measure_accuracy(layers, sequences, references, config, row_shifts=None):
    """Saturations and |h - float64| of the last layer, with the fixed-point model.

    Parameters
    ----------
    layers : list of dict
        Float parameters per layer.
    sequences, references : list of numpy.ndarray
        The ``(T, I)`` inputs, and the float64 h of the last layer for each.
    config : RPUConfig
        The formats.
    row_shifts : sequence of numpy.ndarray, optional
        Per-row weight shifts of each layer (with ``config.row_scales``): the weights are
        quantized with them and the model narrows each row by them, as the RTL does.

    Returns
    -------
    dict
        ``max_abs_error_h``, ``mean_abs_error_h``, ``saturations`` and
        ``saturations_by_kind``.
    """
    from lstm_ref.fixed_lstm import quantize_lstm

    model = config.fixed_model()
    fmt = config.data_format
    shifts = [None] * len(layers) if row_shifts is None else list(row_shifts)
    matrices = [quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                              p.get("bias_hh"), config.weight_format, row_shifts=s)
                for p, s in zip(layers, shifts)]
    saturations = {"input": 0, "preactivation": 0, "cell": 0, "hidden": 0}
    largest, total, count = 0.0, 0.0, 0
    for sequence, reference in zip(sequences, references):
        saturations["input"] += int(np.sum((sequence > fmt.max_value)
                                           | (sequence < fmt.min_value)))
        outputs = model.run_stacked(matrices, fmt.quantize(sequence, name="inputs"),
                                    row_shifts=row_shifts)
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
