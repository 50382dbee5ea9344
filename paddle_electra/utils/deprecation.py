"""Old module paths kept for one release: `paddle_electra.inference` and friends, from before the
package was laid out in sub-packages. Importing one warns once (DeprecationWarning naming the new
path) and gives the names of the new modules."""

import importlib
import warnings


def moved(old, new, modules):
    """Module-level `__getattr__` for the old module `old`: each name is looked up in `modules` (the
    new homes, in order). Warns at import, naming `new`, the path to use instead."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: import from {new} instead",
        DeprecationWarning,
        stacklevel=3,
    )

    def __getattr__(name):
        for module in modules:
            module = importlib.import_module(module)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {new})")

    return __getattr__
