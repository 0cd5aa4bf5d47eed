"""RPU: an LSTM processing-in-memory accelerator generator."""
