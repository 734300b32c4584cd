"""The DetNAS search space in one place: presets, architecture codes, FLOPs, path sampling,
subnet extraction, BN recalibration and backbone export. The blocks themselves live in
`maskrcnn_benchmark.modeling.backbone.detnas`."""

from .arch import RELEASED_ARCHS, arch_to_str, parse_arch, released_arch_name
from .bn_recalibration import batch_norm_layers, recalibrate_bn
from .export import (
    EXPORT_KIND,
    FORMAT_VERSION,
    BackboneWeightsError,
    export_backbone,
    load_backbone_weights,
)
from .flops import block_flops, count_flops, flops_range, flops_table
from .path_sampling import SAMPLINGS, FlopsUniformPathSampler, UniformPathSampler, broadcast_arch, make_path_sampler
from .search_space import (
    CHANNEL_SPLIT,
    CHOICE_KERNELS,
    CHOICE_NAMES,
    NUM_CHOICES,
    SIZES,
    SearchSpace,
    get_search_space,
)
from .subnet import extract_subnet, is_supernet_state_dict
