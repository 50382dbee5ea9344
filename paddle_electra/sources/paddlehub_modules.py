"""Installed PaddleHub modules as a source of weights, read from disk as PaddleHub lays them out
(without importing paddlehub: the hub layer is the only code that does).

`hub install` puts a module named `chinese-electra-base` under `$HUB_HOME/modules/chinese_electra_base/`
(HUB_HOME defaults to ~/.paddlehub); ours keep their weights in its `assets/`. A module's name is the
`name=` of the `@moduleinfo` decorator in its module.py, read by parsing the file, never by running it.
"""

import ast
import os

from paddle_electra.utils.errors import PaddleElectraError

# The files of a model directory (`paddle-electra convert`, `finetune`, `hub pack`) besides its weights.
MODEL_FILES = ("config.json", "vocab.txt", "tokenizer_config.json")
WEIGHT_FILES = ("model.safetensors", "model_state.pdparams")


class ModuleError(PaddleElectraError, RuntimeError):
    """A module directory or name that does not hold what is needed; the message names the fix."""


def modules_home():
    """Where PaddleHub installs modules: $HUB_HOME/modules (HUB_HOME default ~/.paddlehub)."""
    return os.path.join(
        os.environ.get("HUB_HOME") or os.path.join(os.path.expanduser("~"), ".paddlehub"), "modules"
    )


def declared_name(module_dir):
    """The name a module.py declares in @moduleinfo (parsed as PaddleHub parses it, not run)."""
    try:
        with open(os.path.join(module_dir, "module.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        decorators = [d for node in tree.body if isinstance(node, ast.ClassDef) for d in node.decorator_list]
        for decorator in decorators:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "moduleinfo":
                names = [
                    k.value
                    for k in decorator.keywords
                    if k.arg == "name" and isinstance(k.value, ast.Constant)
                ]
                if names and isinstance(names[0].value, str):
                    return names[0].value
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError) as e:
        raise ModuleError(
            f"{module_dir}/module.py cannot be read ({type(e).__name__}): pass a module directory"
        ) from None
    raise ModuleError(f"{module_dir}/module.py declares no @moduleinfo name: pass a module directory")


def check_model_dir(directory, name):
    """`directory` holds a complete model (config, vocab, tokenizer config and weights), else ModuleError."""
    missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(directory, f))]
    if missing or not any(os.path.isfile(os.path.join(directory, f)) for f in WEIGHT_FILES):
        raise ModuleError(
            f"module {name} has no weights in {directory}: "
            "run `paddle-electra hub pack --weights CONVERTED_DIR --module "
            f"<this module's directory>` (CONVERTED_DIR from `paddle-electra convert`)"
        )
    return directory


def installed_module_weights(name):
    """The weights directory (assets/) of the installed module `name`, so a hub name can be fine-tuned."""
    module_dir = os.path.join(modules_home(), name.replace("-", "_"))
    if not os.path.isfile(os.path.join(module_dir, "module.py")) or declared_name(module_dir) != name:
        raise ModuleError(
            f"{name!r} is neither a model directory nor an installed PaddleHub module: pass a directory, "
            "or `hub install` it"
        )
    return check_model_dir(os.path.join(module_dir, "assets"), name)
