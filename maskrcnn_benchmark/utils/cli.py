"""Command lines with --flags and KEY VALUE config overrides in any order.

argparse's REMAINDER swallows every token after the first override, so a flag typed after the
overrides (`train_net.py --config-file F SOLVER.MAX_ITER 10 --skip-test`) became part of them. Here
the tokens are split first: a token starting with "-" is a flag (with as many values as its action
takes), anything else is an override KEY followed by its VALUE, which may itself start with "-".
"""

import re

OVERRIDES_EPILOG = (
    "KEY VALUE config overrides (e.g. SOLVER.MAX_ITER 100) may come before, between "
    "or after the flags; `--` ends the flags."
)
_NUMBER = re.compile(r"^-\d|^-\.\d")
_KEY_LIKE = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$")


def config_key_predicate(cfg):
    """is_key for a yacs tree: True for a dotted name present in `cfg`."""

    def is_key(token):
        node = cfg
        for part in token.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    return is_key


def _is_flag(token):
    return token.startswith("-") and token != "-" and not _NUMBER.match(token)


def _action(parser, name):
    actions = parser._option_string_actions
    if name in actions:
        return actions[name]
    matches = [a for s, a in actions.items() if s.startswith(name) and s.startswith("--")]
    return matches[0] if len({id(a) for a in matches}) == 1 else None


def split_flags_and_overrides(parser, argv, is_key=None):
    """(flag tokens for `parser`, override tokens) of `argv`."""
    is_key = is_key or _KEY_LIKE.match
    flags, overrides = [], []
    i, n = 0, len(argv)
    while i < n:
        token = argv[i]
        if token == "--":
            overrides += argv[i + 1 :]
            break
        if not _is_flag(token):
            overrides += argv[i : i + 2]  # KEY and its VALUE, whatever the VALUE looks like
            i += 2
            continue
        flags.append(token)
        i += 1
        action = _action(parser, token.split("=", 1)[0])
        if action is None or "=" in token:
            continue  # unknown flags are left for argparse to report
        nargs = action.nargs
        if nargs is None:
            flags += argv[i : i + 1]
            i += 1
        elif isinstance(nargs, int):
            flags += argv[i : i + nargs]
            i += nargs
        elif nargs in ("?", "*", "+"):
            while i < n and not _is_flag(argv[i]) and not is_key(argv[i]):
                flags.append(argv[i])
                i += 1
                if nargs == "?":
                    break
    return flags, overrides


def parse_args_with_overrides(parser, argv=None, is_key=None):
    """`parser.parse_args` of the flags, with the overrides in `args.opts` (a list).

    `parser` must not declare the overrides itself. `is_key(token)` tells an override KEY from a
    value of a multi-value flag such as `--input a.jpg b.jpg MODEL.DEVICE cpu`; by default every
    upper-case dotted name counts as a key.
    """
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if parser.epilog is None:
        parser.epilog = OVERRIDES_EPILOG
    if "[KEY VALUE ...]" not in (parser.usage or ""):
        parser.usage = parser.format_usage().replace("usage: ", "", 1).rstrip() + " [KEY VALUE ...]"
    flags, overrides = split_flags_and_overrides(parser, argv, is_key)
    args = parser.parse_args(flags)
    args.opts = overrides
    return args
