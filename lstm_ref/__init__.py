"""numpy golden models of the LSTM that the RPU computes.

* :mod:`lstm_ref.float_lstm` -- a float64 LSTM with ``torch.nn.LSTM``'s conventions;
* :mod:`lstm_ref.fixedpoint` -- fixed-point formats, rounding and saturation;
* :mod:`lstm_ref.activation` -- the fixed-point sigmoid and tanh of the activation units;
* :mod:`lstm_ref.fixed_lstm` -- the bit-accurate fixed-point LSTM, the RTL's specification.
"""
