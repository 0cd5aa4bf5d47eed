"""Compile LSTM parameters into a :class:`Program`: quantized matrices, the weight memory
image, the program words and the state words of an RPU run.
"""

from dataclasses import dataclass, replace
from math import ceil

import numpy as np

from lstm_ref.checks import check_integer
from lstm_ref.delta_lstm import FixedDeltaLSTM
from lstm_ref.fixed_lstm import quantize_lstm, choose_row_shifts, check_row_shifts
from lstm_ref.float_lstm import check_lstm_params
from rpu.config import RPUConfig
from rpu.hw.delta import max_threshold
from rpu.hw.program import Reg
from rpu.compiler.schedule import Schedule, plan_schedule
from rpu.compiler.encoding import program_registers, weight_image


__all__ = ["compile_lstm", "compile_stacked", "with_delta", "Program"]


@dataclass(frozen=True, eq=False)
class Program:
    """Everything loaded into an RPU to run one LSTM (or a stack of them).

    Attributes
    ----------
    config : RPUConfig
    schedule : Schedule
    matrices : tuple of numpy.ndarray
        Weight-format codes of ``[bias | W_ih | W_hh]`` per layer, (4H, 1 + I + H).
    weight_image : numpy.ndarray
        Codes per ``(array, address, MAC lane)`` of the weight stream, shape ``(pim_arrays,
        load_depth, macs_per_array)``: the weights, then (with ``row_scales``) the scale
        words.
    registers : tuple of (int, int)
        ``(address, word)`` pairs of the program stream.
    row_shifts : tuple of numpy.ndarray or None
        With ``config.row_scales``, the per-row scales of each layer ((4H,) shifts from 0 to
        :data:`~lstm_ref.fixed_lstm.MAX_ROW_SHIFT`) ``matrices`` were quantized with; None
        without.
    delta : tuple of (int, int) or None
        A delta program's thresholds ``(theta_x, theta_h)`` (data-format codes; see
        :func:`with_delta`); None for a dense program.
    """

    config: RPUConfig
    schedule: Schedule
    matrices: tuple
    weight_image: np.ndarray
    registers: tuple
    row_shifts: tuple = None
    delta: tuple = None

    @property
    def matrix(self):
        """The matrix of a single-layer program."""
        if len(self.matrices) != 1:
            raise ValueError("this program has several layers; use .matrices")
        return self.matrices[0]

    @property
    def input_size(self):
        return self.schedule.input_size

    @property
    def hidden_size(self):
        return self.schedule.hidden_size

    @property
    def num_layers(self):
        return len(self.schedule.layers)

    def reference(self, x_codes, *, h0=None, c0=None):
        """What the RPU computes for ``x_codes`` (T, I), by the bit-accurate model
        (:meth:`lstm_ref.fixed_lstm.FixedLSTM.run_stacked`, with the row scales if any): a
        :class:`~lstm_ref.fixed_lstm.FixedLSTMOutput` per layer; for a delta program,
        :meth:`lstm_ref.delta_lstm.FixedDeltaLSTM.run`'s output, whose ``x_mask`` and
        ``h_mask`` give the columns each step propagates)."""
        if self.delta is not None:
            config = self.config
            model = FixedDeltaLSTM(data_format=config.data_format,
                                   weight_format=config.weight_format,
                                   activation_segments=config.activation_segments,
                                   cell_format=config.cell_format)
            theta_x, theta_h = self.delta
            return [model.run(self.matrix, x_codes, theta_x=theta_x, theta_h=theta_h,
                              h0=None if h0 is None else h0[0],
                              c0=None if c0 is None else c0[0],
                              row_shifts=None if self.row_shifts is None
                              else self.row_shifts[0])]
        return self.config.fixed_model().run_stacked(self.matrices, x_codes, h0=h0, c0=c0,
                                                     row_shifts=self.row_shifts)

    def state_words(self, h0=None, c0=None):
        """Payloads of the ``state`` stream that set the initial state of every layer.

        Parameters
        ----------
        h0, c0 : sequence of arrays of int codes, one (H_l,) per layer (with a batch, one
            (B, H_l) per layer: a row per sequence), or None for zeros.

        Returns
        -------
        list of dict
            ``{"target", "layer", "index", "data"}`` payloads (with a batch, and
            ``"sequence"``); load them, then start the run with ``keep_state``.
        """
        B = self.config.batch
        if B == 1:
            return self._state_words(h0, c0)
        words = []
        for name, values in (("h0", h0), ("c0", c0)):
            for position, layer in enumerate(self.schedule.layers if values is not None
                                             else ()):
                shape = np.shape(values[position])
                if shape != (B, layer.hidden_size):
                    raise ValueError(f"{name}[{position}] must have shape ({B}, "
                                     f"{layer.hidden_size}) (a row per sequence), not {shape}")
        for b in range(B):
            words += [dict(word, sequence=b) for word in self._state_words(
                None if h0 is None else [np.asarray(h)[b] for h in h0],
                None if c0 is None else [np.asarray(c)[b] for c in c0])]
        return words

    def _state_words(self, h0, c0):
        """:meth:`state_words` of one sequence."""
        from rpu.hw.top import StateTarget
        config = self.config
        E, W = config.elementwise_units, config.data_width
        mask = (1 << W) - 1
        words = []
        for position, layer in enumerate(self.schedule.layers):
            H = layer.hidden_size
            for name, values in (("h0", h0), ("c0", c0)):
                codes = np.zeros(H, np.int64) if values is None else \
                    np.asarray(values[position], dtype=np.int64)
                if codes.shape != (H,):
                    raise ValueError(f"{name}[{position}] must have shape ({H},), "
                                     f"not {codes.shape}")
                fmt = config.data_format
                if codes.min() < fmt.min_code or codes.max() > fmt.max_code:
                    raise ValueError(f"{name}[{position}] must be codes of {fmt}")
                if name == "h0":
                    words += [{"target": StateTarget.H, "layer": layer.layer, "index": k,
                               "data": int(codes[k]) & mask} for k in range(H)]
                else:
                    padded = np.zeros(ceil(H / E) * E, np.int64)
                    padded[:H] = codes
                    for index in range(len(padded) // E):
                        word = 0
                        for e in range(E):
                            word |= (int(padded[index * E + e]) & mask) << (e * W)
                        words.append({"target": StateTarget.C, "layer": layer.layer,
                                      "index": index, "data": word})
        return words

    def memory_map(self):
        """Where each weight row lives: for each lane, the (layer, row) of its groups."""
        s = self.schedule
        U, P = s.units_per_group, self.config.weights_per_word
        n = self.config.macs_per_array
        lanes = []
        for lane in range(self.config.mac_lanes):
            gate, u = divmod(lane, U)
            rows = [[layer.layer, gate * layer.hidden_size + g * U + u]
                    for layer in s.layers for g in range(layer.groups)
                    if g * U + u < layer.hidden_size]
            entry = {"array": lane // n, "lane": lane % n // P, "gate": "ifgo"[gate],
                     "rows": rows}
            if P > 1:
                # MAC lane k of an array is weight k % P of lane k // P's words.
                entry = {"array": entry["array"], "lane": entry["lane"], "weight": lane % P,
                         **{key: entry[key] for key in ("gate", "rows")}}
            lanes.append(entry)
        return {
            "word_address": "weight_base(layer) + group * columns + column",
            "columns": "bias, the layer's input (x or the previous layer's h), h",
            "layers": [{"layer": l.layer, "weight_base": l.weight_base,
                        "columns": l.columns, "groups": l.groups} for l in s.layers],
            "lanes": lanes,
        }


def _check_layer_params(layers):
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of dicts of weight_ih, weight_hh, "
                         "bias_ih, bias_hh")
    sizes = []
    for index, params in enumerate(layers):
        if not isinstance(params, dict):
            raise ValueError(f"layers[{index}] must be a dict of weight_ih, weight_hh, "
                             f"bias_ih, bias_hh")
        unknown = set(params) - {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
        if unknown:
            raise ValueError(f"layers[{index}]: unknown parameter(s) {sorted(unknown)}")
        try:
            sizes.append(check_lstm_params(params.get("weight_ih"), params.get("weight_hh"),
                                           params.get("bias_ih"), params.get("bias_hh")))
        except (ValueError, TypeError) as error:
            raise ValueError(f"layers[{index}]: {error}") from None
    for index in range(1, len(sizes)):
        if sizes[index][0] != sizes[index - 1][1]:
            raise ValueError(f"layers[{index}]: input size {sizes[index][0]} must equal the "
                             f"hidden size {sizes[index - 1][1]} of layers[{index - 1}]")
    return sizes


def _layer_row_shifts(config, layers, sizes, row_shifts):
    """The per-row scales of each layer (a tuple of int64 arrays), or None without
    ``row_scales``."""
    if not config.row_scales:
        if row_shifts is not None:
            raise ValueError("row_shifts needs an RPU with row_scales; this configuration "
                             "has none")
        return None
    if row_shifts is None:
        return tuple(np.zeros(4 * hidden, np.int64) for _, hidden in sizes)
    if isinstance(row_shifts, str):
        if row_shifts != "auto":
            raise ValueError(f"row_shifts must be 'auto', None or one array of shifts per "
                             f"layer, not {row_shifts!r}")
        return tuple(choose_row_shifts(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                                       p.get("bias_hh"), config.weight_format)
                     for p in layers)
    if not isinstance(row_shifts, (list, tuple)) or len(row_shifts) != len(layers):
        raise ValueError(f"row_shifts must be 'auto', None or a list of {len(layers)} "
                         f"arrays of shifts (one per layer)")
    shifts = []
    for index, ((_, hidden), layer_shifts) in enumerate(zip(sizes, row_shifts)):
        try:
            shifts.append(check_row_shifts(layer_shifts, 4 * hidden))
        except ValueError as error:
            raise ValueError(f"row_shifts[{index}]: {error}") from None
    return tuple(shifts)


def compile_stacked(config, layers, *, output_all=False, first_layer=0, row_shifts=None):
    """Compile a stack of LSTM layers (``torch.nn.LSTM`` with ``num_layers`` > 1), run
    interleaved: every layer in each time step.

    Parameters
    ----------
    config : RPUConfig
    layers : list of dict
        Per layer, ``weight_ih``, ``weight_hh`` and optionally ``bias_ih``, ``bias_hh``.
    output_all : bool
        Stream every layer's (h, c) each step (for example to read all final states).
    first_layer : int
        RPU layer slot of the first layer.
    row_shifts : None, "auto" or list of array_like
        Only with ``config.row_scales``: per layer, the (4H,) per-row scales (extra
        fractional bits, 0 to :data:`~lstm_ref.fixed_lstm.MAX_ROW_SHIFT`); ``"auto"``
        chooses them with :func:`lstm_ref.fixed_lstm.choose_row_shifts` (the largest that
        does not saturate each row); None: all 0.

    Raises
    ------
    ValueError
        Bad parameter shapes or values (NaN/Inf), naming the layer and parameter; bad
        ``row_shifts``, or ``row_shifts`` for an RPU without ``row_scales``.
    ConfigError
        The stack does not fit the RPU.
    """
    sizes = _check_layer_params(layers)
    shifts = _layer_row_shifts(config, layers, sizes, row_shifts)
    schedule = plan_schedule(config, sizes[0][0], [h for _, h in sizes],
                             first_layer=first_layer, output_all=output_all)
    matrices = tuple(quantize_lstm(p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                                   p.get("bias_hh"), config.weight_format,
                                   row_shifts=None if shifts is None else shifts[index])
                     for index, p in enumerate(layers))
    registers = program_registers(schedule)
    if config.delta:
        registers += ((int(Reg.DELTA), 0),)
    return Program(config, schedule, matrices,
                   weight_image(config, schedule, matrices, row_shifts=shifts),
                   registers, shifts)


def with_delta(program, *, theta_x, theta_h):
    """``program`` as a delta program (issue 12; :mod:`rpu.hw.delta`): its first step dense,
    every later step propagating only the x and h columns that changed by at least
    ``theta_x`` / ``theta_h`` since they were last propagated
    (:class:`lstm_ref.delta_lstm.FixedDeltaLSTM`). Thresholds of 0 give the dense results
    bit for bit.

    Parameters
    ----------
    program : Program
        A single-layer program for an RPU with ``delta``.
    theta_x, theta_h : int
        Thresholds, data-format codes from 0 to ``2**data_width - 1``.

    Raises
    ------
    ValueError
        The RPU has no delta datapath, the program has several layers, or a threshold is out
        of range; the message names it.
    """
    if not isinstance(program, Program):
        raise TypeError(f"program must be a Program, not {program!r}")
    config = program.config
    if not config.delta:
        raise ValueError("a delta program needs an RPU with delta (--delta 1)")
    if program.num_layers != 1:
        raise ValueError(f"a delta program runs one layer, not {program.num_layers}")
    limit = max_threshold(config.data_width)
    for name, value in (("theta_x", theta_x), ("theta_h", theta_h)):
        check_integer(name, value, 0, limit, numpy_ok=True)
    registers = tuple((a, d) for a, d in program.registers if a != Reg.DELTA)
    registers += ((int(Reg.DELTA), 1), (int(Reg.THETA_X), int(theta_x)),
                  (int(Reg.THETA_H), int(theta_h)),
                  (int(Reg.DELTA_PERIOD), program.schedule.engine_cycles + 1))
    return replace(program, registers=registers, delta=(int(theta_x), int(theta_h)))


def compile_lstm(config, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *,
                 row_shifts=None):
    """Compile a float LSTM layer (``torch.nn.LSTM`` parameters) into an RPU program.

    ``row_shifts`` (only with ``config.row_scales``): the layer's (4H,) per-row scales, or
    ``"auto"``; see :func:`compile_stacked`.

    Raises
    ------
    ValueError
        Bad parameter shapes or values (NaN/Inf), naming the parameter.
    ConfigError
        The LSTM does not fit the RPU.
    """
    check_lstm_params(weight_ih, weight_hh, bias_ih, bias_hh)
    if row_shifts is not None and not isinstance(row_shifts, str):
        row_shifts = [row_shifts]
    return compile_stacked(config, [{"weight_ih": weight_ih, "weight_hh": weight_hh,
                                     "bias_ih": bias_ih, "bias_hh": bias_hh}],
                           row_shifts=row_shifts)
