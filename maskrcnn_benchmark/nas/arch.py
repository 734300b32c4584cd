"""Architecture codes: parsing, printing and the architectures released with DetNAS.

An architecture is a tuple of ints in 0..NUM_CHOICES-1, one per choice block of a size preset. It is
written as a digit string ("21202112331300313132"), which is also its key in messages and in
checkpoint metadata.
"""

from numbers import Integral

from .search_space import NUM_CHOICES, get_search_space


def _digits(s):
    return tuple(int(c) for c in s)


# name -> (size, architecture), as released with the paper (FPN-1.3G and FPN-3.8G share the code).
RELEASED_ARCHS = {
    "FPN-300M": ("300M", _digits("21202112331300313132")),
    "RetinaNet-300M": ("300M", _digits("23113213311133203333")),
    "FPN-1.3G": ("1.3G", _digits("0031210203123320211320222131033313333333")),
    "FPN-3.8G": ("3.8G", _digits("0031210203123320211320222131033313333333")),
}
# Prefixes under which a released name may also be written (the backbone registry names).
_NAME_PREFIXES = ("DETNAS-COCO-", "COCO-")


def released_arch_name(name):
    """The RELEASED_ARCHS key for `name` ("FPN-300M", "COCO-FPN-300M", "DETNAS-COCO-FPN-300M"), or
    None when it is not a released name."""
    if not isinstance(name, str):
        return None
    for prefix in _NAME_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name if name in RELEASED_ARCHS else None


def _split_string(value, expected_len):
    text = value.strip().strip("[]()").strip()
    if "," in text:
        items = [t.strip() for t in text.split(",")]
        if items and items[-1] == "":  # tolerate a trailing comma
            items.pop()
    elif text.isdigit():
        items = list(text)
    else:
        raise ValueError(
            f"cannot parse architecture {value!r}: expected a released name "
            f"({', '.join(sorted(RELEASED_ARCHS))}), a digit string of length {expected_len}, or "
            f"comma-separated ints"
        )
    out = []
    for pos, item in enumerate(items):
        if not item.lstrip("-").isdigit():
            raise ValueError(f"architecture {value!r}: entry {pos} is {item!r}, not an int in 0..{NUM_CHOICES - 1}")
        out.append(int(item))
    return out


def parse_arch(value, size):
    """Architecture for size preset `size` as a tuple of ints.

    `value`: a list/tuple of ints, a digit string ("2120..."), a comma string ("2,1,2,0,..."), or a
    released name ("FPN-300M"; "DETNAS-COCO-FPN-300M" also works). Raises ValueError naming the
    expected length for the size, or the offending position and value.
    """
    space = get_search_space(size)
    n = space.num_blocks
    if isinstance(value, str):
        name = released_arch_name(value.strip())
        if name is not None:
            released_size, arch = RELEASED_ARCHS[name]
            if released_size != space.name:
                raise ValueError(f"architecture {value!r} was released for size {released_size}, not {space.name}")
            return arch
        items = _split_string(value, n)
    elif isinstance(value, bool) or isinstance(value, Integral):
        raise ValueError(
            f"architecture {value!r} is a single int; write it as a digit string (an "
            f"int loses leading zeros) or a list of {n} ints"
        )
    else:
        try:
            items = list(value)
        except TypeError:
            raise ValueError(
                f"architecture must be a string or a sequence of ints, got {type(value).__name__}"
            ) from None
    if len(items) != n:
        raise ValueError(
            f"architecture for size {space.name} needs {n} entries (blocks per stage "
            f"{space.blocks_per_stage}), got {len(items)}: {value!r}"
        )
    arch = []
    for pos, c in enumerate(items):
        choice = _as_int(c)
        if choice is None or not 0 <= choice < NUM_CHOICES:
            raise ValueError(f"architecture entry {pos} is {c!r}; expected an int in 0..{NUM_CHOICES - 1}")
        arch.append(choice)
    return tuple(arch)


def arch_to_str(arch):
    """Digit-string form of an architecture: (2, 1, 0) -> "210"; a digit string is checked and kept.
    The one encoder of architectures: keys, logs, messages and file names all use it."""
    if isinstance(arch, str):
        arch = [int(c) if c.isascii() and c.isdigit() else c for c in arch]
    out = []
    for pos, c in enumerate(arch):
        choice = _as_int(c)
        if choice is None or not 0 <= choice < NUM_CHOICES:
            raise ValueError(f"architecture entry {pos} is {c!r}; expected an int in 0..{NUM_CHOICES - 1}")
        out.append(str(choice))
    return "".join(out)


def _as_int(c):
    """c as an int if it is an integer value (int, numpy/torch integer scalar), else None."""
    if isinstance(c, bool):
        return None
    if isinstance(c, Integral):
        return int(c)
    if hasattr(c, "dtype") and getattr(c, "ndim", None) == 0 and not c.dtype.is_floating_point:
        return int(c)  # 0-dim integer torch tensor
    return None
