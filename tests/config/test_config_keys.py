"""Every key of the defaults is read somewhere, and removed keys are refused with their replacement."""

import os
import re

import pytest

from maskrcnn_benchmark.config import ConfigError, load_config
from maskrcnn_benchmark.config.defaults import _C
from maskrcnn_benchmark.config.loading import REMOVED_KEYS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READERS = ("maskrcnn_benchmark", "tools", "demo", "distributed_arch_search", "Supernet-ImageNet")


def leaf_keys(node, prefix=()):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, prefix + (key,))
        else:
            yield prefix + (key,)


def reader_source():
    """The Python source that could read a config key, without the file that defines them."""
    chunks = []
    for top in READERS:
        for folder, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                path = os.path.join(folder, name)
                if name.endswith(".py") and not path.endswith(os.path.join("config", "defaults.py")):
                    with open(path, encoding="utf-8") as f:
                        chunks.append(f.read())
    return "\n".join(chunks)


def test_every_default_key_is_read_somewhere():
    # A key is read as an attribute (cfg.X.LEAF, or head.LEAF through a sub-node) or by name ("LEAF").
    source = reader_source()
    unread = [
        ".".join(path)
        for path in leaf_keys(_C)
        if not re.search(r"""(\.|["'])""" + re.escape(path[-1]) + r"""\b""", source)
    ]
    assert not unread, f"config keys nothing reads (remove them, or list them in REMOVED_KEYS): {unread}"


def test_removed_keys_are_not_defaults():
    keys = {".".join(p) for p in leaf_keys(_C)}
    assert not keys & set(REMOVED_KEYS)


@pytest.mark.parametrize("key", sorted(REMOVED_KEYS))
def test_a_removed_key_is_refused_with_its_replacement(key, tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{key} no longer exists; use {REMOVED_KEYS[key]}")):
        load_config("", [key, "1"])
    *parents, leaf = key.split(".")
    text = "".join(f"{'  ' * i}{p}:\n" for i, p in enumerate(parents)) + f"{'  ' * len(parents)}{leaf}: 1\n"
    path = tmp_path / "old.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(path))}: {re.escape(key)} no longer"):
        load_config(str(path))
