"""`hub pack` and `hub serve`: PaddleHub modules. Only the handlers import the hub layer
(`paddle_electra.hub`), so that the other commands run without paddlehub."""

import os

from paddle_electra.cli.common import UsageError, model_dir
from paddle_electra.cli.options import add_model_option, add_output_option


def add_hub(sub):
    hub = sub.add_parser("hub", help="PaddleHub modules: pack weights into a module")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    pack = hub_sub.add_parser(
        "pack",
        help="copy a converted or fine-tuned model into a module's assets/",
        description="Fill a module's assets/ with a model directory (from `paddle-electra convert` or "
        "fine-tuning). --module hub_modules/NAME fills a zoo module (the weights must have its "
        "architecture); --name NAME --out DIR makes a new module for any model. Then: hub install DIR; "
        "hub.Module(name=NAME).",
    )
    pack.add_argument(
        "--weights", help="model directory: config.json, model.safetensors, vocab.txt, tokenizer_config.json"
    )
    add_model_option(
        pack,
        "model name instead of --weights: a zoo name (its discriminator) or Hub repo id, fetched "
        "and converted on first use; for modules that will be installed on machines without network",
    )
    pack.add_argument("--module", help="existing module directory, e.g. hub_modules/chinese_electra_base")
    pack.add_argument("--name", help="name of a new module, e.g. my-legal-electra")
    add_output_option(pack, "directory of the new module (with --name)")
    pack.set_defaults(func=_hub_pack)
    serve = hub_sub.add_parser(
        "serve",
        help="serve a module over HTTP, on loopback by default",
        description="The app `hub serving start -m NAME` runs "
        '(POST /predict/NAME with {"data": [[text], ...]}), on 127.0.0.1 by default: `hub serving start` '
        "itself listens on every interface (0.0.0.0). Malformed requests get HTTP 400 with the reason, "
        "bodies over 4 MiB 413; at most 1024 texts per request.",
    )
    serve.add_argument("module", help="installed module name, or a module directory")
    serve.add_argument("--task", help="task of the module (default: none, embeddings); e.g. seq-cls")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    serve.add_argument("--port", type=int, default=8866, help="port (default 8866, as hub serving)")
    serve.set_defaults(func=_hub_serve)


def _hub_pack(args):
    from paddle_electra.hub import pack

    try:
        if bool(args.weights) == bool(args.model):
            raise UsageError("pass either --weights DIR or --model NAME (a zoo name, fetched on first use)")
        weights = args.weights or model_dir(args.model)
        target = pack(weights, module_dir=args.module, name=args.name, out=args.out)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    print(
        f"packed {args.weights or args.model} into {os.path.join(target, 'assets')}; "
        f"install with: hub install {target}"
    )


def _hub_serve(args):
    from paddle_electra.hub import load_module, serve

    try:
        module = load_module(args.module, task=args.task)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    serve(module, host=args.host, port=args.port)
