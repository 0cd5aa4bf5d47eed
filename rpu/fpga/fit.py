"""Will a configuration fit an ECP5? A prediction of LUTs, DSPs and EBRs from the
configuration alone, before synthesis, place and route.

* EBRs (DP16KD, 18 Kbit) are counted exactly from the memories the design has (the build
  flow forces every RAM into block RAM): each memory takes the fewest blocks of one of the
  DP16KD's pseudo-dual-port shapes (512 x 36 ... 16384 x 1) that hold it.
* DSPs (MULT18X18D) are counted from the multipliers: one per MAC lane, one per activation
  unit, two per element-wise unit, each split into 18 x 18 tiles if wider.
* LUTs (nextpnr's TRELLIS_COMB, carry cells included) follow a linear model in the widths of
  the datapath, fitted to nextpnr's reports of the builds listed in :data:`CALIBRATION`
  (``python -m rpu fpga`` reports the prediction beside nextpnr's count and its error).

:func:`check_fit` refuses a configuration that cannot fit with :class:`FitError` (the CLI's
exit 2), naming what overflows and a smaller configuration that fits.
"""

import functools
from dataclasses import dataclass, replace, asdict
from math import ceil

import numpy as np

from lstm_ref.activation import SIGMOID, TANH, activation_table
from rpu.config import MAX_SIZE, RPUConfig, ConfigError
from rpu.fpga import protocol
from rpu.fpga.fifo import QUEUE_DEPTH
from rpu.generator import describe


__all__ = ["DEVICES", "Device", "Prediction", "FitError", "predict", "check_fit", "memories",
           "multipliers", "CALIBRATION", "lut_model", "FIT_MARGIN", "ebr_blocks",
           "largest_lstm", "largest_lstm_report", "describe_largest"]


@dataclass(frozen=True)
class Device:
    """An ECP5's resources (as nextpnr counts them)."""
    luts: int
    dsps: int
    ebrs: int


#: The ECP5 devices of the boards (datasheet: LUT4s, 18x18 multipliers, 18 Kbit EBRs).
DEVICES = {
    "LFE5U-12F": Device(luts=12096, dsps=28, ebrs=32),
    "LFE5U-25F": Device(luts=24288, dsps=28, ebrs=56),
    "LFE5U-45F": Device(luts=43848, dsps=72, ebrs=108),
    "LFE5U-85F": Device(luts=83640, dsps=156, ebrs=208),
}

#: Fraction of a device's LUTs a design may use and still be placed and routed.
FIT_MARGIN = 0.9

#: DP16KD shapes in pseudo-dual-port mode (width, depth).
EBR_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))


def ebr_blocks(depth, width):
    """DP16KD blocks of a ``depth`` x ``width`` memory."""
    return min(ceil(width / w) * ceil(depth / d) for w, d in EBR_SHAPES)


def _rom_width(config):
    tables = [activation_table(func, config.data_format, config.activation_segments)
              for func in (SIGMOID, TANH)]
    base = max(int(t[:-1].max()) for t in tables)
    slope = max(int((t[1:] - t[:-1]).max()) for t in tables)
    return max(base.bit_length(), 1) + max(slope.bit_length(), 1)


def memories(config, *, max_payload=protocol.DEFAULT_MAX_PAYLOAD,
             fifo_depth=protocol.DEFAULT_FIFO_DEPTH):
    """The design's memories, ``(name, count, depth, width)``: the RPU's, as its parameter
    file lists them (:func:`rpu.generator.describe`), and the link's."""
    W = config.data_width
    rpu = [(memory["name"], memory["count"], memory["words"],
            memory["width"] if memory["width"] is not None else _rom_width(config))
           for memory in describe(config)["memories"]]
    return rpu + [
        ("link.buffer", 1, max_payload, 8),
        # Each FIFO's RAMs (rpu.fpga.fifo), the h FIFO's h and c side by side.
        ("link.x_fifo", 1, fifo_depth - QUEUE_DEPTH, W),
        ("link.h_fifo", 2, fifo_depth - QUEUE_DEPTH, W),
    ]


