"""The input pipeline of a config: resize, (flips, 90-degree rotation), to tensor, normalise."""

from .transforms import Compose, Normalize, RandomHorizontalFlip, RandomRotate90, RandomVerticalFlip, Resize, ToTensor


def build_transforms(cfg, is_train=True):
    if is_train:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN
        flip_prob = cfg.INPUT.HORIZONTAL_FLIP_PROB_TRAIN
        vflip_prob = cfg.INPUT.VERTICAL_FLIP_PROB_TRAIN
        rot_prob = cfg.INPUT.ROTATE90_PROB_TRAIN
    else:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        flip_prob = vflip_prob = rot_prob = 0.0
    for key, p in (
        ("HORIZONTAL_FLIP_PROB_TRAIN", flip_prob),
        ("VERTICAL_FLIP_PROB_TRAIN", vflip_prob),
        ("ROTATE90_PROB_TRAIN", rot_prob),
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"INPUT.{key} must be a probability in [0, 1], got {p}")
    steps = [Resize(min_size, max_size), RandomHorizontalFlip(flip_prob)]
    # Added only when asked for: each takes a random draw, which would change existing runs.
    if vflip_prob > 0:
        steps.append(RandomVerticalFlip(vflip_prob))
    if rot_prob > 0:
        steps.append(RandomRotate90(rot_prob))
    return Compose(
        steps
        + [
            ToTensor(),
            Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD, to_bgr255=cfg.INPUT.TO_BGR255),
        ]
    )
