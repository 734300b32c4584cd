from .detectors import build_detection_model
