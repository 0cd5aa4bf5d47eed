"""SRAM density model: the numbers follow the documented formula."""

import json

import pytest

from rpu.eda import sram_model
from rpu.eda.sram_model import (BITCELL_6T_UM2, MACRO_OVERHEAD_UM2, PERIPHERY_OVERHEAD,
                            TWO_PORT_FACTOR, UM2_PER_GE, SRAMMacro, bitcell_area_um2,
                            ge_to_um2, price_memories, sram_area_ge, sram_area_um2,
                            um2_to_ge)


def test_constants_are_the_documented_ones():
    assert BITCELL_6T_UM2 == 0.346
    assert TWO_PORT_FACTOR == 1.3
    assert PERIPHERY_OVERHEAD == 0.5
    assert MACRO_OVERHEAD_UM2 == 1000.0
    assert UM2_PER_GE == 0.798


@pytest.mark.parametrize("words, width", [(1, 1), (64, 16), (1536, 16), (131072, 16)])
def test_two_port_area_formula(words, width):
    expected = words * width * 0.346 * 1.3 * 1.5 + 1000.0
    assert sram_area_um2(words, width) == pytest.approx(expected)
    assert sram_area_um2(words, width, read_ports=1, write_ports=1) == pytest.approx(expected)
    assert sram_area_ge(words, width) == pytest.approx(expected / 0.798)


def test_port_configurations():
    bits = 1024 * 32
    single = bits * 0.346 * 1.5 + 1000.0
    assert sram_area_um2(1024, 32, single_port=True) == pytest.approx(single)
    assert sram_area_um2(1024, 32, write_ports=0) == pytest.approx(single)   # a ROM
    assert bitcell_area_um2(read_ports=1, write_ports=1) == pytest.approx(0.346 * 1.3)
    # n ports otherwise: 0.346 * ((n + 1) / 2) ** 2.
    assert bitcell_area_um2(read_ports=2, write_ports=0) == pytest.approx(0.346 * 2.25)
    assert bitcell_area_um2(read_ports=2, write_ports=1) == pytest.approx(0.346 * 4)
    assert bitcell_area_um2(read_ports=2, write_ports=2) == pytest.approx(0.346 * 6.25)
    assert sram_area_um2(256, 16, read_ports=2, write_ports=1) == pytest.approx(
        256 * 16 * 0.346 * 4 * 1.5 + 1000.0)
    # More ports never make a memory smaller.
    areas = [sram_area_um2(256, 16, single_port=True), sram_area_um2(256, 16),
             sram_area_um2(256, 16, read_ports=2, write_ports=1),
             sram_area_um2(256, 16, read_ports=2, write_ports=2)]
    assert areas == sorted(areas)


@pytest.mark.parametrize("kwargs", [
    dict(words=0, width=16), dict(words=16, width=0), dict(words=1.5, width=16),
    dict(words=16, width=16, read_ports=0), dict(words=16, width=16, read_ports=-1),
    dict(words=16, width=16, read_ports=2, single_port=True),
])
def test_invalid_sizes_and_ports(kwargs):
    words, width = kwargs.pop("words"), kwargs.pop("width")
    with pytest.raises(ValueError):
        sram_area_um2(words, width, **kwargs)


def test_ge_conversion():
    assert um2_to_ge(0.798) == pytest.approx(1.0)
    assert ge_to_um2(1000) == pytest.approx(798.0)
    assert um2_to_ge(ge_to_um2(123.4)) == pytest.approx(123.4)


def test_macro_record_and_pricing():
    a = SRAMMacro(name="weights", words=1536, width=16, path="top.pim.lane0.weights",
                  module="top.pim.lane0")
    b = SRAMMacro(name="h", words=128, width=16, single_port=True)
    assert a.bits == 1536 * 16 and a.ports == "1R1W" and b.ports == "1RW"
    assert b.path == "h"
    assert a.area_um2 == pytest.approx(sram_area_um2(1536, 16))
    report = price_memories([a, b])
    assert report.total_bits == 1536 * 16 + 128 * 16
    assert report.total_area_um2 == pytest.approx(
        sram_area_um2(1536, 16) + sram_area_um2(128, 16, single_port=True))
    assert report.total_area_ge == pytest.approx(report.total_area_um2 / 0.798)
    d = report.to_dict()
    json.dumps(d)
    assert d["total_area_um2_modelled"] == pytest.approx(report.total_area_um2)
    assert d["macros"][0]["area_um2_modelled"] == pytest.approx(a.area_um2)
    md = report.to_markdown()
    assert "top.pim.lane0.weights" in md and "modelled" in md
    assert price_memories([]).total_area_um2 == 0


@pytest.mark.parametrize("kwargs", [
    dict(name="", words=4, width=4), dict(name="m", words=0, width=4),
    dict(name="m", words=4, width=4, read_ports=0),
    dict(name="m", words=4, width=4, source="guess"),
    dict(name="m", words=4, width=4, sync_read="yes"),
])
def test_macro_validation(kwargs):
    with pytest.raises(ValueError):
        SRAMMacro(**kwargs)


def test_macro_is_keyword_only():
    with pytest.raises(TypeError):
        SRAMMacro("m", 4, 4)


def test_docstring_states_sources():
    doc = sram_model.__doc__
    for source in ("Mistry", "IEDM 2007", "Chang", "JSSC", "NAND2_X1", "Assumption"):
        assert source in doc
