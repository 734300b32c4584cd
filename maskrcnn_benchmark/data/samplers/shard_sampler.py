"""Contiguous, unpadded shards of a dataset for distributed inference."""

from torch.utils.data.sampler import Sampler


class InferenceShardSampler(Sampler):
    """Indices [start, end) of shard `rank` out of `world_size`, in order, with no padding or
    duplicates (torch's DistributedSampler pads, which would evaluate some images twice). Shard sizes
    differ by at most one; together the shards cover the dataset exactly once."""

    def __init__(self, num_samples, rank, world_size):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.start = num_samples * rank // world_size
        self.end = num_samples * (rank + 1) // world_size

    def __iter__(self):
        return iter(range(self.start, self.end))

    def __len__(self):
        return self.end - self.start
