import itertools
import random

import pytest
import torch
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from maskrcnn_benchmark.data.samplers import GroupedBatchSampler, InferenceShardSampler, IterationBasedBatchSampler


class ListSampler(torch.utils.data.Sampler):
    def __init__(self, indices):
        self.indices = list(indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def _check_grouped(order, group_ids, batch_size, drop_uneven, batches):
    """Every property GroupedBatchSampler promises, checked from its definition."""
    position = {idx: p for p, idx in enumerate(order)}
    # 1. single group per batch, sizes within limits
    for b in batches:
        assert len({group_ids[i] for i in b}) == 1
        assert 0 < len(b) <= batch_size
    # 2. within a batch, sampler order
    for b in batches:
        assert [position[i] for i in b] == sorted(position[i] for i in b)
    # 3. each group's batches are consecutive chunks of the group's subsequence
    for g in set(group_ids[i] for i in order):
        sub = [i for i in order if group_ids[i] == g]
        chunks = [sub[k : k + batch_size] for k in range(0, len(sub), batch_size)]
        if drop_uneven:
            chunks = [c for c in chunks if len(c) == batch_size]
        assert [b for b in batches if group_ids[b[0]] == g] == chunks
    # 4. batches ordered by their first element's position in the sampler
    firsts = [position[b[0]] for b in batches]
    assert firsts == sorted(firsts)
    # 5. without drop_uneven every index is used exactly once
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used))
    if not drop_uneven:
        assert sorted(used) == sorted(order)


def test_docstring_example():
    s = GroupedBatchSampler(ListSampler(range(6)), [0, 0, 1, 0, 1, 1], 2)
    assert list(s) == [[0, 1], [2, 4], [3], [5]]
    s = GroupedBatchSampler(ListSampler(range(6)), [0, 0, 1, 0, 1, 1], 2, drop_uneven=True)
    assert list(s) == [[0, 1], [2, 4]]


def test_single_group_is_plain_batching():
    s = GroupedBatchSampler(SequentialSampler(range(10)), [0] * 10, 3)
    assert list(s) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(s) == list(BatchSampler(SequentialSampler(range(10)), 3, False))
    assert len(s) == 4


def test_respects_sampler_order_hand_case():
    order = [5, 0, 3, 1, 4, 2, 6, 7]
    groups = [0, 1, 0, 1, 0, 1, 0, 0]
    s = GroupedBatchSampler(ListSampler(order), groups, 2)
    # Group 1 in sampler order: 5 3 1; group 0: 0 4 2 6 7. Batches by first position.
    assert list(s) == [[5, 3], [0, 4], [1], [2, 6], [7]]
    s = GroupedBatchSampler(ListSampler(order), groups, 3)
    assert list(s) == [[5, 3, 1], [0, 4, 2], [6, 7]]


@pytest.mark.parametrize("drop_uneven", [False, True])
def test_exhaustive_small_cases(drop_uneven):
    # All group assignments of 6 items into 2 groups, all batch sizes, two sampler orders.
    for groups in itertools.product([0, 1], repeat=6):
        for order in ([0, 1, 2, 3, 4, 5], [3, 5, 0, 4, 1, 2]):
            for bs in range(1, 7):
                s = GroupedBatchSampler(ListSampler(order), groups, bs, drop_uneven=drop_uneven)
                batches = list(s)
                _check_grouped(order, groups, bs, drop_uneven, batches)
                assert len(s) == len(batches)


