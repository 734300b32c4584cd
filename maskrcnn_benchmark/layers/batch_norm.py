"""Batch normalisation with fixed statistics and affine parameters."""
import torch
import torch.nn.functional as F
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are buffers, never trained.

    Used in bodies initialised from ImageNet weights, where detection batches are too small to
    estimate statistics. The state dict has the keys of `nn.BatchNorm2d` (weight, bias, running_mean,
    running_var), so checkpoints load either way; a `num_batches_tracked` entry is accepted and
    dropped.
    """

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        # Inference-mode batch_norm is one fused pass over x (x * scale + shift would be two) and
        # still gives the gradient with respect to x.
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, momentum=0.0, eps=self.eps)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}"
