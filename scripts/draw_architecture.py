#!/usr/bin/env python3
"""Draw the pictures of ``docs/architecture.md``: the block diagram of an RPU and the schedule
around a step boundary.

Usage (from the repository root)::

    .venv/bin/python scripts/draw_architecture.py [--out docs] [--png]

It writes ``architecture.svg`` and ``schedule.svg`` into ``--out`` (``--png`` also writes PNG
copies, to look at them). The schedule is not drawn by hand: it is the one
:func:`rpu.compiler.schedule.plan_schedule` gives for shape S (I=64, H=128) on the default
resources, so the picture shows the cycles the RTL takes. The SVG files are deterministic
(no date, fixed element ids): running the script again gives the same bytes.
"""

import argparse
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt                      # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle   # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rpu.config import RPUConfig                                    # noqa: E402
from rpu.compiler import plan_schedule, LANE_TO_ENGINE              # noqa: E402
from rpu.hw.program import Op                                       # noqa: E402

plt.rcParams.update({"svg.hashsalt": "rpu-architecture", "font.family": "DejaVu Sans",
                     "font.size": 9})

#: Colours by role: memories, compute, control, interconnect, ports.
MEMORY, COMPUTE, CONTROL, ROUTES, PORT = "#dbe9f6", "#fde2c8", "#e4e4e4", "#e2f0d9", "#ffffff"


def box(ax, x, y, w, h, text, color, *, size=9, weight="normal", style="round,pad=0.02"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=color,
                                edgecolor="#333333", linewidth=1.0))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            weight=weight, linespacing=1.25)


def arrow(ax, start, end, text=None, *, offset=(0, 0.12), color="#222222", style="-|>",
          ha="center", size=8, connection="arc3"):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.1, shrinkA=0, shrinkB=0,
                                connectionstyle=connection))
    if text:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, text, ha=ha, va="center", fontsize=size, color=color)


