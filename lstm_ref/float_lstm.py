"""The float64 golden LSTM, with ``torch.nn.LSTM``'s conventions.

This is the reference against which the fixed-point model and the RTL are judged, so it
favours clarity and exactness over speed: every quantity is a float64 numpy array, and the
step is written exactly as in docs/architecture.md ("expansion model")::

    z   = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)
    g   = tanh(z_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Conventions (those of ``torch.nn.LSTM`` with one layer, ``batch_first`` irrelevant since
there is no batch dimension):

* gate order along the ``4H`` axis is input ``i``, forget ``f``, cell candidate ``g``,
  output ``o``;
* ``weight_ih`` is ``(4H, I)``, ``weight_hh`` is ``(4H, H)``, ``bias_ih`` and ``bias_hh``
  are ``(4H,)``; a bias of ``None`` means zeros;
* ``x`` is ``(T, I)``; ``h0`` and ``c0`` are ``(H,)`` and default to zeros.

``tests/test_lstm_ref_float.py`` checks this model against PyTorch (float64) to 1e-12 on the
vectors made by ``scripts/gen_torch_vectors.py``.
"""

from typing import NamedTuple

import numpy as np


__all__ = ["LSTMOutput", "lstm_forward", "lstm_step", "check_lstm_params", "sigmoid"]


class LSTMOutput(NamedTuple):
    """Every hidden and cell state of an LSTM run.

    Attributes
    ----------
    h : numpy.ndarray
        ``(T, H)`` float64, ``h[t]`` is the hidden state after input ``x[t]``; the final
        hidden state is ``h[-1]``.
    c : numpy.ndarray
        ``(T, H)`` float64, ``c[t]`` is the cell state after input ``x[t]``; the final cell
        state is ``c[-1]``.
    """

    h: np.ndarray
    c: np.ndarray


def sigmoid(z):
    """The logistic function ``1 / (1 + exp(-z))``, without overflow for any finite ``z``.

    Parameters
    ----------
    z : array_like
        Input values.

    Returns
    -------
    numpy.ndarray
        float64, ``sigmoid(z)`` element-wise, in ``[0, 1]``.

    Notes
    -----
    ``exp(-z)`` overflows for ``z < -709``, so both branches are written with
    ``exp(-|z|)``, which lies in ``(0, 1]``: ``1 / (1 + e)`` for ``z >= 0`` and
    ``e / (1 + e)`` for ``z < 0``. The second form also keeps full relative precision for
    very negative ``z``, where ``1 - sigmoid(-z)`` would round to 0.
    """
    z = np.asarray(z, dtype=np.float64)
    exp_neg_abs = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + exp_neg_abs), exp_neg_abs / (1.0 + exp_neg_abs))


def _as_real_float64(name, value):
    """Convert ``value`` to a float64 array, refusing non-real dtypes and NaN/Inf.

    Parameters
    ----------
    name : str
        The parameter's name, for error messages.
    value : array_like
        The parameter's value.

    Returns
    -------
    numpy.ndarray
        ``value`` as float64 (a copy only if a conversion was needed).

    Raises
    ------
    TypeError
        If ``value`` is not an array of real numbers (e.g. complex, strings, objects).
    ValueError
        If ``value`` contains NaN or Inf.
    """
    array = np.asarray(value)
    # bool is accepted on purpose (it is a valid 0/1 weight); complex would silently lose
    # its imaginary part in the float64 conversion, so it is refused.
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        n_bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} contains {n_bad} NaN or Inf value(s); "
                         f"all values must be finite")
    return array


def _check_shape(name, array, expected_shape, meaning):
    """Raise a ValueError naming ``name`` if ``array.shape != expected_shape``.

    Parameters
    ----------
    name : str
        The parameter's name.
    array : numpy.ndarray
        The parameter's value.
    expected_shape : tuple of int
        The shape it must have.
    meaning : str
        The expected shape written symbolically, e.g. ``"(4*hidden_size,)"``.
    """
    if array.shape != expected_shape:
        raise ValueError(f"{name} must have shape {meaning} = {expected_shape}, "
                         f"got {array.shape}")


