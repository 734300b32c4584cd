from .batch_norm import FrozenBatchNorm2d
from .misc import make_conv3x3, make_fc, make_norm, smooth_l1_loss
