"""Registries of the pluggable parts of a detector, filled by the modules that define them."""

from maskrcnn_benchmark.utils.registry import Registry

BACKBONES = Registry("backbone (MODEL.BACKBONE.CONV_BODY)")
RPN_HEADS = Registry("RPN head (MODEL.RPN.RPN_HEAD)")
ROI_BOX_FEATURE_EXTRACTORS = Registry("box feature extractor (MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR)")
ROI_BOX_PREDICTOR = Registry("box predictor (MODEL.ROI_BOX_HEAD.PREDICTOR)")
ROI_MASK_FEATURE_EXTRACTORS = Registry("mask feature extractor (MODEL.ROI_MASK_HEAD.FEATURE_EXTRACTOR)")
ROI_MASK_PREDICTOR = Registry("mask predictor (MODEL.ROI_MASK_HEAD.PREDICTOR)")