def _validated_params(weight_ih, weight_hh, bias_ih, bias_hh):
    """Validate the LSTM parameters and return them as float64 arrays plus the sizes.

    See :func:`check_lstm_params` for the rules. Biases of ``None`` become zeros.

    Returns
    -------
    weight_ih, weight_hh, bias_ih, bias_hh : numpy.ndarray
        float64 arrays of shapes ``(4H, I)``, ``(4H, H)``, ``(4H,)``, ``(4H,)``.
    input_size, hidden_size : int
        ``I`` and ``H``.
    """
    weight_ih = _as_real_float64("weight_ih", weight_ih)
    if weight_ih.ndim != 2:
        raise ValueError(f"weight_ih must be 2-D with shape (4*hidden_size, input_size), "
                         f"got {weight_ih.ndim}-D with shape {weight_ih.shape}")
    n_gate_rows, input_size = weight_ih.shape
    if n_gate_rows == 0 or n_gate_rows % 4 != 0:
        raise ValueError(f"weight_ih must have 4*hidden_size rows (a positive multiple of 4, "
                         f"one block per gate i, f, g, o), got shape {weight_ih.shape}")
    if input_size == 0:
        raise ValueError(f"weight_ih must have input_size >= 1 columns, "
                         f"got shape {weight_ih.shape}")
    hidden_size = n_gate_rows // 4

    weight_hh = _as_real_float64("weight_hh", weight_hh)
    if weight_hh.ndim != 2:
        raise ValueError(f"weight_hh must be 2-D with shape (4*hidden_size, hidden_size) = "
                         f"{(n_gate_rows, hidden_size)}, got {weight_hh.ndim}-D with shape "
                         f"{weight_hh.shape}")
    _check_shape("weight_hh", weight_hh, (n_gate_rows, hidden_size),
                 "(4*hidden_size, hidden_size)")

    biases = []
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is None:
            bias = np.zeros(n_gate_rows)
        else:
            bias = _as_real_float64(name, bias)
            _check_shape(name, bias, (n_gate_rows,), "(4*hidden_size,)")
        biases.append(bias)
    bias_ih, bias_hh = biases
    return weight_ih, weight_hh, bias_ih, bias_hh, input_size, hidden_size


