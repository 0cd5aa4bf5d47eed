"""The one immutable configuration of an RPU, and every size derived from it.

An RPU is elaborated for a *capacity* (the largest input and hidden sizes it holds) and a set
of *resources* (PIM arrays, MAC lanes, activation and element-wise units) in given fixed-point
*formats*. Every module of the hardware and the expansion model read their sizes from here;
nothing is recomputed elsewhere.
"""

from dataclasses import dataclass, asdict
from math import ceil

from lstm_ref.checks import check_integer
from lstm_ref.fixedpoint import FixedFormat
from lstm_ref.activation import check_segments, DEFAULT_SEGMENTS
from lstm_ref.fixed_lstm import FixedLSTM, MAX_ROW_SHIFT


__all__ = ["RPUConfig", "ConfigError", "SCALE_BITS"]


class ConfigError(ValueError):
    """An RPU configuration that cannot be built. The message names the parameter."""


#: Upper limits that keep memories and counters of a sensible size (a 16-bit program word).
MAX_SIZE = 16384
MAX_LANES = 1024
MAX_STEPS = (1 << 16) - 1
MAX_LAYERS = 16
#: Most weights in one lane's weight word (``weights_per_word``), and the widest word.
MAX_WEIGHTS_PER_WORD = 16
MAX_WORD_BITS = 64
#: Most sequences of a batch, and most MACs in all (MAC lanes x batch).
MAX_BATCH = 16
MAX_MACS = 4096
#: Largest multiplier (``data_width * weight_width`` partial-product cells, 8 x 8) whose
#: product is accumulated in the cycle it is computed (:attr:`RPUConfig.registered_products`).
MAX_UNREGISTERED_PRODUCT_CELLS = 64
#: Words per lane weight memory: every weight address (a layer's WEIGHT_BASE) must fit a
#: 32-bit program word (rpu.hw.program.PROGRAM_DATA_BITS).
MAX_WEIGHT_DEPTH = 1 << 32
#: Bits of a row's scale (its shift, 0 to lstm_ref.fixed_lstm.MAX_ROW_SHIFT).
SCALE_BITS = MAX_ROW_SHIFT.bit_length()


def _check_int(name, value, low, high):
    check_integer(name, value, low, high, error=ConfigError)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True, kw_only=True)
