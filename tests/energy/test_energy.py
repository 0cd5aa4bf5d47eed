"""Energy model: totals, GOPS/W, derivations, errors."""

import json
import math

import pytest

from rpu.energy.model import (ACTION_ENERGY_PJ, ACTION_SOURCES, ACTIONS, HOROWITZ_2014_PJ,
                        REFERENCE_WIDTHS, EnergyReport, action_energy_table,
                        energy_report, int_add_energy_pj, int_mult_energy_pj,
                        sram_access_energy_pj)


def test_action_names():
    assert ACTIONS == ("mac", "weight_read", "state_read", "state_write", "activation",
                       "elementwise", "interconnect_transfer", "register_update")
    assert set(ACTION_ENERGY_PJ) == set(ACTIONS) == set(ACTION_SOURCES)
    assert all(e > 0 for e in ACTION_ENERGY_PJ.values())


def test_horowitz_points_and_16_bit_scaling():
    assert HOROWITZ_2014_PJ["int_add_8"] == 0.03
    assert HOROWITZ_2014_PJ["int_add_32"] == 0.1
    assert HOROWITZ_2014_PJ["int_mult_8"] == 0.2
    assert HOROWITZ_2014_PJ["int_mult_32"] == 3.1
    assert int_add_energy_pj(8) == pytest.approx(0.03)
    assert int_add_energy_pj(32) == pytest.approx(0.1)
    assert int_add_energy_pj(16) == pytest.approx(0.03 + 0.07 / 3)
    assert int_mult_energy_pj(8) == pytest.approx(0.2)
    assert int_mult_energy_pj(32) == pytest.approx(3.1)
    assert int_mult_energy_pj(16) == pytest.approx(math.sqrt(0.2 * 3.1))
    # SRAM: Horowitz's three 64-bit points within 15 %.
    assert sram_access_energy_pj(8 * 1024, 64) == pytest.approx(10.0)
    assert sram_access_energy_pj(32 * 1024, 64) == pytest.approx(20.0)
    assert sram_access_energy_pj(1024 * 1024, 64) == pytest.approx(100.0, rel=0.15)
    assert ACTION_ENERGY_PJ["weight_read"] == pytest.approx(10.0 * 16 / 64)
    assert ACTION_ENERGY_PJ["mac"] == pytest.approx(
        math.sqrt(0.2 * 3.1) + int_add_energy_pj(40))
    assert ACTION_ENERGY_PJ["elementwise"] == pytest.approx(
        2 * math.sqrt(0.2 * 3.1) + 0.1)


def test_totals_are_counts_times_energies():
    counts = {"mac": 1000, "weight_read": 1000, "state_read": 48, "state_write": 16,
              "activation": 80, "elementwise": 32, "interconnect_transfer": 200,
              "register_update": 500}
    r = energy_report(counts, steps=4, ops_per_step=2000)
    expected = sum(n * ACTION_ENERGY_PJ[a] for a, n in counts.items())
    assert r.total_pj == pytest.approx(expected)
    assert r.per_step_pj == pytest.approx(expected / 4)
    for a, n in counts.items():
        assert r.breakdown_pj[a] == pytest.approx(n * ACTION_ENERGY_PJ[a])
    assert list(r.breakdown_pj) == [a for a in ACTIONS if a in counts]


def test_gops_per_watt_formula():
    r = energy_report({"mac": 100}, steps=10, ops_per_step=250)
    total_j = 100 * ACTION_ENERGY_PJ["mac"] * 1e-12
    assert r.gops_per_watt == pytest.approx(250 * 10 / total_j / 1e9)
    assert r.power_w is None and r.gops is None
    timed = energy_report({"mac": 100}, steps=10, ops_per_step=250, seconds_per_step=1e-6)
    assert timed.gops == pytest.approx(250 / 1e-6 / 1e9)
    assert timed.power_w == pytest.approx(100 * ACTION_ENERGY_PJ["mac"] * 1e-12 / 10 / 1e-6)
    # GOPS/W is GOPS over watts.
    assert timed.gops_per_watt == pytest.approx(timed.gops / timed.power_w)
    assert energy_report({}, steps=1, ops_per_step=1).gops_per_watt is None


