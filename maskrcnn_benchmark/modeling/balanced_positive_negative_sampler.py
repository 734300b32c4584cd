"""Drawing a fixed-size training sample of positives and negatives per image."""

import torch


class BalancedPositiveNegativeSampler:
    """Samples up to `batch_size_per_image` elements per image, at most `positive_fraction` of them
    positive; negatives fill the rest of the sample when there are too few positives.

    Draws come from torch's global generator (or `generator`), so a seed fixes them.
    """

    def __init__(self, batch_size_per_image, positive_fraction, generator=None):
        if not 0.0 <= positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must lie in [0, 1], got {positive_fraction}")
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.generator = generator

    def __call__(self, labels_per_image):
        """labels_per_image: list of [N_i] tensors, >= 1 positive, 0 negative, < 0 ignored.

        Returns two lists of [N_i] bool masks: the sampled positives and the sampled negatives.
        """
        pos_masks, neg_masks = [], []
        for labels in labels_per_image:
            positive = torch.nonzero(labels >= 1).squeeze(1)
            negative = torch.nonzero(labels == 0).squeeze(1)
            num_pos = min(int(self.batch_size_per_image * self.positive_fraction), positive.numel())
            num_neg = min(self.batch_size_per_image - num_pos, negative.numel())
            pos_masks.append(self._mask(labels, positive, num_pos))
            neg_masks.append(self._mask(labels, negative, num_neg))
        return pos_masks, neg_masks

    def _mask(self, labels, candidates, count):
        chosen = candidates[
            torch.randperm(candidates.numel(), device=candidates.device, generator=self.generator)[:count]
        ]
        mask = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
        mask[chosen] = True
        return mask
