"""Which path of the supernet to train at each iteration.

Both samplers are pure functions of (seed, iteration): any process, and a resumed run, draws the same
path for the same iteration. `broadcast_arch` still sends rank 0's path to every rank, so that a
distributed step can never train different paths on different ranks (DDP with
find_unused_parameters would then average gradients of parameters some ranks never used).
"""

import numpy as np
import torch
import torch.distributed as dist

from .flops import flops_range, flops_table
from .search_space import get_search_space


def _rng(seed, iteration):
    return np.random.default_rng([int(seed), int(iteration)])


class UniformPathSampler:
    """Every block's choice drawn independently and uniformly."""

    def __init__(self, size, seed=0):
        self.space = get_search_space(size)
        self.seed = int(seed)

    def sample(self, iteration):
        rng = _rng(self.seed, iteration)
        return tuple(int(c) for c in rng.integers(0, self.space.num_choices, self.space.num_blocks))

    __call__ = sample


class FlopsUniformPathSampler:
    """A FLOPs bin drawn uniformly, then an architecture inside it.

    The bins split [min, max] FLOPs of the size's search space (computed from the FLOPs table at
    `input_size`) into `num_bins` equal intervals. Inside a bin, architectures are drawn uniformly
    by rejection (`max_attempts` candidates, in vectorised chunks). Bins near the ends of the range
    hold few architectures, so when no candidate lands, the candidate closest to the bin is moved
    into it by single-block changes picked at random among those that bring it closer; if the bin
    cannot be reached that way, the closest architecture found is returned (`sample_with_info`
    reports whether the result is inside the bin).
    """

    def __init__(self, size, num_bins=10, seed=0, input_size=224, max_attempts=512):
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.space = get_search_space(size)
        self.seed = int(seed)
        self.num_bins = int(num_bins)
        self.max_attempts = int(max_attempts)
        stem, rows = flops_table(self.space.name, input_size)
        self._stem = stem
        self._table = np.array(rows, dtype=np.int64)  # [num_blocks, num_choices]
        lo, hi = flops_range(self.space.name, input_size)
        self.bin_edges = np.linspace(lo, hi, self.num_bins + 1)

    def bin_of(self, flops):
        """Index of the bin holding `flops` (the maximum falls in the last bin)."""
        idx = int(np.searchsorted(self.bin_edges, flops, side="right")) - 1
        return min(max(idx, 0), self.num_bins - 1)

    def _flops(self, archs):
        return self._stem + self._table[np.arange(self._table.shape[0]), archs].sum(-1)

    def _distance(self, flops, lo, hi):
        return np.maximum(lo - flops, 0) + np.maximum(flops - hi, 0)

    def sample_with_info(self, iteration):
        """(arch, bin index, whether arch's FLOPs are inside that bin)."""
        rng = _rng(self.seed, iteration)
        b = int(rng.integers(0, self.num_bins))
        lo, hi = self.bin_edges[b], self.bin_edges[b + 1]
        n, k = self._table.shape
        best, best_dist = None, None
        drawn = 0
        while drawn < self.max_attempts:
            chunk = min(128, self.max_attempts - drawn)
            cands = rng.integers(0, k, size=(chunk, n))
            dist_ = self._distance(self._flops(cands), lo, hi)
            hit = np.flatnonzero(dist_ == 0)
            if hit.size:
                return tuple(int(c) for c in cands[hit[0]]), b, True
            j = int(dist_.argmin())
            if best is None or dist_[j] < best_dist:
                best, best_dist = cands[j].copy(), dist_[j]
            drawn += chunk
        arch, inside = self._repair(best, lo, hi, rng)
        return arch, b, inside

    def _repair(self, arch, lo, hi, rng):
        n, k = self._table.shape
        flops = int(self._flops(arch))
        while True:
            dist_now = self._distance(flops, lo, hi)
            if dist_now == 0:
                return tuple(int(c) for c in arch), True
            # every single-block change: new FLOPs = flops - table[i, arch[i]] + table[i, c]
            new = flops - self._table[np.arange(n), arch][:, None] + self._table
            dist_new = self._distance(new, lo, hi)
            landing = np.argwhere(dist_new == 0)
            moves = landing if len(landing) else np.argwhere(dist_new < dist_now)
            if not len(moves):
                return tuple(int(c) for c in arch), False
            i, c = moves[int(rng.integers(0, len(moves)))]
            arch[i] = c
            flops = int(new[i, c])

    def sample(self, iteration):
        return self.sample_with_info(iteration)[0]

    __call__ = sample


SAMPLINGS = ("uniform", "flops_uniform")


def make_path_sampler(size, sampling="uniform", seed=0, num_bins=10, input_size=224):
    """The path sampler a supernet trains with: "uniform" over choices, or "flops_uniform" (uniform
    over `num_bins` FLOPs bins at `input_size`, then over the paths of the bin)."""
    if sampling == "uniform":
        return UniformPathSampler(size, seed=seed)
    if sampling == "flops_uniform":
        return FlopsUniformPathSampler(size, num_bins=num_bins, seed=seed, input_size=input_size)
    raise ValueError(f"path sampling must be one of {SAMPLINGS}, got {sampling!r}")


def broadcast_arch(arch, src=0):
    """Every rank gets rank `src`'s architecture (a no-op outside a multi-process run)."""
    arch = tuple(int(c) for c in arch)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return arch
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    # the length first, so a rank holding a wrong-length arch fails loudly instead of hanging
    length = torch.tensor([len(arch)], dtype=torch.int64, device=device)
    dist.broadcast(length, src)
    if int(length) != len(arch):
        raise RuntimeError(
            f"broadcast_arch: rank {dist.get_rank()} has an architecture of "
            f"{len(arch)} blocks, rank {src} of {int(length)}"
        )
    values = torch.tensor(arch, dtype=torch.int64, device=device)
    dist.broadcast(values, src)
    return tuple(int(c) for c in values.tolist())