def draw_block_diagram(path):
    fig, ax = plt.subplots(figsize=(12.5, 7.4))
    ax.set_xlim(0, 25)
    ax.set_ylim(0, 14.8)
    ax.axis("off")
    blue = "#1f5f9f"

    # Ports on the left.
    box(ax, 0.2, 12.3, 2.6, 0.9, "program stream\n(32-bit words)", PORT, size=8)
    box(ax, 0.2, 10.6, 2.6, 0.9, "start, steps,\nkeep_state", PORT, size=8)
    box(ax, 0.2, 8.2, 2.6, 0.9, "x stream\n(I words per step)", PORT, size=8)
    box(ax, 0.2, 4.6, 2.6, 0.9, "weights stream\n(a word per lane)", PORT, size=8)
    box(ax, 0.2, 0.5, 2.6, 0.9, "state stream\n(h0, c0)", PORT, size=8)

    # Program registers and controller.
    box(ax, 4.0, 12.1, 4.4, 1.3, "program registers\nlayer sizes, period, gap,\n"
        "configuration contexts", CONTROL, size=8)
    box(ax, 4.0, 9.9, 4.4, 1.7, "controller\nstatic schedule: one column\nper cycle, its "
        "weight address,\nflags and operand source", CONTROL, size=8)
    arrow(ax, (2.8, 12.75), (4.0, 12.75))
    arrow(ax, (2.8, 11.05), (4.0, 11.05))
    arrow(ax, (6.2, 12.1), (6.2, 11.6))

    # Operand selection and the x memory.
    box(ax, 4.0, 7.9, 2.0, 1.3, "x memory\nx_t", MEMORY, size=8)
    box(ax, 6.6, 7.5, 1.8, 2.0, "operand\nselect\n1.0 | x | h\n| 0", ROUTES, size=8)
    arrow(ax, (2.8, 8.65), (4.0, 8.65))
    arrow(ax, (3.4, 8.65), (6.6, 9.25), connection="arc3,rad=-0.25")
    ax.text(3.45, 9.45, "group 0", fontsize=7, color="#555555")
    arrow(ax, (6.0, 8.55), (6.6, 8.55))
    arrow(ax, (7.5, 9.9), (7.5, 9.5), color="#777777")

    # PIM arrays with their lanes.
    for index, y in enumerate((8.3, 6.4, 3.9)):
        ax.add_patch(FancyBboxPatch((9.4, y - 0.15), 5.3, 1.55, boxstyle="round,pad=0.05",
                                    facecolor="#f7f7f7", edgecolor="#555555", lw=1.0))
        label = ("array 0", "array 1", "array P-1")[index]
        ax.text(9.55, y + 1.2, label, fontsize=7.5, color="#333333")
        for lane in range(3):
            lx = 9.6 + lane * 1.7
            ax.add_patch(Rectangle((lx, y), 1.5, 0.5, facecolor=MEMORY, edgecolor="#333333",
                                   lw=0.8))
            ax.text(lx + 0.75, y + 0.25, "weights", ha="center", va="center", fontsize=7)
            ax.add_patch(Rectangle((lx, y + 0.55), 1.5, 0.45, facecolor=COMPUTE,
                                   edgecolor="#333333", lw=0.8))
            ax.text(lx + 0.75, y + 0.775, "MAC" if lane < 2 else "MAC ...", ha="center",
                    va="center", fontsize=7)
    ax.text(12.05, 5.55, "...", ha="center", fontsize=14)
    ax.text(12.05, 3.3, "PIM arrays (pim/):\nweight memories beside MAC lanes", ha="center", va="top", fontsize=8.5, weight="bold")
    # The broadcast bus.
    ax.plot([8.9, 8.9], [4.45, 9.2], color=blue, lw=2.4)
    ax.plot([8.4, 8.9], [8.5, 8.5], color=blue, lw=2.4)
    for y in (8.85, 6.95, 4.45):
        arrow(ax, (8.9, y), (9.35, y), color=blue)
    ax.text(8.8, 6.3, "broadcast\n[1; x; h]", ha="right", fontsize=7.5,
            color=blue)
    ax.plot([8.4, 12.2], [10.55, 10.55], color="#222222", lw=1.1)
    arrow(ax, (12.2, 10.55), (12.2, 9.8))
    ax.text(10.3, 10.75, "weight address, first/last", fontsize=7.5, ha="center")
    arrow(ax, (2.8, 5.05), (9.3, 4.3), "weight image (loaded while idle)",
          offset=(-0.9, 0.4), size=7.5, connection="arc3,rad=0.1")

    # Cell engine.
    ax.add_patch(FancyBboxPatch((16.0, 1.0), 6.6, 11.2, boxstyle="round,pad=0.05",
                                facecolor="#fbfbf3", edgecolor="#555555", lw=1.1))
    ax.text(19.3, 11.75, "cell engine (rpu/hw)", ha="center", fontsize=10, weight="bold")
    box(ax, 16.5, 9.9, 5.8, 1.2, "pre-activation buffer (4U words)\nLOAD", MEMORY, size=8)
    box(ax, 16.5, 7.4, 5.8, 1.9, "reconfigurable interconnect\nroutes set by the context:\n"
        "GATES, CELL, TANH_C, HIDDEN, EMIT", ROUTES, size=8)
    box(ax, 16.5, 5.2, 2.75, 1.6, "activation\nunits (A)\nsigmoid / tanh\ntables", COMPUTE,
        size=8)
    box(ax, 19.55, 5.2, 2.75, 1.6, "element-wise\nunits (E)\na*b + c*d", COMPUTE, size=8)
    box(ax, 16.5, 3.2, 5.8, 1.4, "gate, tanh(c) and hidden buffers\n(shift registers)", MEMORY,
        size=8)
    box(ax, 16.5, 1.3, 5.8, 1.3, "cell-state memory c\n(one region per layer)", MEMORY, size=8)
    arrow(ax, (14.75, 9.0), (16.5, 10.2))
    ax.text(15.6, 8.75, "4U dot\nproducts", ha="center", va="top", fontsize=7)
    ax.plot([8.4, 15.7, 15.7], [11.3, 11.3, 10.8], color="#777777", lw=1.0, ls="--")
    arrow(ax, (15.7, 10.8), (16.5, 10.8), color="#777777")
    ax.text(12.2, 11.45, "group done: start the contexts", fontsize=7, color="#555555",
            ha="center")
    arrow(ax, (19.4, 9.9), (19.4, 9.3))
    arrow(ax, (17.9, 7.4), (17.9, 6.8), style="<|-|>")
    arrow(ax, (20.9, 7.4), (20.9, 6.8), style="<|-|>")
    arrow(ax, (19.4, 4.6), (19.4, 5.2), style="<|-|>", color="#555555")
    ax.plot([16.5, 16.25, 16.25], [1.95, 1.95, 8.35], color="#555555", lw=1.1)
    arrow(ax, (16.25, 8.35), (16.5, 8.35), style="<|-|>", color="#555555")

    # State memories and the output.
    box(ax, 9.4, 0.45, 5.6, 1.5, "h memory: two halves per layer\n(h_t written | h_t-1 read)",
        MEMORY, size=8)
    ax.plot([16.5, 15.6, 15.6], [3.7, 3.7, 1.2], color="#2e8b57", lw=1.2)
    arrow(ax, (15.6, 1.2), (15.0, 1.2), color="#2e8b57")
    ax.text(15.55, 2.45, "EMIT", fontsize=7.5, color="#2e8b57", ha="right")
    ax.plot([9.4, 7.0], [1.6, 1.6], color=blue, lw=1.2)
    arrow(ax, (7.0, 1.6), (7.0, 7.5), color=blue)
    ax.text(6.85, 3.0, "h_t-1, and h_t of\nthe layer below", ha="right", fontsize=7.5,
            color=blue)
    arrow(ax, (2.8, 0.95), (9.4, 0.95), "initial h", offset=(-2.2, 0.17), size=7.5)
    ax.plot([3.3, 3.3, 19.4], [0.95, 0.2, 0.2], color="#222222", lw=1.1)
    arrow(ax, (19.4, 0.2), (19.4, 1.3))
    ax.text(17.0, 0.35, "initial c", fontsize=7.5)
    box(ax, 23.1, 3.1, 1.75, 1.6, "h stream\n(h, c)\nH per step", PORT, size=7.5)
    arrow(ax, (22.3, 3.9), (23.1, 3.9), color="#2e8b57")
    box(ax, 23.1, 12.6, 1.75, 1.9, "busy,\ncycles,\nsaturations,\nactivity", PORT, size=7.5)
    ax.plot([8.4, 8.7, 8.7, 23.1], [12.75, 12.75, 13.55, 13.55], color="#777777", lw=0)
    ax.text(15.7, 13.7, "counters of the run (for the energy model)", fontsize=7.5,
            color="#555555", ha="center")
    arrow(ax, (8.4, 13.55), (23.1, 13.55), color="#777777", style="-|>")

    fig.savefig(path, metadata={"Date": None}, bbox_inches="tight")
    return fig


