"""The DetNAS search space: block choices and the three size presets.

An architecture is a sequence of ints, one per choice block, each an index into `CHOICE_NAMES`.
Every stage starts with a stride-2 block; the stem (3x3 stride-2 conv, no max-pool) puts the four
stage outputs at strides 4, 8, 16 and 32.
"""

from dataclasses import dataclass

CHOICE_NAMES = ("shufflenet_3x3", "shufflenet_5x5", "shufflenet_7x7", "xception_3x3")
NUM_CHOICES = len(CHOICE_NAMES)
# Depthwise kernel of each choice; it is also the kernel of the projection branch of a stride-2 unit.
CHOICE_KERNELS = (3, 5, 7, 3)

# How a stride-1 unit splits its input: ShuffleNetV2's channel shuffle folded into the split, so
# the even channels pass through untouched and the odd channels go through the branch; the output is
# cat(passed, branch). Recorded in exported checkpoints so weights are never used under another rule.
CHANNEL_SPLIT = "interleaved_even_passthrough"


@dataclass(frozen=True)
class SearchSpace:
    """One size preset: the layout that the architecture code fills in."""

    name: str
    blocks_per_stage: tuple
    stem_channels: int
    stage_channels: tuple
    choice_names: tuple = CHOICE_NAMES

    @property
    def num_blocks(self):
        return sum(self.blocks_per_stage)

    @property
    def num_choices(self):
        return len(self.choice_names)

    @property
    def stage_ends(self):
        """Index of the last block of each stage (its output is C2..C5)."""
        ends, total = [], 0
        for n in self.blocks_per_stage:
            total += n
            ends.append(total - 1)
        return tuple(ends)

    def block_specs(self):
        """(in_channels, out_channels, stride) of every choice block, in order."""
        specs, in_ch = [], self.stem_channels
        for n, out_ch in zip(self.blocks_per_stage, self.stage_channels):
            for j in range(n):
                specs.append((in_ch, out_ch, 2 if j == 0 else 1))
                in_ch = out_ch
        return tuple(specs)


SIZES = {
    "300M": SearchSpace("300M", (4, 4, 8, 4), 16, (64, 160, 320, 640)),
    "1.3G": SearchSpace("1.3G", (8, 8, 16, 8), 48, (96, 240, 480, 960)),
    "3.8G": SearchSpace("3.8G", (8, 8, 16, 8), 72, (172, 432, 864, 1728)),
}


def get_search_space(size):
    """The preset for a size name ("300M", "1.3G", "3.8G"); a SearchSpace is returned as is."""
    if isinstance(size, SearchSpace):
        return size
    try:
        return SIZES[size]
    except (KeyError, TypeError):
        raise ValueError(f"unknown DetNAS size {size!r}; expected one of {sorted(SIZES)}") from None
