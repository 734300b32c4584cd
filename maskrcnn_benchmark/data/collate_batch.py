"""Turn a list of dataset items into the batch the detector takes."""

from maskrcnn_benchmark.structures.image_list import to_image_list


class BatchCollator:
    """[(image, target, idx), ...] -> (ImageList padded to `size_divisible`, targets, indices)."""

    def __init__(self, size_divisible=0):
        self.size_divisible = size_divisible

    def __call__(self, batch):
        images, targets, indices = zip(*batch)
        return to_image_list(list(images), self.size_divisible), tuple(targets), tuple(indices)
