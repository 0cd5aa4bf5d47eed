"""SRAM read access time: the CACTI 7 table at 45 nm, its interpolation and node scaling,
worked out by hand from the documented numbers."""

import json
import math

import pytest

from rpu.eda import sram_model
from rpu.eda.sram_model import (CACTI_45NM_ACCESS_NS, SRAMMacro, access_time_ports,
                                node_delay_scale, price_memories, sram_access_time_ns)


def test_table_is_the_documented_cacti_run():
    # A few points of the CACTI 7 runs, as typed into the docstring's table.
    one_port = dict(CACTI_45NM_ACCESS_NS["1RW"])
    two_port = dict(CACTI_45NM_ACCESS_NS["1R1W"])
    assert one_port[512] == 0.141 and one_port[8192] == 0.212
    assert one_port[524288] == 0.517 and one_port[4194304] == 1.502
    assert two_port[512] == 0.150 and two_port[32768] == 0.307
    assert two_port[4194304] == 1.810
    for table in CACTI_45NM_ACCESS_NS.values():
        bits = [b for b, _ in table]
        times = [t for _, t in table]
        assert bits == [512 * 2 ** k for k in range(14)]     # 64 B to 512 KB
        assert times == sorted(times)                        # never faster when bigger
    assert "CACTI 7" in sram_model.__doc__ and "0.045" in sram_model.__doc__


def test_table_points_are_reproduced():
    # 512 x 16 = 8192 bits: the 1 KB point.
    assert sram_access_time_ns(512, 16, single_port=True) == pytest.approx(0.212)
    assert sram_access_time_ns(512, 16) == pytest.approx(0.230)          # 1R1W
    # The width does not matter, only the bits: 256 x 32 is the same 1 KB.
    assert sram_access_time_ns(256, 32) == pytest.approx(0.230)


def test_interpolation_is_linear_in_log2_bits():
    # 1544 x 16 = 24704 bits, between the 16384-bit (0.295 ns) and 32768-bit (0.307 ns)
    # points of the 1R1W table: the default configuration's lane weight memory.
    expected = 0.295 + (0.307 - 0.295) * math.log2(24704 / 16384)
    assert sram_access_time_ns(1544, 16) == pytest.approx(expected)
    assert 0.295 < expected < 0.307
    # Halfway in log2 between 8192 and 16384 bits (1RW: 0.212 and 0.265 ns).
    assert sram_access_time_ns(724, 16, single_port=True) == pytest.approx(
        0.212 + 0.053 * math.log2(724 * 16 / 8192))


def test_outside_the_table():
    # Below 512 bits: the smallest point.
    assert sram_access_time_ns(1, 1, single_port=True) == pytest.approx(0.141)
    assert sram_access_time_ns(16, 16) == pytest.approx(0.150)
    # Above 4 Mbit: sqrt(bits) from the largest point; 16 Mbit is twice 1.502 ns.
    assert sram_access_time_ns(1 << 20, 16, single_port=True) == pytest.approx(2 * 1.502)
    assert sram_access_time_ns(1 << 20, 16) == pytest.approx(2 * 1.810)


def test_ports_pick_the_column():
    assert access_time_ports(single_port=True) == "1RW"
    assert access_time_ports(read_ports=1, write_ports=0) == "1RW"      # a ROM
    assert access_time_ports(read_ports=1, write_ports=1) == "1R1W"
    assert access_time_ports(read_ports=2, write_ports=1) == "1R1W"
    # A 512 x 21 ROM (an activation table of the default configuration), 10752 bits.
    assert sram_access_time_ns(512, 21, read_ports=1, write_ports=0) == pytest.approx(
        0.212 + (0.265 - 0.212) * math.log2(10752 / 8192))


def test_node_scaling_is_linear_in_feature_size():
    assert node_delay_scale(45) == 1.0 and node_delay_scale(180) == 4.0
    assert node_delay_scale(90) == 2.0
    assert sram_access_time_ns(512, 16, node_nm=180) == pytest.approx(4 * 0.230)
    with pytest.raises(ValueError, match="node_nm"):
        node_delay_scale(0)


@pytest.mark.parametrize("kwargs", [dict(words=0, width=16), dict(words=16, width=0),
                                    dict(words=16, width=16, read_ports=0),
                                    dict(words=16, width=16, single_port=1),
                                    dict(words=16, width=16, node_nm=0)])
def test_bad_arguments(kwargs):
    words, width = kwargs.pop("words"), kwargs.pop("width")
    with pytest.raises(ValueError):
        sram_access_time_ns(words, width, **kwargs)


def test_macro_record_reports_its_access_time():
    m = SRAMMacro(name="weights", words=1544, width=16, node_nm=180)
    assert m.access_time_ns == pytest.approx(4 * sram_access_time_ns(1544, 16))
    d = m.to_dict()
    json.dumps(d)
    assert d["access_time_ns_modelled"] == pytest.approx(m.access_time_ns)
    report = price_memories([m])
    assert f"{m.access_time_ns:.3f}" in report.to_markdown()
    assert report.to_dict()["constants"]["node_delay_scale"] == 4.0
