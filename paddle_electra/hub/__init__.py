"""The PaddleHub layer: the only code of paddle-electra that imports paddlehub.

- `module.py`: `ElectraHubModule`, all behaviour of the modules in hub_modules/ (each module.py only
  names its model with `@moduleinfo` and imports it from here: `from paddle_electra.hub import
  ElectraHubModule`), drop-in for the official `chinese-electra-base/small` modules.
- `tasks.py`: what a module does for each PaddleHub task name (seq-cls, token-cls, ...).
- `serving.py`: PaddleHub's serving app with our request checks (`hub serving start`, `hub serve`).
- `pack.py`: weights into a module's assets/ (`paddle-electra hub pack`), the module.py template.
"""

from paddle_electra.hub.module import ElectraHubModule, RequestError
from paddle_electra.hub.pack import check_module_name, module_source, pack, zoo_summary
from paddle_electra.hub.serving import MAX_REQUEST_BYTES, MAX_REQUEST_TEXTS, load_module, serve, serving_app
from paddle_electra.hub.tasks import HUB_TASKS
from paddle_electra.sources.paddlehub_modules import declared_name as module_name

__all__ = [
    "ElectraHubModule",
    "RequestError",
    "HUB_TASKS",
    "pack",
    "module_source",
    "module_name",
    "check_module_name",
    "zoo_summary",
    "load_module",
    "serve",
    "serving_app",
    "MAX_REQUEST_BYTES",
    "MAX_REQUEST_TEXTS",
]
