from .defaults import default_config
from .loading import ConfigError, load_config

__all__ = ["ConfigError", "default_config", "load_config"]
