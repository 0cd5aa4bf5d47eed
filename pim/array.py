"""A PIM array: MAC lanes that share one broadcast input and one weight load port."""

from amaranth.hdl import Module, Signal, Cat, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from lstm_ref.checks import check_integer
from .lane import PIMLane, issue_ports, check_lane_parameters, _unused_on_error


__all__ = ["PIMArray"]


class PIMArray(wiring.Component):
    """``lanes`` :class:`~pim.lane.PIMLane` s side by side.

    All lanes see the same address, flags and broadcast operand each cycle (each lane holds
    different weight rows at that address); a load writes the same address of every lane at
    once, one word per lane. With ``weights_per_word`` P, the array has ``lanes * P`` MAC
    lanes; MAC lane ``k`` is weight ``k % P`` of lane ``k // P``, and ``wr_data`` is indexed
    by MAC lane. With a ``batch`` of B sequences every MAC lane has B MACs, one per
    sequence: ``results`` and ``saturated`` hold sequence ``b``'s ``lanes * P`` results at
    ``b * lanes * P + k``.

    Parameters
    ----------
    lanes : int
        MAC lanes (1 or more).
    data_width, weight_width, weight_frac_bits, acc_width, depth, weights_per_word, batch, \
scale_depth, operand_width, state_depth : int
        Those of every lane; see :class:`~pim.lane.PIMLane` (``weights_per_word`` and
        ``batch`` 1, ``scale_depth`` and ``state_depth`` 0, ``operand_width`` None by
        default: one MAC per lane, no scale or pre-activation memories, the operand a data
        word).
    sram_macros : bool
        Weight memories as ``rpu_sram`` macro instances.
    split_products, registered_products : bool
        Those of every lane (both true by default). Lanes without registered products are
        a stage shorter; the array then registers the issued column, its flags and operands
        once for all its lanes, so that its latency is the same.

    Raises
    ------
    ValueError
        A parameter that is not an integer or is out of range.

    Attributes
    ----------
    LATENCY : int
        :attr:`pim.lane.PIMLane.LATENCY`, with or without registered products: the lanes
        run in lockstep.
    OPERAND_DELAY : int
        :attr:`pim.lane.PIMLane.OPERAND_DELAY`: a column's operand arrives that many enabled
        cycles after its issue.
    en, addr, valid, first, last, operand, scale_addr, state_addr, load, store : In
        Broadcast to every lane; see :class:`~pim.lane.PIMLane` (``scale_addr`` only with
        scales, ``state_addr``, ``load`` and ``store`` only with pre-activation memories).
    wr_addr : In(range(depth + scale_depth))
    wr_data : In(ArrayLayout(signed(weight_width), lanes * weights_per_word))
        One weight per MAC.
    wr_en : In(1)
    results : Out(ArrayLayout(signed(data_width), lanes * weights_per_word * batch))
    result_valid : Out(1)
    saturated : Out(lanes * weights_per_word * batch)
        Per-MAC saturation flags of the last results.
    """

    LATENCY = PIMLane.LATENCY
    OPERAND_DELAY = PIMLane.OPERAND_DELAY

    def __init__(self, *, lanes, data_width, weight_width, weight_frac_bits, acc_width, depth,
                 weights_per_word=1, batch=1, scale_depth=0, operand_width=None,
                 state_depth=0, sram_macros=False, split_products=True,
                 registered_products=True):
        self.lanes = _unused_on_error(self, lambda: check_integer("lanes", lanes, 1))
        self._lane_parameters = _unused_on_error(self, lambda: check_lane_parameters(
            data_width=data_width, weight_width=weight_width,
            weight_frac_bits=weight_frac_bits, acc_width=acc_width, depth=depth,
            scale_depth=scale_depth, weights_per_word=weights_per_word, batch=batch,
            operand_width=operand_width, state_depth=state_depth))
        self.sram_macros = bool(sram_macros)
        self.split_products = bool(split_products)
        self.registered_products = bool(registered_products)
        params = self._lane_parameters
        n = self.lanes * params["weights_per_word"]
        macs = n * params["batch"]
        super().__init__({
            **issue_ports(depth=params["depth"], operand_width=params["operand_width"],
                          scale_depth=params["scale_depth"], batch=params["batch"],
                          state_depth=params["state_depth"]),
            "wr_data": In(data.ArrayLayout(signed(params["weight_width"]), n)),
            "wr_en": In(1),
            "results": Out(data.ArrayLayout(signed(params["data_width"]), macs)),
            "result_valid": Out(1),
            "saturated": Out(macs),
        })

    def elaborate(self, platform):
        m = Module()
        P, B = self._lane_parameters["weights_per_word"], self._lane_parameters["batch"]
        n = self.lanes * P
        saturated = [None] * (n * B)
        issue = self._issue(m)
        for index in range(self.lanes):
            lane = PIMLane(**self._lane_parameters, sram_macros=self.sram_macros,
                           split_products=self.split_products,
                           registered_products=self.registered_products)
            m.submodules[f"lane{index}"] = lane
            m.d.comb += [
                lane.en.eq(self.en),
                lane.addr.eq(issue["addr"]),
                lane.valid.eq(issue["valid"]),
                lane.first.eq(issue["first"]),
                lane.last.eq(issue["last"]),
                lane.operand.eq(issue["operand"]),
                lane.wr_addr.eq(self.wr_addr),
                lane.wr_data.eq(self.wr_data.as_value()[index * P * lane.weight_width:
                                                        (index + 1) * P * lane.weight_width]),
                lane.wr_en.eq(self.wr_en),
            ]
            # The lane's result b * P + k is the array's b * lanes * P + index * P + k.
            for b in range(B):
                for k in range(P):
                    m.d.comb += self.results[b * n + index * P + k].eq(lane.results[b * P + k])
                    saturated[b * n + index * P + k] = lane.saturated[b * P + k]
            for name in ("scale_addr", "state_addr", "load", "store"):
                if name in issue:
                    m.d.comb += getattr(lane, name).eq(issue[name])
            if index == 0:
                m.d.comb += self.result_valid.eq(lane.result_valid)
        m.d.comb += self.saturated.eq(Cat(*saturated))
        return m

    def _issue(self, m):
        """The issue ports' values for the lanes: this array's inputs, or (lanes without
        registered products) the same registered once while ``en``."""
        names = ["addr", "valid", "first", "last", "operand"]
        if self._lane_parameters["scale_depth"]:
            names.append("scale_addr")
        if self._lane_parameters["state_depth"]:
            names += ["state_addr", "load", "store"]
        ports = {name: getattr(self, name) for name in names}
        if self.registered_products:
            return ports
        issue = {}
        for name, port in ports.items():
            issue[name] = Signal.like(port, name=f"issued_{name}")
            with m.If(self.en):
                m.d.sync += issue[name].eq(port)
        return issue
