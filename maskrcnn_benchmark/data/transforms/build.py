"""The input pipeline of a config: resize, (flip), to tensor, normalise."""
from .transforms import Compose, Normalize, RandomHorizontalFlip, Resize, ToTensor


def build_transforms(cfg, is_train=True):
    if is_train:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN
        flip_prob = cfg.INPUT.HORIZONTAL_FLIP_PROB_TRAIN
    else:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        flip_prob = 0.0
    return Compose([
        Resize(min_size, max_size),
        RandomHorizontalFlip(flip_prob),
        ToTensor(),
        Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD, to_bgr255=cfg.INPUT.TO_BGR255),
    ])
