"""``python -m rpu generate``: write rpu.v, rpu_sram.v and rpu.json for a configuration."""

import os

from rpu.cli.options import add_config_options, config_from, check_output_dir


__all__ = ["add_parser", "run"]


def add_parser(commands):
    parser = commands.add_parser(
        "generate", help="write rpu.v and rpu.json for a configuration",
        description="Elaborate an RPU and write DIR/rpu.v (Verilog, top module 'rpu') and "
                    "DIR/rpu.json (configuration, ports, memory map, predicted schedule).")
    add_config_options(parser, sizes_required=True)
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output directory (created if missing)")
    return parser


def run(args):
    """Run ``python -m rpu generate``; returns the exit code."""
    from rpu.generator import generate
    config = config_from(args)
    check_output_dir(args.output, "-o/--output")
    parameters = generate(config, args.output)
    schedule = parameters["schedule"]
    print(f"wrote {os.path.join(args.output, 'rpu.v')}, rpu_sram.v and rpu.json: "
          f"{config.mac_lanes} MAC lanes, I={config.input_size} H={config.hidden_size}, "
          f"{schedule['cycles_per_step']} cycles/step, "
          f"{100 * schedule['utilization']:.1f}% utilization over {schedule['steps']} steps")
    return 0
