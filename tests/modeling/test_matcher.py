import pytest
import torch

from maskrcnn_benchmark.modeling.matcher import Matcher


def test_docstring_example():
    quality = torch.tensor([[0.9, 0.4, 0.1, 0.0], [0.0, 0.2, 0.2, 0.5]])
    assert Matcher(0.7, 0.3)(quality).tolist() == [0, -2, -1, -2]
    assert Matcher(0.7, 0.3, allow_low_quality_matches=True)(quality).tolist() == [0, -2, -1, 1]


def test_thresholds_are_inclusive_at_the_lower_bound():
    quality = torch.tensor([[0.3, 0.7, 0.2999]])
    assert Matcher(0.7, 0.3)(quality).tolist() == [-2, 0, -1]


def test_low_quality_ties_all_promoted_with_their_own_best_gt():
    # gt 0's best quality 0.4 is reached by predictions 0 and 2 (a tie); prediction 2 overlaps
    # gt 1 more (0.45) and keeps gt 1, as in maskrcnn-benchmark.
    quality = torch.tensor([[0.4, 0.1, 0.4, 0.0], [0.0, 0.3, 0.45, 0.0]])
    matcher = Matcher(0.7, 0.3, allow_low_quality_matches=True)
    assert matcher(quality).tolist() == [0, -2, 1, -1]
    assert Matcher(0.7, 0.3)(quality).tolist() == [-2, -2, -2, -1]


def test_gt_without_overlap_promotes_nothing():
    quality = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.8, 0.0]])
    assert Matcher(0.7, 0.3, True)(quality).tolist() == [-1, 1, -1]


def test_no_ground_truth_all_background():
    out = Matcher(0.5, 0.4, True)(torch.zeros(0, 5))
    assert out.dtype == torch.int64 and out.tolist() == [-1] * 5


def test_bad_thresholds():
    with pytest.raises(ValueError, match="low_threshold 0.8 > high_threshold 0.5"):
        Matcher(0.5, 0.8)
