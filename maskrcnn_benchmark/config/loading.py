"""Building a frozen config from the defaults, a yaml file and command-line overrides."""

import os

from .defaults import _C


class ConfigError(ValueError):
    """A config file or override names a key or value the tree does not accept."""


def load_config(config_file="", opts=(), base=None):
    """Return a frozen clone of the defaults merged with `config_file` and then `opts`.

    `opts` is the flat `KEY VALUE KEY VALUE ...` list of the command line. Unknown keys and values of
    the wrong type raise `ConfigError` naming the file or the override, never a half-merged config.
    """
    cfg = (base if base is not None else _C).clone()
    cfg.defrost()
    if config_file:
        if not os.path.isfile(config_file):
            raise ConfigError(f"config file not found: {config_file}")
        try:
            with open(config_file) as f:
                loaded = cfg.load_cfg(f)
            _refuse_removed(_flat_keys(loaded), f"config file {config_file}")
            _normalize_flexible(loaded, f"{config_file}: ")
            cfg.merge_from_other_cfg(loaded)
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"in config file {config_file}: {_reason(e)}") from None
    opts = list(opts or ())
    if len(opts) % 2:
        raise ConfigError(f"overrides must come as KEY VALUE pairs, got an odd list: {opts}")
    _refuse_removed([str(k) for k in opts[0::2]], "command-line overrides")
    opts = _normalize_flexible_opts(opts)
    opts = _keep_strings(cfg, opts)
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, TypeError, AssertionError) as e:
        raise ConfigError(f"in command-line overrides {opts}: {_reason(e)}") from None
    cfg.freeze()
    return cfg


# Keys that existed once and what replaces them: a config that still sets one gets told what to write.
REMOVED_KEYS = {
    "MODEL.FPN.USE_GN": "MODEL.FPN.NORM: GN",
    "MODEL.ROI_BOX_HEAD.USE_GN": "MODEL.ROI_BOX_HEAD.NORM: GN",
    "MODEL.ROI_MASK_HEAD.USE_GN": "MODEL.ROI_MASK_HEAD.NORM: GN",
    "MODEL.ROI_MASK_HEAD.POSTPROCESS_MASKS": "nothing (it was never read: masks are pasted into the image at evaluation)",
    "MODEL.ROI_MASK_HEAD.POSTPROCESS_MASKS_THRESHOLD": "nothing (it was never read: the evaluation pastes masks at threshold 0.5)",
    "TEST.EXPECTED_RESULTS": "nothing (compare tools/test_net.py's metrics.json yourself)",
    "TEST.EXPECTED_RESULTS_SIGMA_TOL": "nothing (compare tools/test_net.py's metrics.json yourself)",
}


def _flat_keys(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _refuse_removed(keys, where):
    for key in keys:
        if key in REMOVED_KEYS:
            raise ConfigError(f"in {where}: {key} no longer exists; use {REMOVED_KEYS[key]}")


def _flexible():
    # Keys taking a bool or a word; stored as the canonical word.
    from maskrcnn_benchmark.engine.amp import normalize_amp

    return {"SOLVER.AMP": normalize_amp}


def _normalize_flexible(node, where):
    for key, normalize in _flexible().items():
        *path, leaf = key.split(".")
        parent = node
        for part in path:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and leaf in parent:
            try:
                parent[leaf] = normalize(parent[leaf], key)
            except ValueError as e:
                raise ConfigError(f"{where}{e}") from None


def _normalize_flexible_opts(opts):
    from yacs.config import CfgNode

    out = list(opts)
    for i in range(0, len(out), 2):
        normalize = _flexible().get(str(out[i]))
        if normalize is not None:
            try:
                out[i + 1] = normalize(CfgNode._decode_cfg_value(out[i + 1]), out[i])
            except ValueError as e:
                raise ConfigError(f"in command-line overrides: {e}") from None
    return out


def _keep_strings(cfg, opts):
    """Quote overrides of string keys, so `MODEL.BACKBONE.ARCH 21202112331300313132` stays a string
    instead of being read as an int by yacs's literal_eval."""
    out = list(opts)
    for i in range(0, len(out), 2):
        key, value = out[i], out[i + 1]
        node = cfg
        for part in str(key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and isinstance(value, str) and not _is_quoted(value):
            out[i + 1] = repr(value)
    return out


def _is_quoted(value):
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""


def _reason(e):
    return e.args[0] if e.args else repr(e)