def _tiles(a, b):
    """MULT18X18D of an a x b multiplier (signed operands split into 17-bit limbs)."""
    if a <= 18 and b <= 18:
        return 1
    return ceil((a - 1) / 17) * ceil((b - 1) / 17)


def multipliers(config):
    """The design's multipliers: ``(name, count, a_bits, b_bits)``."""
    W = config.data_width
    shift = W - 1 - (config.activation_segments.bit_length() - 1)
    return [
        ("MAC lanes", config.mac_lanes, config.weight_width, W),
        ("activation units", config.activation_units, W, shift),
        ("element-wise units", 2 * config.elementwise_units, W, W),
    ]


#: nextpnr's TRELLIS_COMB counts (post-route; the small build at seed 1, S at seed 2) of
#: builds of ``python -m rpu fpga`` that the LUT model is fitted to: (board, configuration,
#: LUTs). Add a build here and the model refits (least squares, :func:`lut_model`).
CALIBRATION = (
    # 30 Nov 2026, issue 11's f_max work (rpu/fpga/README.md), refitted after the host link's
    # one-hot state machine and the controller's registered period end: the small build of
    # tests/fpga/test_bitstream.py (75 MHz PLL clock) and the bench's S (100 MHz), both at
    # the same RTL. (The fit before, 4841 and 16439 LUTs, predated the lanes' DSP input
    # registers; it predicted S 2.8 % low.)
    ("ulx3s-85f", dict(input_size=4, hidden_size=8, pim_arrays=2, lanes_per_array=4,
                       activation_units=1, elementwise_units=1), 5181),
    ("ulx3s-85f", dict(input_size=64, hidden_size=128), 16885),
)

def _lut_features(config):
    """What LUTs grow with: a constant (the link, the controller, the cell engine's control
    and datapath), and the MAC lanes' adders and registers (MAC lanes x accumulator bits).
    (A third feature for the activation and element-wise units' datapaths fitted a negative
    coefficient on these builds: their LUTs are within the constant's spread.)"""
    return np.array([1.0, config.mac_lanes * config.acc_width])


@functools.lru_cache(maxsize=None)
def lut_model():
    """Coefficients of :func:`_lut_features`, fitted to :data:`CALIBRATION`."""
    features = np.array([_lut_features(RPUConfig(**values)) for _, values, _ in CALIBRATION])
    luts = np.array([used for _, _, used in CALIBRATION], dtype=float)
    coefficients, *_ = np.linalg.lstsq(features, luts, rcond=None)
    return coefficients


@dataclass(frozen=True)
class Prediction:
    device: str
    luts: int
    dsps: int
    ebrs: int
    available: Device

    def to_dict(self):
        return {"device": self.device, "luts": self.luts, "dsps": self.dsps,
                "ebrs": self.ebrs, "available": asdict(self.available)}

    def overflows(self):
        """``[(resource, predicted, limit)]`` of what does not fit."""
        limits = {"LUTs": int(FIT_MARGIN * self.available.luts),
                  "DSPs (MULT18X18D)": self.available.dsps,
                  "EBRs (DP16KD)": self.available.ebrs}
        values = {"LUTs": self.luts, "DSPs (MULT18X18D)": self.dsps,
                  "EBRs (DP16KD)": self.ebrs}
        return [(name, values[name], limit) for name, limit in limits.items()
                if values[name] > limit]


class FitError(ConfigError):
    """The configuration cannot fit the device (a bad input: exit 2)."""


def _device(device):
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    return DEVICES[device]