def test_energy_override():
    r = energy_report({"weight_read": 10}, steps=1, ops_per_step=1,
                      energies={"weight_read": 7.0})
    assert r.total_pj == pytest.approx(70.0)
    with pytest.raises(ValueError, match="'bogus'"):
        energy_report({}, steps=1, ops_per_step=1, energies={"bogus": 1.0})


def test_unknown_action_is_named():
    with pytest.raises(ValueError, match="'multiply'"):
        energy_report({"mac": 1, "multiply": 2}, steps=1, ops_per_step=1)


@pytest.mark.parametrize("counts, kwargs", [
    ({"mac": -1}, dict(steps=1, ops_per_step=1)),
    ({"mac": 1.5}, dict(steps=1, ops_per_step=1)),
    ({"mac": 1}, dict(steps=0, ops_per_step=1)),
    ({"mac": 1}, dict(steps=1, ops_per_step=0)),
    ({"mac": 1}, dict(steps=1, ops_per_step=1, seconds_per_step=0.0)),
])
def test_invalid_arguments(counts, kwargs):
    with pytest.raises(ValueError):
        energy_report(counts, **kwargs)


def test_report_is_labelled_modelled():
    r = energy_report({"mac": 10, "activation": 2}, steps=2, ops_per_step=30,
                      seconds_per_step=1e-7)
    d = r.to_dict()
    json.dumps(d)
    assert d["kind"] == "modelled"
    assert d["total_pj_modelled"] == pytest.approx(r.total_pj)
    assert d["gops_per_watt_modelled"] == pytest.approx(r.gops_per_watt)
    assert d["breakdown_pj_modelled"]["mac"] == pytest.approx(10 * ACTION_ENERGY_PJ["mac"])
    md = r.to_markdown()
    assert "modelled" in md and "GOPS/W" in md and "mac" in md
    with pytest.raises(TypeError):
        EnergyReport({"mac": 1}, steps=1, ops_per_step=1)


def test_multiplier_of_unequal_widths():
    p = math.log(3.1 / 0.2) / math.log(4)
    assert int_mult_energy_pj(16, 16) == int_mult_energy_pj(16)
    assert int_mult_energy_pj(8, 32) == pytest.approx(int_mult_energy_pj(16))
    # 8 x 16: half the partial products of 16 x 16, 2 ** (-p / 2) (about 0.50) the energy.
    assert int_mult_energy_pj(8, 16) == pytest.approx(math.sqrt(0.2 * 3.1) * 2 ** (-p / 2))
    assert int_mult_energy_pj(8, 16) < int_mult_energy_pj(16)
    assert int_mult_energy_pj(16, 8) == int_mult_energy_pj(8, 16)
    with pytest.raises(ValueError, match="other_bits"):
        int_mult_energy_pj(8, 0)


def test_action_table_at_other_widths():
    assert action_energy_table() == ACTION_ENERGY_PJ
    assert action_energy_table(**REFERENCE_WIDTHS) == ACTION_ENERGY_PJ
    assert REFERENCE_WIDTHS == {"data_width": 16, "weight_width": 16, "acc_width": 40}
    e = action_energy_table(data_width=8, weight_width=4, acc_width=20,
                            weight_memory_bytes=1024)
    p = math.log(3.1 / 0.2) / math.log(4)
    assert e["mac"] == pytest.approx(0.2 * (32 / 64) ** (p / 2) + 0.03 + 0.07 * 12 / 24)
    assert e["weight_read"] == pytest.approx(10.0 * 4 / 64 * math.sqrt(1024 / 8192))
    # Activation: a 16-bit entry of a 128-entry (256 B) table, an 8 x 8 mult, an 8-bit add.
    assert e["activation"] == pytest.approx(10.0 * 16 / 64 * math.sqrt(256 / 8192)
                                            + 0.2 + 0.03)
    with pytest.raises(ValueError, match="acc_width"):
        action_energy_table(acc_width=0)
    with pytest.raises(ValueError, match="capacity_bytes"):
        action_energy_table(weight_memory_bytes=0)
