"""The default configuration tree.

Every key a yaml file or a command line may set is declared here; yacs rejects any other key, so a
typo fails loudly instead of being ignored. Model code never reads this tree: the `build_*`/`make_*`
functions translate it into explicit constructor arguments.
"""

from yacs.config import CfgNode as CN

_C = CN()

# ---------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------
_C.MODEL = CN()
_C.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
_C.MODEL.RPN_ONLY = False
_C.MODEL.MASK_ON = False
_C.MODEL.RETINANET_ON = False
# "auto" picks cuda when a GPU is visible, else cpu.
_C.MODEL.DEVICE = "auto"
_C.MODEL.CLS_AGNOSTIC_BBOX_REG = False
# A checkpoint or exported backbone to start from ("" = random initialisation).
_C.MODEL.WEIGHT = ""

_C.MODEL.BACKBONE = CN()
# Registry name of the body (+ neck): "R-50-FPN", "R-18-FPN", "DETNAS-COCO-FPN-300M", ... A "-search"
# suffix on a DetNAS name builds the one-shot supernet instead of a fixed architecture.
_C.MODEL.BACKBONE.CONV_BODY = "R-50-FPN"
# k > 0 freezes the stem and the first k - 1 stages (2: stem + res2, maskrcnn-benchmark's default);
# 0 trains everything (the from-scratch BN/GN and DetNAS configs).
_C.MODEL.BACKBONE.FREEZE_CONV_BODY_AT = 2
# DetNAS architecture: a preset/released name, a digit string ("2120...") or a list of ints 0..3.
# Empty means the released architecture of the CONV_BODY name.
_C.MODEL.BACKBONE.ARCH = ""
# Normalisation inside DetNAS bodies: "BN", "SyncBN" or "FrozenBN".
_C.MODEL.BACKBONE.NORM = "BN"

_C.MODEL.RESNETS = CN()
_C.MODEL.RESNETS.NUM_GROUPS = 1
_C.MODEL.RESNETS.WIDTH_PER_GROUP = 64
_C.MODEL.RESNETS.STRIDE_IN_1X1 = True
_C.MODEL.RESNETS.TRANS_FUNC = "BottleneckWithFixedBatchNorm"
_C.MODEL.RESNETS.STEM_FUNC = "StemWithFixedBatchNorm"
_C.MODEL.RESNETS.RES5_DILATION = 1
# Output width of res2 in bottleneck bodies (R-50/101), doubled per stage; basic-block bodies
# (R-18/34) are WIDTH_PER_GROUP wide at res2 (64) and ignore it.
_C.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
_C.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
_C.MODEL.RESNETS.BACKBONE_OUT_CHANNELS = 256
# Normalisation of the ResNet body: "FrozenBN" (pretrained), "BN", "SyncBN" or "GN" (from scratch).
_C.MODEL.RESNETS.NORM = "FrozenBN"

_C.MODEL.FPN = CN()
_C.MODEL.FPN.USE_RELU = False
# Normalisation after FPN convs: "" (none), "BN", "SyncBN", "GN". DetNAS uses SyncBN.
_C.MODEL.FPN.NORM = ""

_C.MODEL.GROUP_NORM = CN()
_C.MODEL.GROUP_NORM.DIM_PER_GP = -1
_C.MODEL.GROUP_NORM.NUM_GROUPS = 32
_C.MODEL.GROUP_NORM.EPSILON = 1e-5

# ---------------------------------------------------------------------------------------------------
# RPN
# ---------------------------------------------------------------------------------------------------
_C.MODEL.RPN = CN()
_C.MODEL.RPN.USE_FPN = True
_C.MODEL.RPN.RPN_HEAD = "SingleConvRPNHead"
# One size per FPN level (P2..P6) when USE_FPN, absolute pixels.
_C.MODEL.RPN.ANCHOR_SIZES = (32, 64, 128, 256, 512)
_C.MODEL.RPN.ANCHOR_STRIDE = (4, 8, 16, 32, 64)
_C.MODEL.RPN.ASPECT_RATIOS = (0.5, 1.0, 2.0)
# Anchors further outside the image than this are ignored in training (-1 keeps all).
_C.MODEL.RPN.STRADDLE_THRESH = 0
_C.MODEL.RPN.FG_IOU_THRESHOLD = 0.7
_C.MODEL.RPN.BG_IOU_THRESHOLD = 0.3
_C.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
_C.MODEL.RPN.POSITIVE_FRACTION = 0.5
_C.MODEL.RPN.PRE_NMS_TOP_N_TRAIN = 2000
_C.MODEL.RPN.PRE_NMS_TOP_N_TEST = 1000
_C.MODEL.RPN.POST_NMS_TOP_N_TRAIN = 2000
_C.MODEL.RPN.POST_NMS_TOP_N_TEST = 1000
_C.MODEL.RPN.NMS_THRESH = 0.7
_C.MODEL.RPN.MIN_SIZE = 0
_C.MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN = 2000
_C.MODEL.RPN.FPN_POST_NMS_TOP_N_TEST = 1000
# maskrcnn-benchmark kept the top-N over the whole batch in training; we keep it per image unless
# this is set.
_C.MODEL.RPN.FPN_POST_NMS_PER_BATCH = False

# ---------------------------------------------------------------------------------------------------
# ROI heads
# ---------------------------------------------------------------------------------------------------
_C.MODEL.ROI_HEADS = CN()
_C.MODEL.ROI_HEADS.USE_FPN = True
_C.MODEL.ROI_HEADS.FG_IOU_THRESHOLD = 0.5
_C.MODEL.ROI_HEADS.BG_IOU_THRESHOLD = 0.5
_C.MODEL.ROI_HEADS.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
_C.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512
_C.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
_C.MODEL.ROI_HEADS.SCORE_THRESH = 0.05
_C.MODEL.ROI_HEADS.NMS = 0.5
_C.MODEL.ROI_HEADS.DETECTIONS_PER_IMG = 100

_C.MODEL.ROI_BOX_HEAD = CN()
_C.MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR = "FPN2MLPFeatureExtractor"
_C.MODEL.ROI_BOX_HEAD.PREDICTOR = "FPNPredictor"
_C.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
_C.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 2
_C.MODEL.ROI_BOX_HEAD.POOLER_SCALES = (0.25, 0.125, 0.0625, 0.03125)
_C.MODEL.ROI_BOX_HEAD.NUM_CLASSES = 81
_C.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM = 1024
_C.MODEL.ROI_BOX_HEAD.DILATION = 1
_C.MODEL.ROI_BOX_HEAD.CONV_HEAD_DIM = 256
_C.MODEL.ROI_BOX_HEAD.NUM_STACKED_CONVS = 4
# Normalisation in FPNXconv1fcFeatureExtractor convs: "", "BN", "SyncBN", "GN".
_C.MODEL.ROI_BOX_HEAD.NORM = ""

_C.MODEL.ROI_MASK_HEAD = CN()
_C.MODEL.ROI_MASK_HEAD.FEATURE_EXTRACTOR = "MaskRCNNFPNFeatureExtractor"
_C.MODEL.ROI_MASK_HEAD.PREDICTOR = "MaskRCNNC4Predictor"
_C.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = 14
_C.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO = 2
_C.MODEL.ROI_MASK_HEAD.POOLER_SCALES = (0.25, 0.125, 0.0625, 0.03125)
_C.MODEL.ROI_MASK_HEAD.CONV_LAYERS = (256, 256, 256, 256)
_C.MODEL.ROI_MASK_HEAD.RESOLUTION = 28
_C.MODEL.ROI_MASK_HEAD.SHARE_BOX_FEATURE_EXTRACTOR = False
_C.MODEL.ROI_MASK_HEAD.DILATION = 1
# Normalisation in the mask head convs: "", "BN", "SyncBN", "GN".
_C.MODEL.ROI_MASK_HEAD.NORM = ""

# ---------------------------------------------------------------------------------------------------
# RetinaNet
# ---------------------------------------------------------------------------------------------------
_C.MODEL.RETINANET = CN()
# Foreground classes + 1 (background), as ROI_BOX_HEAD.NUM_CLASSES.
_C.MODEL.RETINANET.NUM_CLASSES = 81
_C.MODEL.RETINANET.ANCHOR_SIZES = (32, 64, 128, 256, 512)
_C.MODEL.RETINANET.ASPECT_RATIOS = (0.5, 1.0, 2.0)
_C.MODEL.RETINANET.ANCHOR_STRIDES = (8, 16, 32, 64, 128)
_C.MODEL.RETINANET.STRADDLE_THRESH = 0
_C.MODEL.RETINANET.OCTAVE = 2.0
_C.MODEL.RETINANET.SCALES_PER_OCTAVE = 3
# P6 from C5 (True) or from P5 (False).
_C.MODEL.RETINANET.USE_C5 = True
_C.MODEL.RETINANET.NUM_CONVS = 4
_C.MODEL.RETINANET.BBOX_REG_WEIGHT = 4.0
_C.MODEL.RETINANET.BBOX_REG_BETA = 0.11
_C.MODEL.RETINANET.PRE_NMS_TOP_N = 1000
_C.MODEL.RETINANET.FG_IOU_THRESHOLD = 0.5
_C.MODEL.RETINANET.BG_IOU_THRESHOLD = 0.4
_C.MODEL.RETINANET.LOSS_ALPHA = 0.25
_C.MODEL.RETINANET.LOSS_GAMMA = 2.0
_C.MODEL.RETINANET.PRIOR_PROB = 0.01
_C.MODEL.RETINANET.INFERENCE_TH = 0.05
_C.MODEL.RETINANET.NMS_TH = 0.4