#: Colours of the cell engine's contexts.
CONTEXT_COLOURS = {Op.LOAD: "#6b6b6b", Op.GATES: "#e6893c", Op.CELL: "#c0504d",
                   Op.TANH_C: "#f2b134", Op.HIDDEN: "#9b59b6", Op.EMIT: "#2e8b57",
                   Op.NOP: "#d8d8d8"}


def draw_panel(ax, input_size, hidden_size, shown, title):
    """Lanes and cell engine of the row groups ``shown`` ((step, group) pairs) of an
    ``input_size`` x ``hidden_size`` LSTM on the default resources."""
    config = RPUConfig(input_size=max(input_size, 64), hidden_size=max(hidden_size, 128))
    schedule = plan_schedule(config, input_size, hidden_size)
    layer = schedule.layers[0]
    I, H, columns, period = input_size, hidden_size, layer.columns, layer.period
    step_cycles = schedule.step_cycles

    def group_start(step, group):
        return 1 + step * step_cycles + group * period

    for step, group in shown:
        start = group_start(step, group)
        label = f"step {'t' if step == 0 else 't+1'}, group {group}"
        ax.add_patch(Rectangle((start, 2.0), 1, 0.7, facecolor="#333333"))
        ax.add_patch(Rectangle((start + 1, 2.0), I, 0.7, facecolor="#6fa8dc",
                               edgecolor="white", lw=0.5))
        ax.add_patch(Rectangle((start + 1 + I, 2.0), columns - 1 - I, 0.7,
                               facecolor="#1f5f9f", edgecolor="white", lw=0.5))
        ax.text(start + columns / 2, 2.85, label, ha="center", fontsize=8)
        ax.text(start + 1 + I / 2, 2.35, "x", ha="center", va="center", fontsize=8)
        ax.text(start + 1 + I + (columns - 1 - I) / 2, 2.35, "h_t-1", ha="center",
                va="center", fontsize=8, color="white")
        offset = start + columns - 1 + LANE_TO_ENGINE
        for op, cycles in schedule.contexts:
            ax.add_patch(Rectangle((offset, 0.8), cycles, 0.7,
                                   facecolor=CONTEXT_COLOURS[Op(op)], edgecolor="white",
                                   lw=0.3))
            offset += cycles
        if layer.gap and group == layer.groups - 1:
            ax.add_patch(Rectangle((start + period, 2.0), layer.gap, 0.7, facecolor="none",
                                   edgecolor="#c0504d", hatch="////", lw=0.8))
            ax.text(start + period + layer.gap / 2, 1.85, f"gap {layer.gap}", ha="center",
                    va="top", fontsize=7.5, color="#c0504d")
    # The recurrence: h_t[H-1] is emitted by step t's last group and read by step t+1's
    # first group at column 1 + I + H - 1.
    last_emit = schedule.emit_cycle(0, H - 1)
    first_read = group_start(1, 0) + 1 + I + H - 1
    ax.annotate("", xy=(first_read + 0.5, 2.0), xytext=(last_emit + 0.5, 1.5),
                arrowprops=dict(arrowstyle="-|>", color="#c0504d", lw=1.2,
                                connectionstyle="arc3,rad=-0.3"))
    ax.text(first_read, 0.45, f"h_t[{H - 1}] emitted in cycle {last_emit}, read in cycle "
            f"{first_read}", fontsize=7.5, color="#c0504d", ha="left", va="center")
    boundary = group_start(1, 0)
    ax.axvline(boundary, color="#555555", lw=0.8, ls="--")
    ax.text(boundary, 3.25, f" step t+1 starts (cycle {boundary})", fontsize=7.5,
            va="bottom")
    lo = group_start(*shown[0]) - 0.02 * (step_cycles)
    hi = group_start(*shown[-1]) + period + 0.25 * period
    ax.set_xlim(lo, hi)
    ax.set_ylim(0.2, 3.8)
    ax.set_yticks([1.15, 2.35])
    ax.set_yticklabels(["cell engine", "PIM lanes"])
    ax.set_title(title.format(I=I, H=H, columns=columns, period=period, gap=layer.gap,
                              engine=schedule.engine_cycles,
                              step=step_cycles), fontsize=9, loc="left")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


