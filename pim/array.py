"""A PIM array: MAC lanes that share one broadcast input and one weight load port."""

from amaranth.hdl import Module, Cat, signed
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .lane import PIMLane, issue_ports


__all__ = ["PIMArray"]


class PIMArray(wiring.Component):
    """``lanes_per_array`` :class:`~pim.lane.PIMLane` s side by side.

    All lanes see the same address, flags and broadcast operand each cycle (each lane holds
    different weight rows at that address); a load writes the same address of every lane at
    once, one weight per lane.

    Parameters
    ----------
    config : rpu.config.RPUConfig
    sram_macros : bool
        Weight memories as ``rpu_sram`` macro instances.

    Attributes
    ----------
    en, addr, valid, first, last, operand : In
        Broadcast to every lane; see :class:`~pim.lane.PIMLane`.
    wr_addr : In(range(weight_depth))
    wr_data : In(ArrayLayout(signed(weight_width), lanes_per_array))
        One weight per lane.
    wr_en : In(1)
    results : Out(ArrayLayout(signed(data_width), lanes_per_array))
    result_valid : Out(1)
    saturated : Out(lanes_per_array)
        Per-lane saturation flags of the last results.
    """

    def __init__(self, *, config, sram_macros=False):
        self._config = config
        self._sram_macros = bool(sram_macros)
        n = config.lanes_per_array
        super().__init__({
            **issue_ports(config),
            "wr_data": In(data.ArrayLayout(signed(config.weight_width), n)),
            "wr_en": In(1),
            "results": Out(data.ArrayLayout(signed(config.data_width), n)),
            "result_valid": Out(1),
            "saturated": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        saturated = []
        for index in range(self._config.lanes_per_array):
            lane = PIMLane(config=self._config, sram_macros=self._sram_macros)
            m.submodules[f"lane{index}"] = lane
            m.d.comb += [
                lane.en.eq(self.en),
                lane.addr.eq(self.addr),
                lane.valid.eq(self.valid),
                lane.first.eq(self.first),
                lane.last.eq(self.last),
                lane.operand.eq(self.operand),
                lane.wr_addr.eq(self.wr_addr),
                lane.wr_data.eq(self.wr_data[index]),
                lane.wr_en.eq(self.wr_en),
                self.results[index].eq(lane.result),
            ]
            if index == 0:
                m.d.comb += self.result_valid.eq(lane.result_valid)
            saturated.append(lane.saturated)
        m.d.comb += self.saturated.eq(Cat(*saturated))
        return m
