import numpy as np
import pytest

from maskrcnn_benchmark.nas import (
    FlopsUniformPathSampler,
    UniformPathSampler,
    broadcast_arch,
    count_flops,
    flops_range,
)


def chi_square(counts):
    counts = np.asarray(counts, dtype=np.float64)
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def test_uniform_choice_frequencies():
    sampler = UniformPathSampler("300M", seed=11)
    draws = np.array([sampler.sample(i) for i in range(4000)])
    assert draws.shape == (4000, 20)
    for block in range(20):
        counts = np.bincount(draws[:, block], minlength=4)
        # 3 degrees of freedom: P(chi2 > 21) < 1e-4, so this fails only for a biased sampler
        assert chi_square(counts) < 21.0, (block, counts)
        assert np.all(np.abs(counts / 4000 - 0.25) < 0.04)


def test_uniform_deterministic_from_seed_and_iteration():
    a, b = UniformPathSampler("1.3G", seed=5), UniformPathSampler("1.3G", seed=5)
    assert [a.sample(i) for i in range(20)] == [b.sample(i) for i in range(20)]
    assert a.sample(7) == a.sample(7)  # no hidden state
    assert a.sample(7) != a.sample(8)
    assert UniformPathSampler("1.3G", seed=6).sample(7) != a.sample(7)
    assert len(a.sample(0)) == 40 and all(type(c) is int for c in a.sample(0))


def test_flops_bins_cover_the_computed_range():
    s = FlopsUniformPathSampler("300M", num_bins=10, seed=0)
    lo, hi = flops_range("300M")
    assert s.bin_edges[0] == lo and s.bin_edges[-1] == hi and len(s.bin_edges) == 11
    assert s.bin_of(lo) == 0 and s.bin_of(hi) == 9


@pytest.mark.parametrize("size", ["300M", "3.8G"])
def test_flops_bins_hit_uniformly(size):
    s = FlopsUniformPathSampler(size, num_bins=8, seed=3)
    n = 1600
    bins = []
    for i in range(n):
        arch, b, inside = s.sample_with_info(i)
        flops = count_flops(size, arch)
        assert inside and s.bin_edges[b] <= flops <= s.bin_edges[b + 1]
        bins.append(s.bin_of(flops))
    counts = np.bincount(bins, minlength=8)
    # 7 degrees of freedom: P(chi2 > 29) < 2e-4
    assert chi_square(counts) < 29.0, counts
    # a plain uniform draw would pile up in the middle bins
    plain = UniformPathSampler(size, seed=3)
    plain_counts = np.bincount([s.bin_of(count_flops(size, plain.sample(i))) for i in range(n)], minlength=8)
    assert chi_square(plain_counts) > 100


def test_flops_sampler_deterministic_and_extreme_bins():
    a = FlopsUniformPathSampler("1.3G", num_bins=10, seed=1)
    b = FlopsUniformPathSampler("1.3G", num_bins=10, seed=1)
    assert [a.sample(i) for i in range(30)] == [b.sample(i) for i in range(30)]
    # few candidates: the repair step must still land in the extreme bins
    c = FlopsUniformPathSampler("300M", num_bins=10, seed=2, max_attempts=1)
    for i in range(200):
        arch, bin_index, inside = c.sample_with_info(i)
        assert inside, (i, bin_index)


def test_flops_sampler_unreachable_bin_falls_back_to_closest():
    # with very many bins some are empty; the sampler reports it and returns a near architecture
    s = FlopsUniformPathSampler("300M", num_bins=2000, seed=0, max_attempts=16)
    width = s.bin_edges[1] - s.bin_edges[0]
    outside = 0
    for i in range(300):
        arch, b, inside = s.sample_with_info(i)
        flops = count_flops("300M", arch)
        if not inside:
            outside += 1
            gap = max(s.bin_edges[b] - flops, flops - s.bin_edges[b + 1])
            assert gap < 50 * width
    assert outside > 0


def test_sampler_arguments_checked():
    with pytest.raises(ValueError, match="num_bins"):
        FlopsUniformPathSampler("300M", num_bins=0)
    with pytest.raises(ValueError, match="unknown DetNAS size"):
        UniformPathSampler("2G")


def test_broadcast_arch_without_process_group_is_identity():
    assert broadcast_arch([1, 2, 3]) == (1, 2, 3)


def test_make_path_sampler_builds_the_named_sampler():
    from maskrcnn_benchmark.nas import FlopsUniformPathSampler, UniformPathSampler, make_path_sampler

    uniform, flops = make_path_sampler("300M", "uniform", seed=3), make_path_sampler("300M", "flops_uniform", 3, 4)
    assert [uniform(i) for i in range(5)] == [UniformPathSampler("300M", seed=3)(i) for i in range(5)]
    assert [flops(i) for i in range(5)] == [FlopsUniformPathSampler("300M", num_bins=4, seed=3)(i) for i in range(5)]
    with pytest.raises(ValueError, match="must be one of"):
        make_path_sampler("300M", "evolutionary")
