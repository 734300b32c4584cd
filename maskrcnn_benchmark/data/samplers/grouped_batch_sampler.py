"""Batches whose images all come from one group (e.g. landscape vs portrait), to limit padding."""

from torch.utils.data.sampler import BatchSampler, Sampler


class GroupedBatchSampler(BatchSampler):
    """Wrap `sampler` so that each batch holds indices of a single group.

    Every index the sampler yields is used exactly once per pass. Each group's indices are taken in
    the sampler's order and cut into consecutive batches of `batch_size`; the batches are then
    yielded in the order of their first index in the sampler's sequence, which keeps the overall
    order as close to the sampler's as grouping allows. A group's last batch may be short; with
    `drop_uneven` such batches are dropped.

    Example (batch_size 2): sampler order 0 1 2 3 4 5 with groups a a b a b b gives
    batches [0, 1] [2, 4] [3] [5] (the short ones dropped with `drop_uneven`).
    """

    def __init__(self, sampler, group_ids, batch_size, drop_uneven=False):
        if not isinstance(sampler, Sampler) and not hasattr(sampler, "__iter__"):
            raise ValueError(f"sampler should be an iterable of indices, got {sampler!r}")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        self.sampler = sampler
        self.group_ids = [int(g) for g in group_ids]
        self.batch_size = batch_size
        self.drop_uneven = drop_uneven
        self._batches = None

    def _prepare_batches(self):
        indices = list(self.sampler)
        by_group = {}
        for position, idx in enumerate(indices):
            if not 0 <= idx < len(self.group_ids):
                raise IndexError(f"sampler yielded index {idx}, but group_ids covers {len(self.group_ids)} items")
            by_group.setdefault(self.group_ids[idx], []).append((position, idx))
        batches = []
        for members in by_group.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                if self.drop_uneven and len(chunk) < self.batch_size:
                    continue
                batches.append(chunk)
        batches.sort(key=lambda chunk: chunk[0][0])
        return [[idx for _, idx in chunk] for chunk in batches]

    def _epoch(self):
        return getattr(self.sampler, "epoch", None)

    def __iter__(self):
        # __len__ has to draw the sampler's order; reuse that draw once so both agree (unless the
        # sampler moved to another epoch in between).
        if self._batches is not None and self._batches[0] == self._epoch():
            batches = self._batches[1]
        else:
            batches = self._prepare_batches()
        self._batches = None
        return iter(batches)

    def __len__(self):
        if self._batches is None or self._batches[0] != self._epoch():
            self._batches = (self._epoch(), self._prepare_batches())
        return len(self._batches[1])
