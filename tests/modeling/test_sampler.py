import torch

from maskrcnn_benchmark.modeling.balanced_positive_negative_sampler import BalancedPositiveNegativeSampler


def test_proportions_and_fill_with_negatives():
    sampler = BalancedPositiveNegativeSampler(batch_size_per_image=10, positive_fraction=0.25)
    many_pos = torch.tensor([1] * 20 + [0] * 20 + [-1] * 5)
    few_pos = torch.tensor([2] * 1 + [0] * 30 + [-1] * 5)
    few_neg = torch.tensor([3] * 1 + [0] * 3 + [-1] * 5)
    pos, neg = sampler([many_pos, few_pos, few_neg])
    assert [int(p.sum()) for p in pos] == [2, 1, 1]  # int(10 * 0.25) = 2
    assert [int(n.sum()) for n in neg] == [8, 9, 3]
    for labels, p, n in zip([many_pos, few_pos, few_neg], pos, neg):
        assert p.dtype == torch.bool and p.shape == labels.shape
        assert (labels[p] >= 1).all() and (labels[n] == 0).all()
        assert not (p & n).any()


def test_deterministic_under_seed_and_varies_otherwise():
    sampler = BalancedPositiveNegativeSampler(64, 0.5)
    labels = torch.tensor([1] * 100 + [0] * 500)
    torch.manual_seed(3)
    a = sampler([labels])
    torch.manual_seed(3)
    b = sampler([labels])
    c = sampler([labels])
    assert torch.equal(a[0][0], b[0][0]) and torch.equal(a[1][0], b[1][0])
    assert not torch.equal(a[1][0], c[1][0])


def test_uniform_draw():
    # each of 10 positives should be drawn about half of the time when 5 are taken
    sampler = BalancedPositiveNegativeSampler(10, 0.5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([1] * 10 + [0] * 10)
    counts = sum(sampler([labels])[0][0].float() for _ in range(2000))
    assert ((counts[:10] / 2000 - 0.5).abs() < 0.05).all()
    assert counts[10:].sum() == 0
