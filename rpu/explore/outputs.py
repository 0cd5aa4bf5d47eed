"""The files of a sweep: points.csv, pareto.csv, the plots and summary.json, all or none."""

import csv
import io
import json

from rpu.explore.columns import COLUMNS
from rpu.explore.plots import plots
from rpu.files import write_files_atomically


__all__ = ["FILES", "csv_text", "write_outputs"]

#: The files :func:`write_outputs` writes.
FILES = ("points.csv", "pareto.csv", "area_vs_latency.png", "energy_vs_accuracy.png",
         "summary.json")


def csv_text(rows):
    """The CSV text of ``rows``: a header with units, then a row each (empty cells for
    None, true/false for booleans, floats to full precision)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header for _, header in COLUMNS])
    for row in rows:
        cells = []
        for key, _ in COLUMNS:
            value = row.get(key)
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            elif isinstance(value, float):
                cells.append(repr(value))
            else:
                cells.append(str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def write_outputs(result, out_dir):
    """Write points.csv, pareto.csv, the two plots and summary.json: all or none."""
    area_png, energy_png = plots(result)
    files = {
        "points.csv": csv_text(result.rows),
        "pareto.csv": csv_text([row for row in result.rows if row["pareto"]]),
        "area_vs_latency.png": area_png,
        "energy_vs_accuracy.png": energy_png,
        "summary.json": json.dumps(result.summary, indent=2) + "\n",
    }
    write_files_atomically(out_dir, files)
