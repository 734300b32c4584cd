"""Several datasets read as one (e.g. DATASETS.TRAIN with more than one name)."""

import bisect

import torch


class ConcatDataset(torch.utils.data.ConcatDataset):
    """torch's ConcatDataset that also answers `get_img_info` and returns global indices.

    Items are `(image, target, idx)` like the datasets inside, with `idx` the index into this
    concatenation, so predictions can be matched back to `get_img_info(idx)`.
    """

    def get_idxs(self, idx):
        """(which dataset, index inside it) of a global index."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a ConcatDataset of {len(self)} items")
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx if dataset_idx == 0 else idx - self.cumulative_sizes[dataset_idx - 1]
        return dataset_idx, sample_idx

    def __getitem__(self, idx):
        dataset_idx, sample_idx = self.get_idxs(idx)
        item = self.datasets[dataset_idx][sample_idx]
        return (*item[:-1], idx if idx >= 0 else idx + len(self))

    def get_img_info(self, idx):
        dataset_idx, sample_idx = self.get_idxs(idx)
        return self.datasets[dataset_idx].get_img_info(sample_idx)
