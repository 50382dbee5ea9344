"""Serving a module over HTTP with PaddleHub's own app (`hub serving start -m NAME`, and
`paddle-electra hub serve`, which runs the same app on 127.0.0.1 unless told otherwise).

PaddleHub's server answers every failure with HTTP 200 and status "101". When a process serves one
of our modules (it asks the module for `serving_func_name`), `check_served_requests` puts our checks
on PaddleHub's app, once: a malformed request to one of our modules gets HTTP 400 with the reason
as JSON (413 beyond MAX_REQUEST_BYTES), at most MAX_REQUEST_TEXTS items per request; requests to
other modules pass unchanged. Building a module changes nothing in PaddleHub.
"""

import os

from paddle_electra.hub.module import ElectraHubModule, RequestError

_SERVING_KEYS = {"data", "max_seq_len", "batch_size", "use_gpu"}
MAX_REQUEST_BYTES = 4 << 20  # a served request's JSON body
MAX_REQUEST_TEXTS = 1024  # items in a served request's `data`


def check_served_requests():
    """PaddleHub's server answers every failure with HTTP 200 and status "101", a body that is not
    a JSON object (`null`) with 200 and "112", and JSON nested too deep with a 500 HTML page. Patch
    its Flask app and predict function once so that a malformed request to one of our modules gets
    HTTP 400 (413 when larger than MAX_REQUEST_BYTES) with the reason, as JSON."""
    from paddlehub.serving import app_compat

    original = app_compat.predict_v2
    if getattr(original, "paddle_electra", False):
        return

    def predict_v2(module_info, inputs):
        module = module_info.get("module")
        if isinstance(module, ElectraHubModule):
            try:
                if not isinstance(inputs, dict) or set(inputs) - _SERVING_KEYS or "data" not in inputs:
                    raise RequestError(
                        "the JSON body must be an object with 'data' and optionally "
                        f"{sorted(_SERVING_KEYS - {'data'})}"
                    )
                if isinstance(inputs["data"], list) and len(inputs["data"]) > MAX_REQUEST_TEXTS:
                    raise RequestError(
                        f"at most {MAX_REQUEST_TEXTS} items per request, "
                        f"got {len(inputs['data'])}: split the request"
                    )
                module._check_request(
                    inputs["data"], inputs.get("max_seq_len", 128), inputs.get("batch_size", 1)
                )
            except RequestError as e:
                return app_compat.package_result("400", str(e), ""), 400
        return original(module_info, inputs)

    class Flask(app_compat.Flask):
        """PaddleHub's app (made after the modules, so this class is in place), with the body of
        requests to our modules read and checked before PaddleHub reads it."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
            self.before_request(_check_served_body)

    predict_v2.paddle_electra = True
    app_compat.predict_v2 = predict_v2
    app_compat.Flask = Flask


def _check_served_body():
    from flask import request
    from paddlehub.serving.app_compat import package_result
    from paddlehub.serving.model_service.base_model_service import v2_module_info
    from werkzeug.exceptions import HTTPException

    name = (request.view_args or {}).get("module_name")
    if (
        request.method != "POST"
        or name not in v2_module_info.modules
        or not isinstance(v2_module_info.get_module(name), ElectraHubModule)
    ):
        return None
    try:
        body = request.get_json(force=True)  # cached: PaddleHub's own `request.json` gets this
    except HTTPException as e:  # 413: larger than MAX_REQUEST_BYTES; 400: not JSON
        return package_result(
            str(e.code), f"{e.name}: the body must be a JSON object of at most {MAX_REQUEST_BYTES} bytes", ""
        ), e.code
    except RecursionError:
        return package_result(
            "400", "the JSON body is nested too deeply: send {'data': [[text], ...]}", ""
        ), 400
    if not isinstance(body, dict):
        return package_result(
            "400", f"the JSON body must be an object with 'data', got {type(body).__name__}", ""
        ), 400
    return None


def serving_app(module):
    """PaddleHub's serving Flask app for one module instance (what `hub serving start -m NAME`
    runs), with our request checks; `paddle-electra hub serve` runs it on loopback by default."""
    from paddlehub.serving import app_compat

    check_served_requests()
    app_compat.config_with_file(
        {
            module.name: {
                "module": module,
                "method_name": module.serving_func_name,
                "predict_args": {},
                "version": module.version,
                "category": "NLP",
                "name": module.name,
            }
        }
    )
    return app_compat.create_app(init_flag=True)


def load_module(module, task=None):
    """An installed module (by name) or a module directory, built for `task`."""
    import paddlehub

    where = {"directory": module} if os.path.isdir(module) else {"name": module}
    return paddlehub.Module(**where, task=task)


def serve(module, host="127.0.0.1", port=8866):
    """Serve `module` (a built module) with PaddleHub's app on host:port, one request at a time
    (PaddleHub's development server)."""
    print(f"serving {module.name} on http://{host}:{port}/predict/{module.name}", flush=True)
    serving_app(module).run(host=host, port=port, threaded=False)
