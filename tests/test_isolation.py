"""The suite writes only into the session's temporary directory (conftest._private_homes), never
into the user's home or caches: in this process and in the subprocesses tests start."""

import os
import subprocess
import sys

from conftest import PRIVATE_ROOT

REPORT = """
import os, paddle, paddlenlp, paddle_electra.utils.cache as cache
from paddlenlp.utils.env import PPNLP_HOME
print(os.path.expanduser("~")); print(cache.cache_dir()); print(PPNLP_HOME)
"""


def test_homes_and_caches_point_into_the_session_directory():
    for name in ("HOME", "XDG_CACHE_HOME", "PADDLE_ELECTRA_CACHE", "HUB_HOME", "PPNLP_HOME", "HF_HOME"):
        assert os.environ[name].startswith(PRIVATE_ROOT + os.sep), name
    out = subprocess.run(
        [sys.executable, "-c", REPORT], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out) == 3 and all(path.startswith(PRIVATE_ROOT + os.sep) for path in out), out
    # what Paddle makes on import (it derives the folder from HOME alone) landed in the private home
    assert os.path.isdir(os.path.join(PRIVATE_ROOT, "home", ".cache", "paddle", "dataset"))
