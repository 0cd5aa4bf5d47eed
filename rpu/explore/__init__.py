"""Design-space exploration: sweeps of resources and formats, their Pareto front, plots."""
