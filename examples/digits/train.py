"""Train the example's LSTM: handwritten digits read row by row.

Run it with a Python that has torch, scikit-learn and safetensors (none of them is needed to
*run* the example, only to re-train it):

    pip install torch scikit-learn safetensors
    python examples/digits/train.py

The data set is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits"
test set (1797 images of 8x8 pixels, 16 grey levels, classes 0-9). It ships inside the
scikit-learn package (``sklearn.datasets.load_digits``), so nothing is downloaded.

Each image is a sequence of T = 8 time steps (its rows, top to bottom), each an input vector
of I = 8 pixels scaled to [0, 1] (grey level / 16). A one-layer ``torch.nn.LSTM``
(``batch_first=True``, hidden size H = 32) reads the rows; a linear layer maps the hidden
state of the last step to the 10 class scores.

The split is stratified and fixed (``train_test_split(test_size=0.25, random_state=0)``:
1347 training and 450 test images); torch is seeded, single-threaded and in deterministic
mode, so a re-run writes the same weights (on the same torch build and CPU).

Written next to this script:

``model.safetensors``
    The LSTM's state dict in torch's key naming (``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0``), float32, with ``__metadata__`` ``batch_first = "true"``
    so that ``python -m rpu run`` reads batched inputs as ``(B, T, I)``.
``classifier.npz``
    The linear head: ``weight`` ``(10, H)`` and ``bias`` ``(10,)``, float32.
``test_set.npz``
    The held-out test images: ``x`` float32 ``(450, 8, 8)`` = (sequence, step, pixel) in
    [0, 1], ``labels`` int64 ``(450,)``, and ``indices`` into ``load_digits()``.
``calibration_set.npz``
    40 *training* images (4 per class), same layout: the inputs on which
    ``run_example.py`` calibrates the RPU's fixed-point formats.
``float_reference.json``
    Training settings and torch's float32 accuracies, with torch's test-set predictions.
"""

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


HERE = Path(__file__).resolve().parent
SEED = 0
HIDDEN = 32
EPOCHS = 60
BATCH = 32
LEARNING_RATE = 1e-2
TEST_SIZE = 0.25
#: Training images kept for calibrating the RPU's fixed-point formats, per class.
CALIBRATION_PER_CLASS = 4


class DigitsLSTM(torch.nn.Module):
    def __init__(self, input_size=8, hidden_size=HIDDEN, classes=10):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, classes)

    def forward(self, x):
        h, _ = self.lstm(x)                 # (B, T, H)
        return self.head(h[:, -1])          # the last step's hidden state


def accuracy(model, x, y):
    with torch.no_grad():
        predictions = model(x).argmax(dim=1)
    return float((predictions == y).float().mean()), predictions


def main():
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)            # (1797, 8, 8), rows = steps
    indices = np.arange(len(images))
    train_idx, test_idx = train_test_split(indices, test_size=TEST_SIZE, random_state=SEED,
                                           stratify=digits.target)
    test_idx = np.sort(test_idx)
    x_train = torch.from_numpy(images[train_idx])
    y_train = torch.from_numpy(digits.target[train_idx]).long()
    x_test = torch.from_numpy(images[test_idx])
    y_test = torch.from_numpy(digits.target[test_idx]).long()

    model = DigitsLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for first in range(0, len(order), BATCH):
            batch = order[first:first + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        if epoch % 10 == 9 or epoch == EPOCHS - 1:
            model.eval()
            print(f"epoch {epoch + 1:3d}  loss {total / len(x_train):.4f}  "
                  f"train {accuracy(model, x_train, y_train)[0]:.4f}  "
                  f"test {accuracy(model, x_test, y_test)[0]:.4f}")
    seconds = time.perf_counter() - start
    model.eval()
    train_accuracy, _ = accuracy(model, x_train, y_train)
    test_accuracy, predictions = accuracy(model, x_test, y_test)

    state = {key: value.detach().clone().contiguous()
             for key, value in model.lstm.state_dict().items()}
    # One metadata entry only: safetensors writes a map of several in no fixed order.
    save_file(state, HERE / "model.safetensors", metadata={"batch_first": "true"})
    (HERE / "model.safetensors").chmod(0o644)
    np.savez(HERE / "classifier.npz",
             weight=model.head.weight.detach().numpy().astype(np.float32),
             bias=model.head.bias.detach().numpy().astype(np.float32))
    np.savez_compressed(HERE / "test_set.npz", x=images[test_idx],
                        labels=digits.target[test_idx].astype(np.int64), indices=test_idx)
    # Calibration inputs come from the training images (never from the test set): the first
    # CALIBRATION_PER_CLASS of each class in a seeded shuffle of the training split.
    shuffled = np.random.default_rng(SEED).permutation(train_idx)
    calibration_idx = np.sort(np.concatenate([
        shuffled[digits.target[shuffled] == digit][:CALIBRATION_PER_CLASS]
        for digit in range(10)]))
    np.savez_compressed(HERE / "calibration_set.npz", x=images[calibration_idx],
                        labels=digits.target[calibration_idx].astype(np.int64),
                        indices=calibration_idx)
    reference = {
        "data_set": "sklearn.datasets.load_digits (8x8, rows as time steps, pixels / 16)",
        "split": {"test_size": TEST_SIZE, "random_state": SEED, "stratify": True,
                  "train": len(train_idx), "test": len(test_idx),
                  "calibration": len(calibration_idx)},
        "model": {"input_size": 8, "hidden_size": HIDDEN, "num_layers": 1,
                  "batch_first": True, "head": f"Linear({HIDDEN}, 10) on the last h"},
        "training": {"seed": SEED, "epochs": EPOCHS, "batch_size": BATCH,
                     "optimizer": "Adam", "learning_rate": LEARNING_RATE,
                     "schedule": "cosine", "torch": torch.__version__},
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "test_correct": int(round(test_accuracy * len(test_idx))),
        "test_predictions": predictions.tolist(),
    }
    # The 450 predictions on one line, the rest indented.
    predictions_line = json.dumps(reference.pop("test_predictions"))
    text = json.dumps(reference, indent=1)
    text = text[:-2] + f',\n "test_predictions": {predictions_line}\n}}\n'
    (HERE / "float_reference.json").write_text(text)
    print(f"trained in {seconds:.1f} s: train accuracy {train_accuracy:.4f}, "
          f"test accuracy {test_accuracy:.4f} ({reference['test_correct']}/{len(test_idx)})")


if __name__ == "__main__":
    main()
