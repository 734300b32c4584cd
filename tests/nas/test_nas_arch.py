import numpy as np
import pytest
import torch

from maskrcnn_benchmark.nas import (
    CHOICE_NAMES,
    NUM_CHOICES,
    RELEASED_ARCHS,
    SIZES,
    arch_to_str,
    get_search_space,
    parse_arch,
)

FPN_300M = "21202112331300313132"


def test_presets_match_the_paper():
    assert NUM_CHOICES == 4
    assert CHOICE_NAMES == ("shufflenet_3x3", "shufflenet_5x5", "shufflenet_7x7", "xception_3x3")
    s = SIZES["300M"]
    assert (s.blocks_per_stage, s.stem_channels, s.stage_channels) == ((4, 4, 8, 4), 16, (64, 160, 320, 640))
    s = SIZES["1.3G"]
    assert (s.blocks_per_stage, s.stem_channels, s.stage_channels) == ((8, 8, 16, 8), 48, (96, 240, 480, 960))
    s = SIZES["3.8G"]
    assert (s.blocks_per_stage, s.stem_channels, s.stage_channels) == ((8, 8, 16, 8), 72, (172, 432, 864, 1728))
    assert SIZES["300M"].num_blocks == 20 and SIZES["3.8G"].num_blocks == 40
    assert SIZES["300M"].stage_ends == (3, 7, 15, 19)
    specs = SIZES["300M"].block_specs()
    assert specs[0] == (16, 64, 2) and specs[1] == (64, 64, 1) and specs[4] == (64, 160, 2)
    with pytest.raises(Exception):
        SIZES["300M"].stem_channels = 3  # frozen


def test_unknown_size():
    with pytest.raises(ValueError, match="300M"):
        get_search_space("600M")


@pytest.mark.parametrize(
    "value",
    [
        FPN_300M,
        ",".join(FPN_300M),
        " 2, 1, 2, 0, 2, 1, 1, 2, 3, 3, 1, 3, 0, 0, 3, 1, 3, 1, 3, 2 ",
        "[2,1,2,0,2,1,1,2,3,3,1,3,0,0,3,1,3,1,3,2]",
        [int(c) for c in FPN_300M],
        tuple(int(c) for c in FPN_300M),
        np.array([int(c) for c in FPN_300M]),
        torch.tensor([int(c) for c in FPN_300M]),
        "FPN-300M",
        "DETNAS-COCO-FPN-300M",
    ],
)
def test_parse_arch_forms(value):
    arch = parse_arch(value, "300M")
    assert arch == tuple(int(c) for c in FPN_300M)
    assert all(type(c) is int for c in arch)
    assert arch_to_str(arch) == FPN_300M


def test_released_archs():
    assert arch_to_str(parse_arch("RetinaNet-300M", "300M")) == "23113213311133203333"
    big = "0031210203123320211320222131033313333333"
    assert arch_to_str(parse_arch("FPN-1.3G", "1.3G")) == big
    assert arch_to_str(parse_arch("FPN-3.8G", "3.8G")) == big
    for name, (size, arch) in RELEASED_ARCHS.items():
        assert len(arch) == SIZES[size].num_blocks, name


def test_parse_arch_wrong_length_names_expected_length():
    with pytest.raises(ValueError, match=r"size 1\.3G needs 40 entries.*got 20"):
        parse_arch(FPN_300M, "1.3G")
    with pytest.raises(ValueError, match="needs 20 entries"):
        parse_arch([0] * 21, "300M")


def test_parse_arch_bad_values_name_position():
    with pytest.raises(ValueError, match=r"entry 19 is 4"):
        parse_arch(FPN_300M[:-1] + "4", "300M")
    with pytest.raises(ValueError, match=r"entry 0 is -1"):
        parse_arch([-1] + [0] * 19, "300M")
    with pytest.raises(ValueError, match=r"entry 3 is 1.5"):
        parse_arch([0, 0, 0, 1.5] + [0] * 16, "300M")
    with pytest.raises(ValueError, match=r"entry 2 is True"):
        parse_arch([0, 0, True] + [0] * 17, "300M")
    with pytest.raises(ValueError, match=r"entry 1 is 'x'"):
        parse_arch("0,x" + ",0" * 18, "300M")
    with pytest.raises(ValueError, match="digit string of length 20"):
        parse_arch("FPN-600M", "300M")
    with pytest.raises(ValueError, match="leading zeros"):
        parse_arch(21202112331300313132, "300M")
    with pytest.raises(ValueError, match="released for size 300M, not 1.3G"):
        parse_arch("FPN-300M", "1.3G")
    with pytest.raises(ValueError, match="sequence of ints"):
        parse_arch(None, "300M")


def test_arch_to_str_rejects_bad_values():
    assert arch_to_str((0, 3, 2, 1)) == "0321"
    with pytest.raises(ValueError, match="entry 1 is 4"):
        arch_to_str((0, 4))
