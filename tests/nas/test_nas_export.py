import pytest
import torch

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet
from maskrcnn_benchmark.nas import (
    CHANNEL_SPLIT,
    BackboneWeightsError,
    export_backbone,
    extract_subnet,
    load_backbone_weights,
)

ARCH = "FPN-300M"


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    return DetNASSupernet("300M")


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_fixed_roundtrip_and_meta(tmp_path):
    torch.manual_seed(1)
    src = DetNASBody("300M", ARCH)
    path = tmp_path / "fixed.pth"
    meta = export_backbone(path, src.state_dict(), "300M", ARCH, {"top1": 0.5, "iters": 10})
    raw = torch.load(path, weights_only=True)
    assert raw["meta"] == meta
    assert meta == {
        "kind": "detnas_backbone",
        "format_version": 1,
        "size": "300M",
        "arch": "21202112331300313132",
        "channel_split": CHANNEL_SPLIT,
        "top1": 0.5,
        "iters": 10,
    }
    torch.manual_seed(2)
    dst = DetNASBody("300M", ARCH)
    assert load_backbone_weights(dst, str(path)) == meta
    _assert_same_state(src, dst)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the atomic write left no temporary file


def test_supernet_export_converts_for_a_fixed_body(tmp_path, supernet):
    path = tmp_path / "supernet.pth"
    export_backbone(path, supernet.state_dict(), "300M", None)
    assert torch.load(path, weights_only=True)["meta"]["arch"] == "supernet"
    body = DetNASBody("300M", "RetinaNet-300M")
    load_backbone_weights(body, path)
    ref = extract_subnet(supernet.state_dict(), body.arch)
    for k, v in body.state_dict().items():
        assert torch.equal(v, ref[k]), k
    # and a supernet body takes the supernet file as is
    other = DetNASSupernet("300M")
    load_backbone_weights(other, torch.load(path, weights_only=True))
    _assert_same_state(supernet, other)


def test_frozen_bn_body_loads_bn_weights(tmp_path):
    src = DetNASBody("300M", ARCH)
    path = tmp_path / "w.pth"
    export_backbone(path, src.state_dict(), "300M", ARCH)
    dst = DetNASBody("300M", ARCH, norm="FrozenBN")
    load_backbone_weights(dst, path)
    assert torch.equal(dst.stem[1].running_var, src.stem[1].running_var)


def _export(tmp_path, state, arch=ARCH, size="300M"):
    path = tmp_path / "w.pth"
    export_backbone(path, state, size, arch)
    return path


def test_missing_key_is_an_error(tmp_path):
    state = DetNASBody("300M", ARCH).state_dict()
    del state["blocks.3.branch_main.4.weight"]
    body = DetNASBody("300M", ARCH)
    before = {k: v.clone() for k, v in body.state_dict().items()}
    with pytest.raises(BackboneWeightsError, match=r"missing in file: blocks\.3\.branch_main\.4"):
        load_backbone_weights(body, _export(tmp_path, state))
    for k, v in body.state_dict().items():  # nothing was loaded
        assert torch.equal(v, before[k])


def test_wrong_shape_is_an_error(tmp_path):
    state = DetNASBody("300M", ARCH).state_dict()
    state["stem.0.weight"] = torch.zeros(16, 3, 5, 5)
    with pytest.raises(BackboneWeightsError, match=r"shape mismatch: stem\.0\.weight \(file \(16, 3, 5, 5\), body"):
        load_backbone_weights(DetNASBody("300M", ARCH), _export(tmp_path, state))


def test_extra_key_is_an_error(tmp_path):
    state = DetNASBody("300M", ARCH).state_dict()
    state["fc.weight"] = torch.zeros(3, 3)
    with pytest.raises(BackboneWeightsError, match=r"not in the body: fc\.weight"):
        load_backbone_weights(DetNASBody("300M", ARCH), _export(tmp_path, state))


def test_size_and_arch_mismatch_errors(tmp_path, supernet):
    path = _export(tmp_path, DetNASBody("300M", ARCH).state_dict())
    big = DetNASBody("1.3G", "FPN-1.3G")
    with pytest.raises(BackboneWeightsError, match=r"size '300M', the body is size '1.3G'"):
        load_backbone_weights(big, path)
    with pytest.raises(BackboneWeightsError, match=r"architecture 2120.*the body is 2311"):
        load_backbone_weights(DetNASBody("300M", "RetinaNet-300M"), path)
    with pytest.raises(BackboneWeightsError, match="cannot initialise a supernet"):
        load_backbone_weights(DetNASSupernet("300M"), path)


def test_not_an_export_or_wrong_split(tmp_path):
    body = DetNASBody("300M", ARCH)
    with pytest.raises(BackboneWeightsError, match="not a DetNAS backbone export"):
        load_backbone_weights(body, {"model": body.state_dict()})
    path = _export(tmp_path, body.state_dict())
    ckpt = torch.load(path, weights_only=True)
    ckpt["meta"]["channel_split"] = "halves"
    with pytest.raises(BackboneWeightsError, match="channel split 'halves'"):
        load_backbone_weights(body, ckpt)


def test_export_argument_errors(tmp_path, supernet):
    body = DetNASBody("300M", ARCH)
    with pytest.raises(ValueError, match="arch=None exports a supernet"):
        export_backbone(tmp_path / "a.pth", body.state_dict(), "300M", None)
    with pytest.raises(ValueError, match="supernet's but arch"):
        export_backbone(tmp_path / "a.pth", supernet.state_dict(), "300M", ARCH)
    with pytest.raises(ValueError, match="reserved keys"):
        export_backbone(tmp_path / "a.pth", body.state_dict(), "300M", ARCH, {"size": "1.3G"})
    with pytest.raises(ValueError, match="extra_meta.obj is a object"):
        export_backbone(tmp_path / "a.pth", body.state_dict(), "300M", ARCH, {"obj": object()})
    with pytest.raises(ValueError, match="needs 20 entries"):
        export_backbone(tmp_path / "a.pth", body.state_dict(), "300M", [0] * 3)
    assert not (tmp_path / "a.pth").exists()
