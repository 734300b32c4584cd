from .grouped_batch_sampler import GroupedBatchSampler
from .iteration_based_batch_sampler import IterationBasedBatchSampler
from .shard_sampler import InferenceShardSampler

__all__ = ["GroupedBatchSampler", "InferenceShardSampler", "IterationBasedBatchSampler"]
