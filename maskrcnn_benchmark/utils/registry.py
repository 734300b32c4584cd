"""Name -> builder maps, so a config string selects a module."""


class Registry(dict):
    """A dict that registers builders by name, as a decorator or a call.

        BACKBONES = Registry("backbone")

        @BACKBONES.register("R-50-FPN")
        def build_resnet_fpn(cfg): ...

    Looking up an unknown name raises a KeyError listing the known ones.
    """

    def __init__(self, kind, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def register(self, name, obj=None):
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(fn):
            self._add(name, fn)
            return fn

        return decorator

    def _add(self, name, obj):
        if name in self:
            raise KeyError(f"{self.kind} '{name}' is already registered")
        self[name] = obj

    def __missing__(self, name):
        known = ", ".join(sorted(self)) or "(none)"
        raise KeyError(f"unknown {self.kind} '{name}'; known: {known}")
