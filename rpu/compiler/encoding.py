"""Encoding of a schedule and of weight matrices into what an RPU loads: the program words
(:mod:`rpu.hw.program`) and the image of the lanes' weight memories.
"""

import numpy as np

from rpu.hw.program import (Reg, LayerReg, CONTEXT_BASE, encode_context, layer_register,
                            scale_address)


__all__ = ["program_registers", "weight_image", "scale_word"]


def scale_word(shift, weight_width):
    """The weight-stream code of a row's scale: ``shift`` in the low bits of a
    ``weight_width``-bit word, as the signed code the stream carries."""
    return shift - (1 << weight_width) if shift >= 1 << (weight_width - 1) else shift


def weight_image(config, schedule, matrices, *, row_shifts=None):
    """Codes per ``(array, address, lane)`` of the weight stream, shape ``(pim_arrays,
    load_depth, macs_per_array)``: MAC lane ``gate*U + u`` holds row ``gate*H + g*U + u`` of a
    layer's ``matrix`` at ``weight_base + g*columns ..``; with ``row_shifts`` (one (4H,)
    array per layer, for an RPU with ``row_scales``), that row's shift at ``weight_depth +
    scale_address(layer, g)`` (:func:`scale_word`)."""
    U = schedule.units_per_group
    image = np.zeros((config.mac_lanes, config.load_depth), dtype=np.int64)
    for position, (layer, matrix) in enumerate(zip(schedule.layers, matrices)):
        H = layer.hidden_size
        for lane in range(config.mac_lanes):
            gate, u = divmod(lane, U)
            for group in range(layer.groups):
                unit = group * U + u
                if unit < H:
                    start = layer.weight_base + group * layer.columns
                    image[lane, start:start + layer.columns] = matrix[gate * H + unit]
                    if row_shifts is not None:
                        address = config.weight_depth + scale_address(config, layer.layer,
                                                                      group)
                        image[lane, address] = scale_word(
                            int(row_shifts[position][gate * H + unit]), config.weight_width)
    return image.reshape(config.pim_arrays, config.macs_per_array, config.load_depth) \
                .transpose(0, 2, 1).copy()


def program_registers(schedule):
    """The ``(address, word)`` pairs of the program stream that run ``schedule``."""
    layers = schedule.layers
    registers = [
        (Reg.FIRST_LAYER, layers[0].layer),
        (Reg.LAST_LAYER, layers[-1].layer),
        (Reg.CONTEXTS, len(schedule.contexts)),
        (Reg.OUTPUT_ALL, int(schedule.output_all)),
    ]
    registers += [(CONTEXT_BASE + index, encode_context(op, cycles))
                  for index, (op, cycles) in enumerate(schedule.contexts)]
    for layer in layers:
        values = {LayerReg.INPUT_SIZE: layer.input_size, LayerReg.HIDDEN_SIZE: layer.hidden_size,
                  LayerReg.COLUMNS: layer.columns, LayerReg.GROUPS: layer.groups,
                  LayerReg.PERIOD: layer.period, LayerReg.GAP: layer.gap,
                  LayerReg.WEIGHT_BASE: layer.weight_base}
        registers += [(layer_register(layer.layer, reg), value) for reg, value in values.items()]
    return tuple((int(a), int(d)) for a, d in registers)


