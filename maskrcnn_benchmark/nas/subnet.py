"""Cut one path out of supernet weights.

Key mapping (see modeling/backbone/detnas.py): a supernet key `<prefix>blocks.<i>.<c>.<rest>` becomes
`<prefix>blocks.<i>.<rest>` when c == arch[i] and is dropped otherwise; every other key (the stem,
or anything outside the body when a prefix is given) is copied unchanged. The tensors are shared,
not copied.
"""

import re
from collections import OrderedDict

from .search_space import NUM_CHOICES


def _block_key_pattern(prefix):
    return re.compile(re.escape(prefix) + r"blocks\.(\d+)\.(\d+)\.(.+)$")


def is_supernet_state_dict(state_dict, prefix=""):
    """True when the block keys carry a choice index (`blocks.<i>.<c>.`)."""
    pattern = _block_key_pattern(prefix)
    return any(pattern.match(k) for k in state_dict)


def extract_subnet(supernet_state_dict, arch, prefix=""):
    """State dict of the fixed body of `arch` (a sequence of ints) from supernet weights.

    `prefix` selects the body inside a larger state dict (e.g. "backbone.body."); keys outside it
    are kept as they are. Raises ValueError when arch does not fit the supernet's blocks.
    """
    pattern = _block_key_pattern(prefix)
    arch = tuple(int(c) for c in arch)
    present = {}
    for key in supernet_state_dict:
        m = pattern.match(key)
        if m:
            present.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not present:
        raise ValueError(
            f"no supernet block keys ('{prefix}blocks.<i>.<choice>.*') in the state "
            f"dict; is it a fixed-architecture state dict?"
        )
    num_blocks = max(present) + 1
    if len(arch) != num_blocks:
        raise ValueError(f"architecture has {len(arch)} entries but the supernet has {num_blocks} blocks")
    for i, c in enumerate(arch):
        if not 0 <= c < NUM_CHOICES:
            raise ValueError(f"architecture entry {i} is {c}; expected an int in 0..{NUM_CHOICES - 1}")
        if c not in present.get(i, ()):
            raise ValueError(
                f"supernet state dict has no weights for block {i} choice {c} "
                f"(choices present: {sorted(present.get(i, ()))})"
            )
    out = OrderedDict()
    for key, value in supernet_state_dict.items():
        m = pattern.match(key)
        if m is None:
            out[key] = value
        elif int(m.group(2)) == arch[int(m.group(1))]:
            out[f"{prefix}blocks.{m.group(1)}.{m.group(3)}"] = value
    return out
