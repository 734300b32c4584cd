"""Loads a script of tools/ as a module, for the tests of the tool scripts."""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the scripts import their helpers as tools.benchmarking; the tests import them the same way
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def tool_path(name):
    return os.path.join(ROOT, "tools", name + ".py")


def load_tool(name):
    """tools/<name>.py as a fresh module (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, tool_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
