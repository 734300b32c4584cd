"""The meta-architecture: backbone -> proposals (RPN or RetinaNet) -> optional ROI heads."""

from torch import nn

from maskrcnn_benchmark.structures.image_list import to_image_list


class GeneralizedRCNN(nn.Module):
    """forward(images, targets=None, arch=None).

    images: an ImageList or a list of [3, H, W] tensors (batched and padded to a multiple of
    `size_divisible`). Training: targets (BoxLists with "labels", and "masks" for Mask R-CNN) are
    required and a dict of scalar losses is returned. Inference: a list of BoxLists per image in
    input coordinates, with "scores" and "labels" (and "mask"), or the RPN's proposals with
    "objectness" for an RPN-only model. `arch` selects the path of a supernet backbone
    (`backbone.is_supernet`), which requires one; other backbones take none.
    """

    def __init__(self, backbone, rpn, roi_heads=None, size_divisible=0):
        super().__init__()
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.size_divisible = size_divisible

    def forward(self, images, targets=None, arch=None):
        if self.training and targets is None:
            raise ValueError("GeneralizedRCNN in training mode needs targets")
        images, features = self.backbone_features(images, arch)
        proposals, proposal_losses = self.rpn(images, features, targets)
        if self.roi_heads is not None:
            _, result, detector_losses = self.roi_heads(features, proposals, targets)
        else:
            result, detector_losses = proposals, {}
        if self.training:
            return {**detector_losses, **proposal_losses}
        return result

    def backbone_features(self, images, arch=None):
        """(the batched ImageList, the backbone's feature maps): the first part of forward()."""
        images = to_image_list(images, self.size_divisible)
        return images, self.backbone(images.tensors, **self._backbone_kwargs(arch))

    def _backbone_kwargs(self, arch):
        if getattr(self.backbone, "is_supernet", False):
            if arch is None:
                raise ValueError(
                    "the backbone is a supernet (MODEL.BACKBONE.CONV_BODY ends in "
                    "'-search'): pass arch=(one choice per block) to the model"
                )
            return {"arch": tuple(arch)}
        if arch is not None:
            raise ValueError(
                f"arch={arch!r} was given but the backbone is not a supernet; a "
                f"fixed architecture is chosen by MODEL.BACKBONE.ARCH"
            )
        return {}