def predict(config, device):
    """The :class:`Prediction` of ``config``'s board design on ``device``."""
    if not isinstance(config, RPUConfig):
        raise TypeError(f"config must be an RPUConfig, not {config!r}")
    available = _device(device)
    ebrs = sum(count * ebr_blocks(depth, width)
               for _, count, depth, width in memories(config))
    dsps = sum(count * _tiles(a, b) for _, count, a, b in multipliers(config))
    luts = round(float(_lut_features(config) @ lut_model()))
    return Prediction(device, luts, dsps, ebrs, available)


def _smaller(config):
    """Configurations with fewer resources than ``config`` (same capacity and formats),
    largest first: fewer lanes, then fewer activation and element-wise units."""
    candidates = []
    for arrays in range(config.pim_arrays, 0, -1):
        for lanes in range(config.lanes_per_array, 0, -1):
            if (arrays * lanes) % 4:
                continue
            units = arrays * lanes // 4
            for activation in sorted({d for d in range(1, units + 1) if units % d == 0},
                                     reverse=True):
                for elementwise in sorted({d for d in range(1, units + 1) if units % d == 0},
                                          reverse=True):
                    if activation > config.activation_units or \
                            elementwise > config.elementwise_units:
                        continue
                    try:
                        candidates.append(replace(
                            config, pim_arrays=arrays, lanes_per_array=lanes,
                            activation_units=activation, elementwise_units=elementwise))
                    except ConfigError:
                        continue
    candidates.sort(key=lambda c: (c.mac_lanes, c.activation_units + c.elementwise_units),
                    reverse=True)
    return candidates


def _options(config):
    return " ".join(f"--{name.replace('_', '-')} {getattr(config, name)}"
                    for name in ("pim_arrays", "lanes_per_array", "activation_units",
                                 "elementwise_units"))


def check_fit(config, device):
    """The :class:`Prediction` of ``config`` on ``device``, or :class:`FitError` if it cannot
    fit: the message names each resource that overflows and a smaller configuration (fewer
    lanes or units, the same capacity) that fits, if there is one. A batch of more than one
    sequence is refused: the host link streams one sequence."""
    if config.batch != 1:
        raise FitError(f"batch must be 1 on a board (the host link streams one sequence's x "
                       f"and h), not {config.batch}")
    prediction = predict(config, device)
    overflows = prediction.overflows()
    if not overflows:
        return prediction
    what = "; ".join(f"{name}: {value} needed, {limit} available"
                     for name, value, limit in overflows)
    message = f"the configuration does not fit the {device}: {what}"
    for candidate in _smaller(config):
        if candidate != config and not predict(candidate, device).overflows():
            fitted = predict(candidate, device)
            message += (f". A configuration that fits: {_options(candidate)} "
                        f"({fitted.luts} LUTs, {fitted.dsps} DSPs, {fitted.ebrs} EBRs)")
            break
    else:
        message += (". No configuration with this capacity fits: reduce --hidden-size, "
                    "--input-size or --num-layers (the weight memories need "
                    f"{sum(c * ebr_blocks(d, w) for _, c, d, w in memories(config)[:1])} "
                    f"EBRs), or choose a larger device")
        largest = largest_lstm(device, config) if not config.delta else None
        if largest is not None:
            message += (f". The largest square one-layer LSTM that fits the {device}: "
                        f"--input-size {largest.input_size} --hidden-size "
                        f"{largest.hidden_size} {_options(largest)}")
    raise FitError(message)


def _fits(config, device):
    return not predict(config, device).overflows()


def _largest_size(config, device):
    """The largest N such that ``config`` at N x N fits ``device`` and N + 1 does not (0 if
    N = 1 does not fit): the memories' depths, and every resource the fit check counts, grow
    with N."""
    low, high = 0, MAX_SIZE + 1     # low fits (or is 0); high does not (or is past the limit)
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(_square(config, middle), device):
            low = middle
        else:
            high = middle
    return low


def _square(config, n):
    return replace(config, input_size=n, hidden_size=n, num_layers=1, batch=1)


def _largest_by_lanes(device, resources):
    """The largest square LSTM that fits ``device`` for each lane count the fit check's
    refusal could suggest (``resources``, then fewer lanes), each with the most units that
    fit: RPUConfigs, most lanes first, of the lane counts that fit at all."""
    if resources is None:
        resources = RPUConfig(input_size=1, hidden_size=1)
    if not isinstance(resources, RPUConfig):
        raise TypeError(f"resources must be an RPUConfig, not {resources!r}")
    if resources.delta:
        raise ValueError("resources.delta: the fit check does not predict the delta "
                         "datapath's memories")
    _device(device)
    lanes_tried = set()
    for candidate in [resources] + _smaller(resources):
        if candidate.mac_lanes in lanes_tried or \
                not _fits(_square(candidate, 1), device):
            continue
        lanes_tried.add(candidate.mac_lanes)
        yield _square(candidate, _largest_size(candidate, device))


def _largest(configs):
    """Of ``configs`` (most lanes first), the largest; of equals, the first; None if none."""
    best = None
    for config in configs:
        if best is None or config.input_size > best.input_size:
            best = config
    return best


def largest_lstm(device, resources=None, *, fewer_lanes=False):
    """The largest square one-layer LSTM (input size = hidden size = N) whose board design
    fits ``device`` by the fit check: an :class:`RPUConfig` of capacity N x N, or ``None`` if
    nothing fits.

    Parameters
    ----------
    device : str
        A key of :data:`DEVICES`.
    resources : RPUConfig, optional
        The lanes, units and formats (its sizes are not used; default: :class:`RPUConfig`'s
        defaults, 64 lanes). If its multipliers cannot fit the device at all, the most lanes
        and units that do are used, as the fit check's refusal suggests.
    fewer_lanes : bool
        Also try every smaller lane count (each with the most units that fit) and answer the
        one that takes the largest N (of those, the most lanes): fewer, deeper weight
        memories fill their block RAMs more fully, at the cost of throughput.
    """
    by_lanes = _largest_by_lanes(device, resources)
    return _largest(by_lanes) if fewer_lanes else next(by_lanes, None)


def largest_lstm_report(device, resources=None):
    """:func:`largest_lstm` on ``device`` as a report: ``{"same_lanes": ..., "fewer_lanes":
    ...}``, each ``None`` or a dict of the size N, the resources and the predicted use."""
    def entry(config):
        if config is None:
            return None
        prediction = predict(config, device)
        if config.input_size == MAX_SIZE:
            limit = ["the size limit"]
        else:
            limit = [name for name, _, _ in
                     predict(_square(config, config.input_size + 1), device).overflows()]
        return {"size": config.input_size, "limited_by": limit, "pim_arrays": config.pim_arrays,
                "lanes_per_array": config.lanes_per_array, "mac_lanes": config.mac_lanes,
                "activation_units": config.activation_units,
                "elementwise_units": config.elementwise_units,
                "luts": prediction.luts, "dsps": prediction.dsps, "ebrs": prediction.ebrs}
    by_lanes = list(_largest_by_lanes(device, resources))
    return {"device": device,
            "same_lanes": entry(by_lanes[0] if by_lanes else None),
            "fewer_lanes": entry(_largest(by_lanes))}


def describe_largest(entry):
    """One line of a :func:`largest_lstm_report` entry, for reports."""
    if entry is None:
        return "nothing fits"
    return (f"I = H = {entry['size']} with {entry['mac_lanes']} MAC lanes "
            f"({entry['pim_arrays']} x {entry['lanes_per_array']}), "
            f"{entry['activation_units']} activation and {entry['elementwise_units']} "
            f"element-wise units: {entry['luts']} LUTs, {entry['dsps']} DSPs, "
            f"{entry['ebrs']} EBRs (predicted; one more would overflow the "
            f"{' and '.join(entry['limited_by'])})")
