"""Write hub_modules/<name>/module.py for every discriminator model of the zoo.

    .venv/bin/python scripts/make_hub_modules.py

Every module.py comes from one template (paddle_electra.hub.module.module_source); tests check the
committed files still equal it. Weights are not committed: `paddle-electra hub pack` fills assets/.
"""

import os

from paddle_electra.hub import module_source, zoo_summary
from paddle_electra.sources.zoo import MODELS

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hub_modules")


def module_dir(name):
    return os.path.join(ROOT, name.replace("-", "_"))


def main():
    for name, entry in MODELS.items():
        os.makedirs(module_dir(name), exist_ok=True)
        with open(os.path.join(module_dir(name), "module.py"), "w", encoding="utf-8") as f:
            f.write(module_source(name, zoo_summary(entry)))
    print(f"wrote {len(MODELS)} modules under {ROOT}")


if __name__ == "__main__":
    main()
