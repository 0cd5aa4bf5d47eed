"""Trained models in: safetensors, ONNX, npz and PyTorch files read into one
:class:`ImportedLSTM`. numpy and :mod:`lstm_ref` only: no Amaranth is loaded here."""