@pytest.mark.parametrize("seed", range(20))
def test_random_cases(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    groups = [rng.randint(0, 3) for _ in range(n)]
    order = rng.sample(range(n), k=rng.randint(1, n))  # a sampler may yield a subset
    bs = rng.randint(1, 8)
    for drop in (False, True):
        _check_grouped(order, groups, bs, drop, list(GroupedBatchSampler(ListSampler(order), groups, bs, drop)))


def test_len_matches_iteration_with_random_sampler():
    groups = [i % 3 == 0 for i in range(50)]
    g = torch.Generator().manual_seed(0)
    s = GroupedBatchSampler(RandomSampler(range(50), generator=g), groups, 4)
    for _ in range(3):
        n = len(s)
        assert len(list(s)) == n
    # Without len() first, iteration draws a fresh order each time.
    assert list(s) != list(s)


def test_len_cache_follows_epoch():
    groups = [i % 2 for i in range(30)]
    ds = DistributedSampler(range(30), num_replicas=1, rank=0, shuffle=True, seed=0)
    s = GroupedBatchSampler(ds, groups, 4)
    len(s)
    ds.set_epoch(1)
    expected = list(GroupedBatchSampler(ds, groups, 4))
    assert list(s) == expected  # the epoch-0 batches cached by len() are not reused


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        GroupedBatchSampler(ListSampler([0]), [0], 0)
    with pytest.raises(IndexError, match="group_ids covers 2"):
        list(GroupedBatchSampler(ListSampler([0, 5]), [0, 0], 1))


# ---- IterationBasedBatchSampler -------------------------------------------------------------------


def test_iteration_based_wraps_and_counts():
    inner = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    s = IterationBasedBatchSampler(inner, 7)
    assert len(s) == 7
    assert list(s) == [[0, 1], [2, 3], [4], [0, 1], [2, 3], [4], [0, 1]]
    assert list(IterationBasedBatchSampler(inner, 0)) == []


def test_iteration_based_sets_epoch_per_pass():
    ds = DistributedSampler(range(10), num_replicas=1, rank=0, shuffle=True, seed=4)
    s = IterationBasedBatchSampler(BatchSampler(ds, 5, False), 6)
    batches = list(s)
    passes = [sorted(batches[i] + batches[i + 1]) for i in (0, 2, 4)]
    assert all(p == list(range(10)) for p in passes)
    # A new shuffle each pass, reproducible from the seed.
    assert batches[0:2] != batches[2:4]
    ds.set_epoch(1)
    assert [list(b) for b in BatchSampler(ds, 5, False)] == batches[2:4]
    assert list(s) == batches


@pytest.mark.parametrize("start", [0, 1, 4, 5, 9, 13])
def test_resume_replays_the_same_sequence(start):
    groups = [i % 3 == 0 for i in range(23)]

    def make(start_iter):
        ds = DistributedSampler(range(23), num_replicas=1, rank=0, shuffle=True, seed=7)
        return IterationBasedBatchSampler(GroupedBatchSampler(ds, groups, 4), 14, start_iter)

    full = list(make(0))
    assert len(full) == 14
    resumed = list(make(start))
    assert resumed == full[start:]
    assert len(make(start)) == 14


def test_empty_batch_sampler_is_an_error():
    s = IterationBasedBatchSampler(GroupedBatchSampler(ListSampler([0]), [0], 2, drop_uneven=True), 3)
    with pytest.raises(ValueError, match="no batches"):
        list(s)
    with pytest.raises(ValueError):
        IterationBasedBatchSampler([], -1)


# ---- sharding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,world", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_inference_shards_cover_once_in_order(n, world):
    shards = [list(InferenceShardSampler(n, r, world)) for r in range(world)]
    assert [i for s in shards for i in s] == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [len(InferenceShardSampler(n, r, world)) for r in range(world)] == list(map(len, shards))
    with pytest.raises(ValueError):
        InferenceShardSampler(n, world, world)


def test_distributed_training_shards_are_disjoint_per_epoch():
    # The sampler make_data_loader uses: every rank the same seed, disjoint parts.
    parts = []
    for rank in range(3):
        ds = DistributedSampler(range(12), num_replicas=3, rank=rank, shuffle=True, seed=5)
        ds.set_epoch(2)
        parts.append(list(ds))
    assert sorted(sum(parts, [])) == list(range(12))
