"""Step schedule with a warm-up, stepped once per iteration."""

from bisect import bisect_right

from torch.optim.lr_scheduler import LRScheduler


class WarmupMultiStepLR(LRScheduler):
    """lr = base_lr * warmup(it) * gamma ** (number of milestones <= it).

    warmup(it) rises from `warmup_factor` to 1 over `warmup_iters` iterations, linearly or as a
    constant `warmup_factor` ("constant").
    """

    def __init__(
        self,
        optimizer,
        milestones,
        gamma=0.1,
        warmup_factor=1.0 / 3,
        warmup_iters=500,
        warmup_method="linear",
        last_epoch=-1,
    ):
        milestones = list(milestones)
        if milestones != sorted(milestones):
            raise ValueError(f"SOLVER.STEPS must be increasing, got {milestones}")
        if warmup_method not in ("constant", "linear"):
            raise ValueError(f"SOLVER.WARMUP_METHOD must be 'constant' or 'linear', got '{warmup_method}'")
        self.milestones = milestones
        self.gamma = gamma
        self.warmup_factor = warmup_factor
        self.warmup_iters = warmup_iters
        self.warmup_method = warmup_method
        super().__init__(optimizer, last_epoch)

    def _factor(self, it):
        warmup = 1.0
        if it < self.warmup_iters:
            if self.warmup_method == "constant":
                warmup = self.warmup_factor
            else:
                alpha = it / self.warmup_iters
                warmup = self.warmup_factor * (1 - alpha) + alpha
        return warmup * self.gamma ** bisect_right(self.milestones, it)

    def get_lr(self):
        f = self._factor(self.last_epoch)
        return [base_lr * f for base_lr in self.base_lrs]
