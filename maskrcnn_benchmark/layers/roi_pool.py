"""RoIPool (Girshick, Fast R-CNN): max pooling of each RoI, with rounded corners, into a fixed grid."""

from torch import nn

from ._ops import ops, pair_of_positive_ints


def roi_pool(input, rois, output_size, spatial_scale):
    """Max-pools `input[N, C, H, W]` inside `rois[K, 5]` (batch_index, x1, y1, x2, y2) into `[K, C, h, w]`.

    Same results as `torchvision.ops.roi_pool`; the gradient flows to the maximum of each bin.
    """
    pooled_height, pooled_width = pair_of_positive_ints("roi_pool", "output_size", output_size)
    output, _argmax = ops.roi_pool(input, rois, float(spatial_scale), pooled_height, pooled_width)
    return output


class ROIPool(nn.Module):
    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = pair_of_positive_ints("ROIPool", "output_size", output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self):
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
