"""The DETNAS-* detector backbones built from a config."""

import pytest
import torch

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet
from maskrcnn_benchmark.modeling.registry import BACKBONES
from maskrcnn_benchmark.nas import arch_to_str


def build(name, *opts):
    cfg = load_config("", ["MODEL.BACKBONE.CONV_BODY", name, "MODEL.BACKBONE.FREEZE_CONV_BODY_AT", 0, *opts])
    return BACKBONES[name](cfg)


@pytest.mark.parametrize(
    "name,arch",
    [
        ("DETNAS-COCO-FPN-300M", "21202112331300313132"),
        ("DETNAS-COCO-RetinaNet-300M", "23113213311133203333"),
    ],
)
def test_fixed_backbones_use_the_released_arch(name, arch):
    torch.manual_seed(0)
    bb = build(name)
    assert isinstance(bb.body, DetNASBody) and not bb.is_supernet
    assert arch_to_str(bb.body.arch) == arch and bb.out_channels == 256
    outs = bb(torch.randn(1, 3, 128, 128))
    sizes = [o.shape[-1] for o in outs]
    if "RetinaNet" in name:
        assert sizes == [16, 8, 4, 2, 1]  # P3..P7
    else:
        assert sizes == [32, 16, 8, 4, 2]  # P2..P6
    assert all(o.shape[1] == 256 for o in outs)


def test_bigger_presets_register_with_their_widths():
    for name, size, c5 in [("DETNAS-COCO-FPN-1.3G", "1.3G", 960), ("DETNAS-COCO-FPN-3.8G", "3.8G", 1728)]:
        with torch.device("meta"):
            bb = build(name)
        assert bb.body.size == size and bb.body.stage_out_channels[-1] == c5


def test_search_names_build_supernets():
    torch.manual_seed(0)
    bb = build("DETNAS-COCO-FPN-300M-search", "MODEL.BACKBONE.NORM", "SyncBN")
    assert bb.is_supernet and isinstance(bb.body, DetNASSupernet)
    outs = bb(torch.randn(1, 3, 64, 64), arch=(0,) * 20)
    assert len(outs) == 5
    assert "DETNAS-COCO-RetinaNet-300M-search" in BACKBONES
    assert "DETNAS-COCO-FPN-3.8G-search" in BACKBONES


def test_arch_override_and_errors():
    bb = build("DETNAS-COCO-FPN-300M", "MODEL.BACKBONE.ARCH", "RetinaNet-300M")
    assert arch_to_str(bb.body.arch) == "23113213311133203333"
    # (yacs reads "2120..." or "2,1,..." on a command line as an int / tuple; a leading 0 or quotes
    # keep it a string)
    bb = build("DETNAS-COCO-FPN-300M", "MODEL.BACKBONE.ARCH", "0123" + "0" * 16)
    assert bb.body.arch[:4] == (0, 1, 2, 3)
    bb = build("DETNAS-COCO-FPN-300M", "MODEL.BACKBONE.ARCH", "'21202112331300313130'")
    assert bb.body.arch[-1] == 0
    with pytest.raises(ValueError, match=r"MODEL.BACKBONE.ARCH .*needs 20 entries"):
        build("DETNAS-COCO-FPN-300M", "MODEL.BACKBONE.ARCH", "0123")


def test_norm_and_freeze_from_config():
    cfg = load_config(
        "",
        [
            "MODEL.BACKBONE.CONV_BODY",
            "DETNAS-COCO-FPN-300M",
            "MODEL.BACKBONE.NORM",
            "FrozenBN",
            "MODEL.BACKBONE.FREEZE_CONV_BODY_AT",
            2,
        ],
    )
    bb = BACKBONES["DETNAS-COCO-FPN-300M"](cfg)
    assert bb.body.norm == "FrozenBN"
    frozen = {n.split(".")[0] + "." + n.split(".")[1] for n, p in bb.body.named_parameters() if not p.requires_grad}
    assert frozen == {"stem.0", "blocks.0", "blocks.1", "blocks.2", "blocks.3"}
    with pytest.raises(ValueError, match="freeze_at"):
        DetNASBody("300M", "FPN-300M", freeze_at=6)
