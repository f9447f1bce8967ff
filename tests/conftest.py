"""Shared test set-up: the smoke preset, one thread, a non-GUI matplotlib backend."""

import os

os.environ.setdefault("SURVEY_PRESET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
