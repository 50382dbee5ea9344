"""The package's layout is its map: sub-packages follow the data path and imports point one way.

Layers, lowest first (a module may import its own layer and lower ones, never a higher one):

    utils < sources < models < paddle_electra_convert < tasks < runtime < training | pipelines | hub
    < serving < cli

`training`, `pipelines` and `hub` are siblings: none imports another. Only `hub` imports paddlehub.
The one allowed back-arrow is the lazy hop from name resolution into the converter
(`sources.pretrained` -> `paddle_electra_convert.download`), which turns a fetched Hub repo into a
model directory. Lazy imports inside functions count like top-level ones.
"""

import ast
import importlib
import os
import subprocess
import sys
import warnings

import pytest
from conftest import ROOT

LAYERS = {
    "utils": 0,
    "sources": 1,
    "models": 2,
    "paddle_electra": 2,  # the package face re-exports the models
    "convert": 3,
    "tasks": 4,
    "runtime": 5,
    "training": 6,
    "pipelines": 6,
    "hub": 6,
    "serving": 7,
    "cli": 8,
}
SIBLINGS = {"training", "pipelines", "hub"}
ALLOWED = {("paddle_electra.sources.pretrained", "paddle_electra_convert.download")}
# old module paths kept for one release (paddle_electra/<name>.py): they import lazily by name
DEPRECATED = {
    "inference": "paddle_electra.runtime",
    "correction": "paddle_electra.pipelines.correction",
    "finetune": "paddle_electra.training.finetune",
    "zoo": "paddle_electra.sources.zoo",
}


def _modules():
    """{module name: path} of every module of paddle_electra and paddle_electra_convert."""
    found = {}
    for package, folder in (("paddle_electra", "paddle_electra"), ("paddle_electra_convert", "convert")):
        for directory, _, files in os.walk(os.path.join(ROOT, folder)):
            for file in files:
                if file.endswith(".py"):
                    rel = os.path.relpath(os.path.join(directory, file), os.path.join(ROOT, folder))[:-3]
                    parts = [p for p in rel.split(os.sep) if p != "__init__"]
                    found[".".join([package, *parts])] = os.path.join(directory, file)
    return found