def draw_schedule(path):
    """Lanes and cell engine around the boundary of steps t and t+1: shape S (lane-bound),
    and the 8 x 32 LSTM of examples/digits (engine-bound, with a step gap)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12.5, 6.6),
                                      gridspec_kw={"hspace": 0.55})
    draw_panel(top, 64, 128, [(0, 6), (0, 7), (1, 0), (1, 1)],
               "Shape S, I={I}, H={H}: {columns} columns per group, period {period}, "
               "{step} cycles per step (lane-bound).\nStep t+1's bias and x columns run "
               "while the engine finishes step t's last group.")
    draw_panel(bottom, 8, 32, [(0, 0), (0, 1), (1, 0), (1, 1)],
               "I={I}, H={H} (examples/digits): {columns} columns, period {period} "
               "(engine-bound: {engine} + 1), gap {gap}, {step} cycles per step.\nWith one cycle "
               "less of gap, h_t[31] would be read before it is written.")
    bottom.set_xlabel("cycle counted from the start cycle (default resources: 64 lanes, "
                      "4 activation units, 2 element-wise units)")
    handles = [Rectangle((0, 0), 1, 1, facecolor=c) for c in CONTEXT_COLOURS.values()]
    bottom.legend(handles, [Op(op).name for op in CONTEXT_COLOURS], ncol=7, fontsize=7.5,
                  loc="upper left", bbox_to_anchor=(0.0, -0.35), frameon=False,
                  title="cell engine contexts", title_fontsize=7.5, alignment="left")
    fig.savefig(path, metadata={"Date": None}, bbox_inches="tight")
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="directory of the pictures (default: docs/)")
    parser.add_argument("--png", action="store_true", help="also write PNG copies")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in (("architecture", draw_block_diagram), ("schedule", draw_schedule)):
        fig = draw(args.out / f"{name}.svg")
        if args.png:
            fig.savefig(args.out / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(args.out / f"{name}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
