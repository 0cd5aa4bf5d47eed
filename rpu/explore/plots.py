"""The two plots of a sweep: area vs latency and energy vs accuracy, Pareto points
highlighted (PNG bytes, drawn with matplotlib's object API: no global state, no display)."""

import io


__all__ = ["plots"]


def _scatter_png(rows, x_key, y_key, x_label, y_label, title):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 5), dpi=110)
    axes = figure.add_subplot()
    others = [row for row in rows if not row["pareto"]]
    front = [row for row in rows if row["pareto"]]
    if others:
        axes.scatter([r[x_key] for r in others], [r[y_key] for r in others], s=22,
                     color="0.6", label="dominated points")
    axes.scatter([r[x_key] for r in front], [r[y_key] for r in front], s=60, color="tab:red",
                 edgecolors="black", zorder=3, label="Pareto front (all objectives)")
    labels = {}                             # points at the same place share a label
    for row in front:
        labels.setdefault((row[x_key], row[y_key]), []).append(f"#{row['point']}")
    for (x, y), names in labels.items():
        axes.annotate(",".join(names), (x, y), fontsize=7, xytext=(4, 4),
                      textcoords="offset points")
    for key, setter in ((x_key, axes.set_xscale), (y_key, axes.set_yscale)):
        values = [row[key] for row in rows]
        if min(values) > 0 and max(values) / min(values) > 20:
            setter("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def plots(result):
    """``(area_vs_latency, energy_vs_accuracy)``: the PNG bytes of the two plots of an
    :class:`~rpu.explore.sweep.ExploreResult`."""
    rows = result.rows
    steps = result.summary["steps"]
    synthesized = rows[0]["total_area_mm2"] is not None
    if synthesized:
        x_key, x_label = "total_area_mm2", "total area [mm2] (logic synthesized, SRAM modelled)"
    else:
        x_key, x_label = "mac_lanes", "MAC lanes (no area: --no-synth)"
    if rows[0]["latency_us"] is not None:
        y_key, y_label = "latency_us", f"latency of {steps} steps [us] (at estimated f_max)"
    else:
        y_key, y_label = "total_cycles", f"latency of {steps} steps [cycles]"
    area = _scatter_png(rows, x_key, y_key, x_label, y_label,
                        f"RPU design space: area vs latency ({len(rows)} points)")
    energy = _scatter_png(rows, "max_abs_error_h", "energy_per_step_pj",
                          "max |h - h_float64| (fixed-point model)",
                          "energy per step [pJ] (modelled)",
                          f"RPU design space: energy vs accuracy ({len(rows)} points)")
    return area, energy
