"""Mask predictions: the detected class's probabilities (structures.mask_paste.Masker pastes them into
the image)."""

import torch

from maskrcnn_benchmark.modeling.utils import float32_at_least


class MaskPostProcessor:
    """Adds field "mask" [n, 1, M, M] to each image's detections: the sigmoid of the mask logits
    of the detection's own class (field "labels")."""

    def __call__(self, mask_logits, boxes):
        labels = torch.cat([b.get_field("labels") for b in boxes])
        index = torch.arange(labels.numel(), device=labels.device)
        probs = float32_at_least(mask_logits[index, labels][:, None]).sigmoid()
        results = []
        for box, prob in zip(boxes, probs.split([len(b) for b in boxes])):
            out = box.copy_with_fields(box.fields())
            out.add_field("mask", prob)
            results.append(out)
        return results


def make_roi_mask_post_processor(cfg):
    return MaskPostProcessor()
