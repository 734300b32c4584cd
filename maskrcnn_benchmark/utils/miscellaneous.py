"""Small helpers for the command-line tools."""

import os
import random

import numpy as np
import torch


def mkdir(path):
    os.makedirs(path, exist_ok=True)


def seed_all(seed):
    """Seed Python, NumPy and torch; returns the seed used (-1 draws one)."""
    if seed < 0:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return seed


def save_config(cfg, path):
    with open(path, "w") as f:
        f.write(cfg.dump())
