"""Plain keyword parameters of :mod:`pim` components, taken from an RPU configuration as
:class:`rpu.hw.top.RPU` takes them (the tests size their lanes with :class:`RPUConfig`)."""


def lane_parameters(config):
    """``PIMLane`` parameters of a lane of ``config``."""
    return dict(data_width=config.data_width, weight_width=config.weight_width,
                weight_frac_bits=config.weight_frac_bits, acc_width=config.acc_width,
                depth=config.weight_depth)


def array_parameters(config):
    """``PIMArray`` parameters of an array of ``config``."""
    return dict(lanes=config.lanes_per_array, weights_per_word=config.weights_per_word,
                **lane_parameters(config))