def _imports(name, path, top_level_only=False):
    """[(imported module, line)] of a module, relative imports resolved."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names] + [(base, node.lineno)]
    return found


def _layer(module):
    """The layer of one of our modules, or None for third-party ones."""
    parts = module.split(".")
    if parts[0] == "paddle_electra_convert":
        return "convert"
    if parts[0] != "paddle_electra":
        return None
    if len(parts) == 1 or parts[1] not in LAYERS:
        return "paddle_electra"  # the face, or an old path (a DeprecationWarning alias)
    return parts[1]


def _known(module, modules):
    """The longest prefix of `module` that is one of ours (an imported name is not a module)."""
    while module and module not in modules:
        module = module.rpartition(".")[0]
    return module


def test_imports_point_one_way():
    modules = _modules()
    problems = []
    for name, path in modules.items():
        here = _layer(name)
        if name.split(".")[-1] in DEPRECATED and name.count(".") == 1:
            continue
        for target, line in _imports(name, path):
            target = _known(target, modules)
            there = _layer(target) if target else None
            if there is None or there == here or (name, target) in ALLOWED:
                continue
            if LAYERS[there] > LAYERS[here] or (here in SIBLINGS and there in SIBLINGS):
                problems.append(f"{os.path.relpath(path, ROOT)}:{line}: {here} imports {there} ({target})")
    assert not problems, "imports against the layer order:\n" + "\n".join(sorted(set(problems)))


def test_the_rules_catch_a_back_arrow():
    """The checker itself: a tasks module importing the runtime, or training importing the hub, is flagged."""
    assert LAYERS[_layer("paddle_electra.runtime.predictor")] > LAYERS[_layer("paddle_electra.tasks.base")]
    assert {_layer("paddle_electra.training.finetune"), _layer("paddle_electra.hub.module")} <= SIBLINGS
    assert _layer("paddle_electra_convert.hf") == "convert" and _layer("paddlehub.module") is None
    assert _imports("paddle_electra.hub.serving", os.path.join(ROOT, "paddle_electra", "hub", "serving.py"))


def test_no_import_circle():
    """Module-level imports between our modules form no circle (a circle makes import order matter)."""
    modules = _modules()
    graph = {
        name: {
            t
            for t in (_known(t, modules) for t, _ in _imports(name, path, top_level_only=True))
            if t and t != name
        }
        for name, path in modules.items()
    }
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            cycle = trail[trail.index(node) :] + [node]
            pytest.fail("import circle: " + " -> ".join(cycle))
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            # a package imports its own modules in its __init__ (the face): not a circle through the package
            if not (node.startswith(nxt + ".") and nxt.count(".") >= 1):
                visit(nxt, trail + [node])
        state[node] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_only_the_hub_layer_imports_paddlehub():
    offenders = [
        f"{os.path.relpath(path, ROOT)}:{line}"
        for name, path in _modules().items()
        for target, line in _imports(name, path)
        if target.split(".")[0] == "paddlehub" and _layer(name) != "hub"
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("old", sorted(DEPRECATED))
def test_old_module_paths_warn_and_still_work(old):
    name = f"paddle_electra.{old}"
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=DEPRECATED[old].replace(".", r"\.")):
        module = importlib.import_module(name)
    wanted = {
        "inference": "Predictor",
        "correction": "SpellingCorrector",
        "finetune": "finetune",
        "zoo": "MODELS",
    }[old]
    new = importlib.import_module(DEPRECATED[old])
    assert getattr(module, wanted) is getattr(new, wanted)
    with pytest.raises(AttributeError, match="moved to"):
        module.no_such_name  # noqa: B018


def test_old_public_paths_that_are_now_packages_keep_their_names():
    """`paddle_electra.pipelines`, `.hub`, `.tasks` and `.cli` became sub-packages under the same
    names: what users imported from them is still there, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from paddle_electra.cli import build_parser, main  # noqa: F401
        from paddle_electra.pipelines import FillMask, ReplacedTokenDetection  # noqa: F401
        from paddle_electra.tasks import KINDS, PRESETS, TASK_NAMES, get_task  # noqa: F401
    from paddle_electra.hub import ElectraHubModule, module_source, pack  # noqa: F401


def test_every_error_class_has_the_one_base():
    from paddle_electra.cli.main import UsageError
    from paddle_electra.models.weights import LoadError
    from paddle_electra.pipelines.correction import ConfusionDataError
    from paddle_electra.runtime.export import InferenceError
    from paddle_electra.sources.fetch import FetchError, HubUnreachable
    from paddle_electra.sources.paddlehub_modules import ModuleError
    from paddle_electra.tasks.readers import DataError
    from paddle_electra.utils.cache import OutputError
    from paddle_electra.utils.errors import PaddleElectraError
    from paddle_electra_convert import ConversionError

    for cls in (
        UsageError,
        LoadError,
        ConfusionDataError,
        InferenceError,
        FetchError,
        HubUnreachable,
        ModuleError,
        DataError,
        OutputError,
        ConversionError,
    ):
        assert issubclass(cls, PaddleElectraError), cls
    # the built-in class each had before still catches it
    assert (
        issubclass(DataError, ValueError)
        and issubclass(FetchError, RuntimeError)
        and issubclass(LoadError, ValueError)
    )


def test_building_a_module_leaves_paddlehub_serving_alone(converted_shared, tmp_path):
    """A module's constructor changes nothing in PaddleHub; a serving process (which asks the module
    for `serving_func_name`) gets our request checks on PaddleHub's app. In a fresh process, so no
    earlier test has served."""
    from paddle_electra.hub import pack

    module_dir = pack(
        os.path.join(converted_shared, "discriminator"), name="layout-serving", out=str(tmp_path / "m")
    )
    code = (
        "import paddlehub\n"
        "from paddlehub.serving import app_compat\n"
        "before = (app_compat.predict_v2, app_compat.Flask)\n"
        f"module = paddlehub.Module(directory={module_dir!r})\n"
        "built = (app_compat.predict_v2, app_compat.Flask) == before\n"
        "name = module.serving_func_name\n"
        "ours = getattr(app_compat.predict_v2, 'paddle_electra', False)\n"
        "served = ours and app_compat.Flask is not before[1]\n"
        "print(built, served, name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-3:] == ["True", "True", "predict_method"], result.stdout
