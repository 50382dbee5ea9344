"""Packing weights into PaddleHub modules: `paddle-electra hub pack` copies a converted or fine-tuned
model directory into a module's assets/, or writes a new module directory (module.py from the one
template, `module_source`, which also made the 17 committed hub_modules/)."""

import os
import re
import shutil

from paddle_electra.hub.module import read_weights_config
from paddle_electra.runtime.export import load_model
from paddle_electra.sources.paddlehub_modules import declared_name
from paddle_electra.sources.zoo import MODELS
from paddle_electra.utils.cache import staged

MODULE_TEMPLATE = '''"""A paddle-electra model as a PaddleHub module: see `summary` below.

Behaviour: paddle_electra.hub.ElectraHubModule. Weights: assets/ (`paddle-electra hub pack`).
"""
from paddlehub.module.module import moduleinfo

from paddle_electra.hub import ElectraHubModule


@moduleinfo(
    name={name!r},
    version={version!r},
    summary={summary!r},
    author='paddle-electra',
    author_email='',
    type='nlp/semantic_model',
)
class {class_name}(ElectraHubModule):
    """A PaddleHub module (tasks: None, seq-cls, token-cls, text-matching, reading-comprehension)."""
'''
# Module names as PaddleHub installs them: they become directory names and module.py constants.
MODULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def check_module_name(name):
    if not isinstance(name, str) or not MODULE_NAME.fullmatch(name):
        raise ValueError(
            f"invalid module name {name!r}: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return name


def module_source(name, summary, version="1.0.0"):
    """module.py of a module named `name` (the same template for the zoo's and users' modules).
    Every value is a Python literal (repr) and the class name is made of letters and digits only,
    so no name or summary can put code into the file."""
    check_module_name(name)
    class_name = "".join(part.capitalize() for part in re.split(r"[^0-9a-z]+", name) if part)
    if class_name[0].isdigit():
        class_name = "Module" + class_name
    return MODULE_TEMPLATE.format(
        name=name, summary=str(summary), version=str(version), class_name=class_name
    )


def zoo_summary(entry):
    d = entry.discriminator
    return (
        f"ELECTRA discriminator ({entry.family}), {d.num_hidden_layers}-layer, {d.hidden_size}-hidden, "
        f"{d.num_attention_heads}-heads, {entry.parameters('discriminator') / 1e6:.0f}M parameters"
    )


def _copy_files(source, directory):
    os.makedirs(directory, exist_ok=True)
    for file in os.listdir(source):
        if os.path.isfile(os.path.join(source, file)):
            shutil.copy2(os.path.join(source, file), directory)


def pack(weights, module_dir=None, name=None, out=None):
    """Copy a converted or fine-tuned model directory into a module's assets/.

    Either `module_dir` (an existing module, e.g. hub_modules/chinese_electra_base: the weights must
    have its zoo architecture), or `name` + `out` (a new module directory for any model). Returns
    the module directory. Raises ValueError with the fix on bad input; writes nothing then.
    """
    config = read_weights_config(weights, name or module_dir).copy() if os.path.isdir(weights) else None
    if config is None:
        raise ValueError(
            f"{weights} is not a model directory: "
            "pass the output of `paddle-electra convert` or a fine-tuned model"
        )
    if name is not None:
        check_module_name(name)
    if module_dir:
        if not os.path.isfile(os.path.join(module_dir, "module.py")):
            raise ValueError(
                f"{module_dir} has no module.py: pass a directory of hub_modules/, or use --name and --out"
            )
        entry = MODELS.get(declared_name(module_dir))
        if entry is not None:
            mismatch = entry.architecture_mismatch(config)
            if mismatch:
                raise ValueError(
                    f"{weights} is not {entry.name}'s architecture {mismatch}: "
                    f"convert the {entry.name} release"
                )
        target = module_dir
    else:
        if not name or not out:
            raise ValueError("pass --module DIR, or --name NAME and --out DIR")
        target = out
    if module_dir:  # the new assets/ replace the old ones whole
        with staged(os.path.join(module_dir, "assets"), exists="replace", protect=[weights]) as tmp:
            load_model(
                weights
            )  # the weights load (not truncated, shapes as config.json says): LoadError otherwise
            _copy_files(weights, tmp)
    else:
        with staged(out, exists="error", protect=[weights], hint="choose another --out") as tmp:
            load_model(weights)
            _copy_files(weights, os.path.join(tmp, "assets"))
            summary = f"ELECTRA model packed from {os.path.basename(os.path.abspath(weights))}"
            with open(os.path.join(tmp, "module.py"), "w", encoding="utf-8") as f:
                f.write(module_source(name, summary))
    return target
