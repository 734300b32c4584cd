"""RoIAlign (He et al., Mask R-CNN): bilinear average pooling of each RoI into a fixed grid."""

from torch import nn

from ._ops import ops, pair_of_positive_ints


def roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned=False):
    """Pools `input[N, C, H, W]` inside `rois[K, 5]` (batch_index, x1, y1, x2, y2) into `[K, C, h, w]`.

    `spatial_scale` maps RoI coordinates to the feature map (e.g. 1/16). `sampling_ratio` bilinear samples per
    bin and axis; `<= 0` picks ceil(roi_size / output_size) per RoI. `aligned=True` shifts the RoI by half a
    pixel so pixel centres are at +0.5 (the Detectron2 convention); False is the original Mask R-CNN one.
    Same results as `torchvision.ops.roi_align`.
    """
    pooled_height, pooled_width = pair_of_positive_ints("roi_align", "output_size", output_size)
    return ops.roi_align(
        input, rois, float(spatial_scale), pooled_height, pooled_width, int(sampling_ratio), bool(aligned)
    )


class ROIAlign(nn.Module):
    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = pair_of_positive_ints("ROIAlign", "output_size", output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self):
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )
