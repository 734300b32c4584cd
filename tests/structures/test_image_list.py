import pytest
import torch

from maskrcnn_benchmark.structures.image_list import ImageList, to_image_list


def test_pads_to_max_and_to_multiple():
    a = torch.rand(3, 30, 41)
    b = torch.rand(3, 50, 20)
    il = to_image_list([a, b], size_divisible=32)
    assert il.tensors.shape == (2, 3, 64, 64)
    assert il.image_sizes == [(30, 41), (50, 20)]
    assert torch.equal(il.tensors[0, :, :30, :41], a)
    assert torch.equal(il.tensors[1, :, :50, :20], b)
    assert il.tensors[0, :, 30:].abs().sum() == 0 and il.tensors[0, :, :, 41:].abs().sum() == 0
    assert il.tensors[1, :, 50:].abs().sum() == 0 and il.tensors[1, :, :, 20:].abs().sum() == 0
    il0 = to_image_list([a, b])
    assert il0.tensors.shape == (2, 3, 50, 41)


def test_exact_multiple_not_padded_further():
    il = to_image_list([torch.rand(3, 64, 32)], size_divisible=32)
    assert il.tensors.shape == (1, 3, 64, 32)


def test_tensor_inputs():
    x = torch.rand(2, 3, 20, 30)
    il = to_image_list(x)
    assert il.tensors is x and il.image_sizes == [(20, 30), (20, 30)]
    il = to_image_list(x, size_divisible=16)
    assert il.tensors.shape == (2, 3, 32, 32) and torch.equal(il.tensors[:, :, :20, :30], x)
    il = to_image_list(torch.rand(3, 7, 9))
    assert il.tensors.shape == (1, 3, 7, 9) and il.image_sizes == [(7, 9)]
    assert to_image_list(il) is il
    assert len(il) == 1


def test_dtype_kept_and_to():
    il = to_image_list([torch.ones(3, 2, 2, dtype=torch.float64)], 4)
    assert il.tensors.dtype == torch.float64
    il2 = il.to("cpu")
    assert il2.image_sizes == il.image_sizes and torch.equal(il2.tensors, il.tensors)


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one"):
        to_image_list([])
    with pytest.raises(ValueError, match=r"image 1 must be a \[C, H, W\]"):
        to_image_list([torch.rand(3, 4, 4), torch.rand(4, 4)])
    with pytest.raises(ValueError, match="channel"):
        to_image_list([torch.rand(3, 4, 4), torch.rand(1, 4, 4)])
    with pytest.raises(TypeError):
        to_image_list("image")
    with pytest.raises(ValueError):
        ImageList(torch.rand(2, 3, 4, 4), [(4, 4)])
