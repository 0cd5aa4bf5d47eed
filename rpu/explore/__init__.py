"""Design-space exploration: sweeps of resources and formats, their Pareto front, plots.

* :mod:`~rpu.explore.sweep` -- :func:`explore` and :func:`evaluate_point` (one point);
* :mod:`~rpu.explore.formats` -- calibration and accuracy per format;
* :mod:`~rpu.explore.cache` -- the synthesis cache and its key;
* :mod:`~rpu.explore.runner` -- in this process, on a process pool or a Dask cluster, with a
  progress bar;
* :mod:`~rpu.explore.pareto` -- the Pareto front;
* :mod:`~rpu.explore.columns`, :mod:`~rpu.explore.outputs`, :mod:`~rpu.explore.plots` --
  points.csv, pareto.csv, the plots and summary.json.

The command line is :mod:`rpu.cli.explore`.
"""
