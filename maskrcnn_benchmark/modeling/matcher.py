"""Assigning each prediction (anchor or proposal) to at most one ground-truth box."""

import torch


class Matcher:
    """Matches predictions to ground truth by a quality matrix (IoU).

    Given `match_quality_matrix` [M ground truths, N predictions], each prediction gets the index of
    the ground truth it overlaps most, or a negative sentinel:

    - `BELOW_LOW_THRESHOLD` (-1): best quality < `low_threshold` (a negative / background),
    - `BETWEEN_THRESHOLDS` (-2): `low_threshold` <= best quality < `high_threshold` (ignored).

    With `allow_low_quality_matches`, every prediction that attains some ground truth's highest
    quality (all of them, when several tie) keeps its best match even below `high_threshold`, so
    each ground truth has at least one positive. That prediction keeps its *own* best ground truth,
    which is not necessarily the one it was promoted for (as in maskrcnn-benchmark/Detectron).
    Ground truths that overlap nothing (highest quality 0) promote no prediction: every prediction
    ties at 0 for such a box, and promoting all of them would make every anchor positive.

    Worked example, high=0.7, low=0.3, 2 ground truths x 4 predictions:

        quality = [[0.9, 0.4, 0.1, 0.0],      best per prediction: 0.9 0.4 0.2 0.5
                   [0.0, 0.2, 0.2, 0.5]]      argmax:              0   0   1   1
        without low-quality matches -> [0, -2, -1, -2]
        with them                   -> [0, -2, -1,  1]   (prediction 3 is gt 1's best, 0.5)

    No ground truth at all gives -1 for every prediction.
    """

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(self, high_threshold, low_threshold, allow_low_quality_matches=False):
        if low_threshold > high_threshold:
            raise ValueError(f"Matcher: low_threshold {low_threshold} > high_threshold {high_threshold}")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix):
        """[M, N] quality -> [N] int64: a ground-truth index in 0..M-1 or a negative sentinel."""
        num_gt, num_pred = match_quality_matrix.shape
        if num_gt == 0:
            return torch.full(
                (num_pred,), self.BELOW_LOW_THRESHOLD, dtype=torch.int64, device=match_quality_matrix.device
            )
        matched_vals, matches = match_quality_matrix.max(dim=0)
        if self.allow_low_quality_matches:
            best_matches = matches.clone()
        matches[matched_vals < self.low_threshold] = self.BELOW_LOW_THRESHOLD
        between = (matched_vals >= self.low_threshold) & (matched_vals < self.high_threshold)
        matches[between] = self.BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            self._restore_low_quality_matches(matches, best_matches, match_quality_matrix)
        return matches

    @staticmethod
    def _restore_low_quality_matches(matches, best_matches, match_quality_matrix):
        highest_per_gt = match_quality_matrix.max(dim=1, keepdim=True).values
        attains_highest = (match_quality_matrix == highest_per_gt) & (highest_per_gt > 0)
        promoted = attains_highest.any(dim=0)
        matches[promoted] = best_matches[promoted]