# ---------------------------------------------------------------------------------------------------
# One-shot supernet training (COCO fine-tuning and ImageNet)
# ---------------------------------------------------------------------------------------------------
_C.NAS = CN()
# Seed of the per-iteration path draw; rank 0 draws and broadcasts, so every rank trains one path.
_C.NAS.PATH_SEED = 0
# "uniform" (each block's choice uniform) or "flops_uniform" (uniform over FLOPs bins).
_C.NAS.SAMPLING = "uniform"
_C.NAS.FLOPS_BINS = 10
# Evaluating one path of a supernet: BN statistics are recomputed on a fixed, seeded subset of
# DATASETS.TRAIN[0] (the paper: 500 iterations x 8 images of the search-train split).
_C.NAS.BN_RECAL_IMAGES = 4000
_C.NAS.BN_RECAL_BATCH = 8
_C.NAS.BN_RECAL_SEED = 0

# ---------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------
_C.INPUT = CN()
# A tuple: one size is drawn per image (multi-scale training).
_C.INPUT.MIN_SIZE_TRAIN = (800,)
_C.INPUT.MAX_SIZE_TRAIN = 1333
_C.INPUT.MIN_SIZE_TEST = 800
_C.INPUT.MAX_SIZE_TEST = 1333
# BGR order, 0-255 scale (Caffe2 ResNet statistics by default; DetNAS uses mean 0 and std 1).
_C.INPUT.PIXEL_MEAN = [102.9801, 115.9465, 122.7717]
_C.INPUT.PIXEL_STD = [1.0, 1.0, 1.0]
_C.INPUT.TO_BGR255 = True
_C.INPUT.HORIZONTAL_FLIP_PROB_TRAIN = 0.5
# Aerial, medical and document images have no "up": top-bottom flips and 90-degree rotations
# (counter-clockwise; with both flips, every right-angle orientation) of image, boxes and masks.
_C.INPUT.VERTICAL_FLIP_PROB_TRAIN = 0.0
_C.INPUT.ROTATE90_PROB_TRAIN = 0.0

# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
_C.DATASETS = CN()
_C.DATASETS.TRAIN = ()
_C.DATASETS.TEST = ()
# A yaml file registering your own datasets by name: `my_train: {ann_file: a.json, image_root: imgs}`
# (paths relative to the file's folder). $DETNAS_DATASET_CATALOG names a second one.
_C.DATASETS.CATALOG = ""
# Images listed in an annotation file but not on disk stop the run at dataset construction (with
# their count and first names) unless this drops them with a warning.
_C.DATASETS.SKIP_MISSING_IMAGES = False

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4
# Batched images are padded to a multiple of this (32 for FPN).
_C.DATALOADER.SIZE_DIVISIBILITY = 0
_C.DATALOADER.ASPECT_RATIO_GROUPING = True

# ---------------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.MAX_ITER = 40000
_C.SOLVER.BASE_LR = 0.001
_C.SOLVER.BIAS_LR_FACTOR = 2.0
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.WEIGHT_DECAY = 0.0005
_C.SOLVER.WEIGHT_DECAY_BIAS = 0.0
# Weight decay of normalisation parameters (BN/GN weight and bias).
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.STEPS = (30000,)
_C.SOLVER.WARMUP_FACTOR = 1.0 / 3
_C.SOLVER.WARMUP_ITERS = 500
_C.SOLVER.WARMUP_METHOD = "linear"
_C.SOLVER.CHECKPOINT_PERIOD = 2500
_C.SOLVER.LOG_PERIOD = 20
# Images per batch over all processes (must be divisible by the number of processes).
_C.SOLVER.IMS_PER_BATCH = 16
# Mixed precision: True, False or auto (stored as "on", "off", "auto"). float16 autocast + GradScaler
# on CUDA, bfloat16 autocast on CPU; auto enables it on CUDA and on CPUs with native bf16
# (AVX512-BF16/AMX) only, where it is faster (see maskrcnn_benchmark/engine/amp.py).
_C.SOLVER.AMP = "off"
# Gradient-norm clipping (0 = off).
_C.SOLVER.CLIP_GRAD_NORM = 0.0

# ---------------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------------
_C.TEST = CN()
# Images per batch over all processes.
_C.TEST.IMS_PER_BATCH = 8
_C.TEST.DETECTIONS_PER_IMG = 100
# COCOeval implementation: "pycocotools" or "faster" (faster-coco-eval: the same 12 numbers, checked
# by tests/data/test_coco_eval_backends.py; tools/benchmark_coco_eval.py measures the speed-up).
_C.TEST.COCO_EVAL_BACKEND = "pycocotools"

# ---------------------------------------------------------------------------------------------------
# Misc
# ---------------------------------------------------------------------------------------------------
_C.OUTPUT_DIR = "."
_C.PATHS_CATALOG = "maskrcnn_benchmark.config.paths_catalog"
# Seed of weight initialisation and data order; -1 draws one from the clock.
_C.SEED = 0


def default_config():
    """A fresh, unfrozen copy of the defaults (the tree itself is never handed out to be changed)."""
    return _C.clone()
