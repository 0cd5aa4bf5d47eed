"""``python -m rpu``: the command line, one module per command. The only place that wires the
layers together."""