def check_lstm_params(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Validate a set of LSTM parameters and return the LSTM's sizes.

    Parameters
    ----------
    weight_ih : array_like
        ``(4*hidden_size, input_size)`` input-to-hidden weights, gate blocks i, f, g, o.
    weight_hh : array_like
        ``(4*hidden_size, hidden_size)`` hidden-to-hidden weights, gate blocks i, f, g, o.
    bias_ih, bias_hh : array_like or None, optional
        ``(4*hidden_size,)`` biases; ``None`` stands for zeros.

    Returns
    -------
    input_size : int
        ``I``, the number of columns of ``weight_ih``.
    hidden_size : int
        ``H``, a quarter of the number of rows of ``weight_ih``.

    Raises
    ------
    ValueError
        If an array has the wrong number of dimensions or the wrong shape (the message
        names the parameter and gives the expected and actual shapes), if
        ``weight_ih``'s row count is not a positive multiple of 4, if a size is 0, or if
        an array contains NaN or Inf (the message names the array).
    TypeError
        If an array is not of a real numeric dtype.
    """
    *_, input_size, hidden_size = _validated_params(weight_ih, weight_hh, bias_ih, bias_hh)
    return input_size, hidden_size


def _validated_state(name, state, hidden_size):
    """Return the ``(H,)`` float64 state ``state``, zeros if it is ``None``.

    Raises
    ------
    ValueError
        If ``state`` is not of shape ``(hidden_size,)`` or is not finite.
    """
    if state is None:
        return np.zeros(hidden_size)
    state = _as_real_float64(name, state)
    _check_shape(name, state, (hidden_size,), "(hidden_size,)")
    return state


def _step(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step on already validated float64 arrays (see :func:`lstm_step`)."""
    hidden_size = h.shape[0]
    # Each product is computed separately and the terms summed in the order of
    # docs/architecture.md ("expansion model"); the order only affects the last bits.
    z = weight_ih @ x_t + bias_ih + weight_hh @ h + bias_hh
    z_i, z_f, z_g, z_o = (z[k * hidden_size:(k + 1) * hidden_size] for k in range(4))
    input_gate = sigmoid(z_i)
    forget_gate = sigmoid(z_f)
    cell_candidate = np.tanh(z_g)
    output_gate = sigmoid(z_o)
    c_new = forget_gate * c + input_gate * cell_candidate
    h_new = output_gate * np.tanh(c_new)
    return h_new, c_new


def lstm_step(x_t, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """Advance an LSTM by one input.

    Parameters
    ----------
    x_t : array_like
        ``(input_size,)`` input at this step.
    h, c : array_like
        ``(hidden_size,)`` hidden and cell state before this step.
    weight_ih, weight_hh, bias_ih, bias_hh : array_like
        The LSTM parameters, as in :func:`check_lstm_params` (biases may be ``None``).

    Returns
    -------
    h_new : numpy.ndarray
        ``(hidden_size,)`` float64 hidden state after this step.
    c_new : numpy.ndarray
        ``(hidden_size,)`` float64 cell state after this step.

    Raises
    ------
    ValueError
        If a parameter or ``x_t``, ``h`` or ``c`` has the wrong shape or is not finite.
    """
    weight_ih, weight_hh, bias_ih, bias_hh, input_size, hidden_size = _validated_params(
        weight_ih, weight_hh, bias_ih, bias_hh)
    x_t = _as_real_float64("x_t", x_t)
    _check_shape("x_t", x_t, (input_size,), "(input_size,)")
    # h and c are required here (no None default): a step always continues some state.
    h = _as_real_float64("h", h)
    _check_shape("h", h, (hidden_size,), "(hidden_size,)")
    c = _as_real_float64("c", c)
    _check_shape("c", c, (hidden_size,), "(hidden_size,)")
    return _step(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_forward(x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, h0=None, c0=None):
    """Run a one-layer LSTM over a sequence, in float64.

    Parameters
    ----------
    x : array_like
        ``(T, input_size)`` input sequence, ``T >= 1``.
    weight_ih : array_like
        ``(4*hidden_size, input_size)`` input-to-hidden weights, gate blocks i, f, g, o.
    weight_hh : array_like
        ``(4*hidden_size, hidden_size)`` hidden-to-hidden weights, gate blocks i, f, g, o.
    bias_ih, bias_hh : array_like or None, optional
        ``(4*hidden_size,)`` biases; ``None`` (the default) stands for zeros.
    h0, c0 : array_like or None, optional
        ``(hidden_size,)`` initial hidden and cell state; ``None`` (the default) stands
        for zeros.

    Returns
    -------
    LSTMOutput
        ``h`` and ``c``, each ``(T, hidden_size)`` float64: the hidden and cell state after
        every input. The final states are ``h[-1]`` and ``c[-1]``.

    Raises
    ------
    ValueError
        If any array has the wrong number of dimensions or shape (the message names the
        parameter, the expected shape and the actual one), if ``T == 0``, or if any array
        contains NaN or Inf (the message names the array).
    TypeError
        If an array is not of a real numeric dtype.

    Examples
    --------
    With all weights and biases zero every gate is 0.5 and ``g = 0``, so the cell state
    halves at each step:

    >>> out = lstm_forward(np.zeros((2, 1)), np.zeros((4, 1)), np.zeros((4, 1)),
    ...                    c0=np.array([1.0]))
    >>> out.c[:, 0]
    array([0.5 , 0.25])
    """
    weight_ih, weight_hh, bias_ih, bias_hh, input_size, hidden_size = _validated_params(
        weight_ih, weight_hh, bias_ih, bias_hh)

    x = _as_real_float64("x", x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D with shape (seq_len, input_size) = (T, {input_size}), "
                         f"got {x.ndim}-D with shape {x.shape}")
    seq_len = x.shape[0]
    if seq_len == 0:
        raise ValueError(f"x must hold at least one time step (seq_len >= 1), "
                         f"got shape {x.shape}")
    if x.shape[1] != input_size:
        raise ValueError(f"x must have shape (seq_len, input_size) = ({seq_len}, {input_size}) "
                         f"to match weight_ih's {input_size} columns, got {x.shape}")

    h = _validated_state("h0", h0, hidden_size)
    c = _validated_state("c0", c0, hidden_size)

    all_h = np.empty((seq_len, hidden_size))
    all_c = np.empty((seq_len, hidden_size))
    for t in range(seq_len):
        h, c = _step(x[t], h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        all_h[t] = h
        all_c[t] = c
    return LSTMOutput(h=all_h, c=all_c)
