"""A batch sampler that runs for a fixed number of iterations, pass after pass, and can resume."""

from torch.utils.data.sampler import BatchSampler


class IterationBasedBatchSampler(BatchSampler):
    """Yield batches of `batch_sampler` over and over until `num_iterations` batches in total.

    Pass p (counted from 0) first calls `set_epoch(p)` on the underlying sampler when it has one
    (torch's DistributedSampler), so every pass is a new, reproducible shuffle. With `start_iter`,
    the first `start_iter` batches of that same sequence are skipped without loading any data: a
    run resumed at iteration k sees exactly the batches an uninterrupted run sees from k on (given
    a sampler that is a function of its epoch, as DistributedSampler with a seed is).

    `len()` is `num_iterations`, the total, as the trainer counts iterations from `start_iter`
    to `len(data_loader)`; `num_iterations - start_iter` batches are yielded.
    """

    def __init__(self, batch_sampler, num_iterations, start_iter=0):
        if num_iterations < 0 or start_iter < 0:
            raise ValueError(f"num_iterations and start_iter must be >= 0, got {num_iterations} and {start_iter}")
        self.batch_sampler = batch_sampler
        self.num_iterations = int(num_iterations)
        self.start_iter = int(start_iter)

    def _set_epoch(self, epoch):
        sampler = getattr(self.batch_sampler, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def __iter__(self):
        iteration = 0
        epoch = 0
        while iteration < self.num_iterations:
            self._set_epoch(epoch)
            epoch += 1
            batches_in_pass = 0
            # Batches before start_iter are drawn (index lists only, cheap) but not yielded.
            for batch in self.batch_sampler:
                if iteration >= self.num_iterations:
                    return
                if iteration >= self.start_iter:
                    yield batch
                iteration += 1
                batches_in_pass += 1
            if batches_in_pass == 0:
                raise ValueError(
                    "IterationBasedBatchSampler: the batch sampler yields no batches "
                    "(fewer images than one batch with drop_uneven?)"
                )

    def __len__(self):
        return self.num_iterations
