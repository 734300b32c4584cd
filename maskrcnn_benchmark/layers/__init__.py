from .batch_norm import FrozenBatchNorm2d
from .misc import make_conv3x3, make_fc, make_norm, smooth_l1_loss
from .nms import batched_nms, nms
from .roi_align import ROIAlign, roi_align
from .roi_pool import ROIPool, roi_pool
from .sigmoid_focal_loss import SigmoidFocalLoss, sigmoid_focal_loss
