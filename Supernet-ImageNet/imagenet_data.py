"""ImageNet-style data for DetNAS pre-training: ImageFolder splits, BGR 0-255 tensors, and a
sampler that makes every sample's order and augmentation a function of (seed, iteration).

Because each training sample carries its own seed, a resumed run reads exactly the images (and
random crops, jitter, flips) that an uninterrupted run would have read.
"""

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets, transforms


class ToBGR255Tensor:
    """PIL RGB image -> float tensor [3, H, W], BGR order, values 0-255 (mean 0, std 1, as the
    DetNAS detectors expect)."""

    def __call__(self, img):
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float()


def train_transform(input_size):
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(input_size),
            transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
            transforms.RandomHorizontalFlip(),
            ToBGR255Tensor(),
        ]
    )


def val_transform(input_size):
    # the usual 0.875 centre crop (256 -> 224)
    return transforms.Compose(
        [
            transforms.Resize(int(round(input_size / 0.875))),
            transforms.CenterCrop(input_size),
            ToBGR255Tensor(),
        ]
    )


def image_folder(root, split):
    """torchvision ImageFolder over `root/split`, with a clear error when the folder is missing."""
    import os

    path = os.path.join(root, split)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"--data {root}: no '{split}' folder (expected ImageFolder layout {root}/{split}/<class>/<image>)"
        )
    return datasets.ImageFolder(path)


class SeededSamples(Dataset):
    """Items addressed by (index, seed): the transform runs under a torch RNG seeded with `seed`,
    so the augmentation of a sample depends on nothing else (not on worker, process or history)."""

    def __init__(self, base, transform):
        self.base = base
        self.transform = transform

    def __len__(self):
        return len(self.base)

    def __getitem__(self, key):
        index, seed = key
        img, label = self.base[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(img), label


class IterationSampler:
    """Batch sampler over iterations [start_iter, end_iter) of a run with a global batch of
    `batch_size * world_size`: the global stream of samples is epoch after epoch of seeded
    permutations, and this rank takes its slice of each global batch. Yields lists of
    (index, sample seed) for SeededSamples."""

    def __init__(self, num_samples, batch_size, world_size, rank, seed, start_iter, end_iter):
        if num_samples < 1:
            raise ValueError("the training set is empty")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.start_iter = start_iter
        self.end_iter = end_iter
        self._perm_epoch, self._perm = None, None

    def _permutation(self, epoch):
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]))
            self._perm, self._perm_epoch = torch.randperm(self.num_samples, generator=g), epoch
        return self._perm

    def batch(self, iteration):
        first = (iteration * self.world_size + self.rank) * self.batch_size
        out = []
        for position in range(first, first + self.batch_size):
            epoch, offset = divmod(position, self.num_samples)
            index = int(self._permutation(epoch)[offset])
            sample_seed = int(np.random.SeedSequence([self.seed, 1, position]).generate_state(1)[0])
            out.append((index, sample_seed))
        return out

    def __iter__(self):
        for iteration in range(self.start_iter, self.end_iter):
            yield self.batch(iteration)

    def __len__(self):
        return max(self.end_iter - self.start_iter, 0)