class RPUConfig:
    """Capacity, resources and formats of one RPU.

    Parameters
    ----------
    input_size : int
        Largest LSTM input size I the RPU runs (1 to 16384).
    hidden_size : int
        Largest hidden size H of any layer the RPU runs (1 to 16384).
    num_layers : int
        Most stacked LSTM layers whose weights and states the RPU holds at once (1 to 16).
    pim_arrays : int
        Number of PIM arrays. Every array receives the same broadcast input vector.
    lanes_per_array : int
        Lanes per PIM array; each lane has its own weight memory.
    weights_per_word : int
        Weights P in one word of a lane's weight memory (1 to 16; ``P * weight_width`` at
        most 64 bits). A lane reads one word per issued column and feeds its P weights, the
        same column of P different rows, to P multiply-accumulate units of
        ``data_width x weight_width`` bits: P MACs per read. Default 1. The MACs,
        ``mac_lanes = pim_arrays * lanes_per_array * weights_per_word``, must be a multiple
        of 4: a row group holds the four gates (i, f, g, o) of ``mac_lanes / 4`` hidden
        units.
    batch : int
        Independent sequences B run at once (1 to 16; default 1). Every weight read feeds B
        MACs per weight, one per sequence: each MAC lane has B accumulators' worth of MACs
        (``macs = mac_lanes * batch`` in all, at most 4096), the broadcast carries B
        operands, and the cell engine, the x and h memories and the cell-state memory are
        replicated per sequence. The ``x`` and ``h`` streams carry the B sequences' words
        side by side (sequence b in element b of the payload), and the ``state`` stream
        names the sequence it writes. The sequences run in lockstep: the schedule, and so
        the cycle count, is that of one sequence.
    activation_units : int
        Sigmoid/tanh units; must divide ``mac_lanes / 4``.
    elementwise_units : int
        Element-wise units (``a*b + c*d``); must divide ``mac_lanes / 4``.
    data_width, data_frac_bits : int
        Format of x, h, c and of every activation (default Q3.12, 16 bits). It needs at
        least one integer bit, so that 1.0 is representable. ``data_frac_bits`` None (the
        default) means ``max(0, data_width - 4)``: three integer bits.
    weight_width, weight_frac_bits : int
        Format of weights and biases (default Q3.12, 16 bits). ``weight_frac_bits`` None (the
        default) means ``max(0, weight_width - 4)``.
    cell_frac_bits : int or None
        Fractional bits of the cell state c, stored in ``data_width`` bits; at most
        ``data_frac_bits`` (fewer gives c more range). Default: ``data_frac_bits``.
    activation_segments : int
        Linear segments of the sigmoid/tanh tables over ``[0, max)`` (a power of two).
    row_scales : bool
        Per-row weight scales: each weight row (one gate of one hidden unit) of each layer
        carries a shift of 0 to :data:`~lstm_ref.fixed_lstm.MAX_ROW_SHIFT` extra fractional
        bits, and each lane narrows its sum by ``weight_frac_bits`` plus its row's shift
        (see :mod:`lstm_ref.fixed_lstm`). The shifts are :data:`SCALE_BITS`-bit words of a
        scale memory per lane, loaded through the weight stream; they need
        ``weight_width >= SCALE_BITS``. Default False (0 and 1 are accepted too, as the
        command line gives them).
    delta : bool
        Build the delta (temporal sparsity) datapath: delta units on the x and h paths that
        compare each value with the last one propagated and list the columns that changed by
        at least a threshold, a controller that issues only the listed columns, and a
        pre-activation memory of ``max_groups`` accumulator words per MAC lane (see
        :mod:`rpu.hw.delta`). The broadcast operand is then a delta, ``operand_width =
        data_width + 1`` bits. A program runs dense or delta on such an RPU
        (:class:`rpu.compiler.codegen.Program`'s ``delta``). Needs ``weights_per_word``,
        ``batch`` and ``num_layers`` 1. Default False.

    Attributes
    ----------
    lanes : int
        Lanes (weight memories), ``pim_arrays * lanes_per_array``.
    macs_per_array : int
        Multiply-accumulate units of an array, ``lanes_per_array * weights_per_word``.
    mac_lanes : int
        Multiply-accumulate units in all, ``pim_arrays * macs_per_array``: the rows of a
        row group. The compiler and the schedule see these "MAC lanes"; MAC lane ``k`` of an
        array is weight ``k % weights_per_word`` of lane ``k // weights_per_word``.
    operand_width : int
        Width of the broadcast operand the MACs multiply: ``data_width``, or ``data_width +
        1`` with ``delta`` (the difference of two data words).
    weight_word_bits : int
        Bits of a lane's weight word, ``weights_per_word * weight_width``.
    macs : int
        Multiply-accumulate units in all, ``mac_lanes * batch``.
    registered_products : bool
        Whether the lanes register their products before accumulating them: a pipeline
        stage that pays only for a wide multiplier. True when the multiplier has more than
        :data:`MAX_UNREGISTERED_PRODUCT_CELLS` partial-product cells (``data_width *
        weight_width``: wider than 8 x 8); below that, the multiply and the accumulate share
        a cycle and each MAC saves a register of ``data_width + weight_width`` bits (the
        arrays then register the issued column once for all their lanes, so that the
        latency is the same; :class:`pim.PIMArray`).
    units_per_group : int
        Hidden units per row group, ``mac_lanes / 4``.
    max_groups : int
        Row groups of the largest LSTM, ``ceil(hidden_size / units_per_group)``.
    max_columns : int
        Columns of one row group at capacity: the bias (as the weight of a constant 1.0), then
        the layer's input (x, or the previous layer's h), then h: ``1 + input_size +
        hidden_size`` for one layer, ``1 + max(input_size, hidden_size) + hidden_size`` for
        more.
    layer_weight_depth : int
        Words of one layer's slot in a lane's weight memory, ``max_groups * max_columns``
        (layer ``l`` starts at ``l * layer_weight_depth``).
    weight_depth : int
        Words per lane weight memory, ``num_layers * layer_weight_depth``.
    scale_depth : int
        Words per lane scale memory: ``num_layers * max_groups`` with ``row_scales``, else 0.
    state_depth : int
        Words per MAC lane of the pre-activation memory: ``max_groups`` with ``delta``, else 0.
    load_depth : int
        Addresses of the weight stream: ``weight_depth + scale_depth`` (the scale words
        follow the weights).
    acc_width : int
        Accumulator width: a product of a data and a weight word, plus enough bits that the
        sum of ``max_columns`` products can never overflow.
    padded_hidden : int
        ``max_groups * units_per_group``: the state memories are sized for whole groups.
    h_memory_depth : int
        Words of the hidden-state memory: two halves (the last two steps) per layer.
    cell_memory_depth : int
        Words of the cell-state memory (``elementwise_units`` values per word).
    """

    input_size: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    pim_arrays: int = 4
    lanes_per_array: int = 16
    weights_per_word: int = 1
    batch: int = 1
    activation_units: int = 4
    elementwise_units: int = 2
    data_width: int = 16
    data_frac_bits: int = None
    weight_width: int = 16
    weight_frac_bits: int = None
    cell_frac_bits: int = None
    activation_segments: int = DEFAULT_SEGMENTS
    row_scales: bool = False
    delta: bool = False

    def __post_init__(self):
        _check_int("input_size", self.input_size, 1, MAX_SIZE)
        _check_int("hidden_size", self.hidden_size, 1, MAX_SIZE)
        _check_int("num_layers", self.num_layers, 1, MAX_LAYERS)
        _check_int("pim_arrays", self.pim_arrays, 1, MAX_LANES)
        _check_int("lanes_per_array", self.lanes_per_array, 1, MAX_LANES)
        _check_int("weights_per_word", self.weights_per_word, 1, MAX_WEIGHTS_PER_WORD)
        product = ("pim_arrays * lanes_per_array" if self.weights_per_word == 1
                   else "pim_arrays * lanes_per_array * weights_per_word")
        if self.mac_lanes > MAX_LANES:
            raise ConfigError(f"{product} (MAC lanes) must be at most {MAX_LANES}, "
                              f"not {self.mac_lanes}")
        if self.mac_lanes % 4 != 0:
            raise ConfigError(f"{product} (MAC lanes) must be a multiple of 4 (one lane "
                              f"per gate of each hidden unit), not {self.mac_lanes}")
        _check_int("batch", self.batch, 1, MAX_BATCH)
        if self.macs > MAX_MACS:
            raise ConfigError(f"mac_lanes * batch (the MACs) must be at most {MAX_MACS}, not "
                              f"{self.mac_lanes} * {self.batch} = {self.macs}")
        allowed = _divisors(self.units_per_group)
        for name in ("activation_units", "elementwise_units"):
            value = getattr(self, name)
            _check_int(name, value, 1, self.units_per_group)
            if value not in allowed:
                raise ConfigError(f"{name} must divide mac_lanes / 4 = {self.units_per_group} "
                                  f"(allowed: {', '.join(map(str, allowed))}), not {value}")
        _check_int("data_width", self.data_width, 4, 20)
        # Frozen dataclass: the defaults that follow other fields are set through
        # object.__setattr__.
        if self.data_frac_bits is None:
            object.__setattr__(self, "data_frac_bits", max(0, self.data_width - 4))
        _check_int("data_frac_bits", self.data_frac_bits, 0, self.data_width - 2)
        _check_int("weight_width", self.weight_width, 2, 20)
        if self.weight_word_bits > MAX_WORD_BITS:
            raise ConfigError(f"weights_per_word * weight_width (the lanes' weight word) must "
                              f"be at most {MAX_WORD_BITS} bits, not {self.weights_per_word} "
                              f"* {self.weight_width} = {self.weight_word_bits}")
        if self.weight_frac_bits is None:
            object.__setattr__(self, "weight_frac_bits", max(0, self.weight_width - 4))
        _check_int("weight_frac_bits", self.weight_frac_bits, 0, self.weight_width - 1)
        if self.cell_frac_bits is None:
            object.__setattr__(self, "cell_frac_bits", self.data_frac_bits)
        _check_int("cell_frac_bits", self.cell_frac_bits, 0, self.data_frac_bits)
        # A plain int, like every other parameter (check_segments alone would let numpy
        # integers through, which to_dict() and rpu.json then carry).
        _check_int("activation_segments", self.activation_segments, 1,
                   1 << (self.data_width - 2))
        try:
            check_segments(self.data_format, self.activation_segments)
        except ValueError as error:
            raise ConfigError(f"activation_segments: {error}") from None
        if type(self.row_scales) not in (bool, int) or self.row_scales not in (0, 1):
            raise ConfigError(f"row_scales must be True or False (or 1 or 0), not "
                              f"{self.row_scales!r}")
        object.__setattr__(self, "row_scales", bool(self.row_scales))
        if self.row_scales and self.weight_width < SCALE_BITS:
            raise ConfigError(f"weight_width must be at least {SCALE_BITS} with row_scales (a "
                              f"row's scale is loaded as a weight word), not "
                              f"{self.weight_width}")
        if type(self.delta) not in (bool, int) or self.delta not in (0, 1):
            raise ConfigError(f"delta must be True or False (or 1 or 0), not {self.delta!r}")
        object.__setattr__(self, "delta", bool(self.delta))
        if self.delta:
            for name in ("weights_per_word", "batch", "num_layers"):
                if getattr(self, name) != 1:
                    raise ConfigError(f"delta needs {name} 1 (the delta datapath is built "
                                      f"for one layer, one sequence and one weight per "
                                      f"word), not {getattr(self, name)}")
        if self.weight_depth > MAX_WEIGHT_DEPTH:
            raise ConfigError(
                f"the weight memory depth per lane, num_layers * max_groups * max_columns "
                f"= {self.num_layers} * {self.max_groups} * {self.max_columns}, must be at "
                f"most 2**32 (weight addresses are 32-bit program words), not "
                f"{self.weight_depth}: reduce num_layers, input_size or hidden_size, or add "
                f"lanes")

    # Derived values -----------------------------------------------------------------------

    @property
    def data_format(self):
        return FixedFormat(self.data_width, self.data_frac_bits)

    @property
    def cell_format(self):
        return FixedFormat(self.data_width, self.cell_frac_bits)

    @property
    def weight_format(self):
        return FixedFormat(self.weight_width, self.weight_frac_bits)

    @property
    def lanes(self):
        return self.pim_arrays * self.lanes_per_array

    @property
    def macs_per_array(self):
        return self.lanes_per_array * self.weights_per_word

    @property
    def mac_lanes(self):
        return self.pim_arrays * self.macs_per_array

    @property
    def operand_width(self):
        return self.data_width + 1 if self.delta else self.data_width

    @property
    def weight_word_bits(self):
        return self.weights_per_word * self.weight_width

    @property
    def macs(self):
        return self.mac_lanes * self.batch

    @property
    def registered_products(self):
        return self.data_width * self.weight_width > MAX_UNREGISTERED_PRODUCT_CELLS

    @property
    def units_per_group(self):
        return self.mac_lanes // 4

    @property
    def max_groups(self):
        return ceil(self.hidden_size / self.units_per_group)

    @property
    def max_layer_input(self):
        """Largest input of any layer: x, or the previous layer's h."""
        if self.num_layers == 1:
            return self.input_size
        return max(self.input_size, self.hidden_size)

    @property
    def max_columns(self):
        return 1 + self.max_layer_input + self.hidden_size

    @property
    def layer_weight_depth(self):
        return self.max_groups * self.max_columns

    @property
    def weight_depth(self):
        return self.num_layers * self.layer_weight_depth

    @property
    def scale_depth(self):
        return self.num_layers * self.max_groups if self.row_scales else 0

    @property
    def state_depth(self):
        return self.max_groups if self.delta else 0

    @property
    def load_depth(self):
        return self.weight_depth + self.scale_depth

    @property
    def acc_width(self):
        return self.data_width + self.weight_width + (self.max_columns - 1).bit_length()

    @property
    def padded_hidden(self):
        return self.max_groups * self.units_per_group

    @property
    def cell_words(self):
        """Words of one layer's cell state; each word holds ``elementwise_units`` values."""
        return self.padded_hidden // self.elementwise_units

    @property
    def h_memory_depth(self):
        return 2 * self.num_layers * self.padded_hidden

    @property
    def cell_memory_depth(self):
        return self.num_layers * self.cell_words

    def fixed_model(self):
        """The bit-accurate golden model (:class:`lstm_ref.fixed_lstm.FixedLSTM`) of this
        RPU's arithmetic."""
        return FixedLSTM(data_format=self.data_format, weight_format=self.weight_format,
                         activation_segments=self.activation_segments,
                         cell_format=self.cell_format)

    def fits(self, input_size, hidden_size, num_layers=1):
        """Whether an LSTM of these sizes (``hidden_size`` an int, or one per layer) runs on
        this RPU."""
        hidden = [hidden_size] * num_layers if isinstance(hidden_size, int) else list(hidden_size)
        return (1 <= input_size <= self.input_size and 1 <= len(hidden) <= self.num_layers
                and all(1 <= h <= self.hidden_size for h in hidden))

    def to_dict(self):
        """The parameters as a dict; ``row_scales`` and ``delta`` only when on, ``weights_per_word``
        and ``batch`` only when they are not 1 (so that the parameter files of
        configurations without them are those of earlier versions)."""
        values = asdict(self)
        for name in ("row_scales", "delta"):
            if not values[name]:
                del values[name]
        for name in ("weights_per_word", "batch"):
            if values[name] == 1:
                del values[name]
        return values

    @classmethod
    def from_dict(cls, values):
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown configuration parameter(s): {', '.join(sorted(unknown))}")
        return cls(**values)
