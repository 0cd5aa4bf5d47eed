"""The expansion model: from an LSTM and an :class:`rpu.config.RPUConfig` to an exact
schedule, the program words that run it and the weight images; and calibration of formats.
"""
