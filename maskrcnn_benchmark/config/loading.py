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
            cfg.merge_from_file(config_file)
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"in config file {config_file}: {_reason(e)}") from None
    opts = list(opts or ())
    if len(opts) % 2:
        raise ConfigError(f"overrides must come as KEY VALUE pairs, got an odd list: {opts}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, TypeError, AssertionError) as e:
        raise ConfigError(f"in command-line overrides {opts}: {_reason(e)}") from None
    cfg.freeze()
    return cfg


def _reason(e):
    return e.args[0] if e.args else repr(e)
