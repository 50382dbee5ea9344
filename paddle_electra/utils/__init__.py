"""The ground floor, used by every layer above and importing none of them: the cache folder and
all-or-nothing output (`cache`), CPU and device facts (`cpuinfo`), quiet native logs (`quiet`),
numpy probabilities (`numeric`), the error base (`errors`) and moved-module aliases (`deprecation`)."""

from paddle_electra.utils.errors import PaddleElectraError

__all__ = ["PaddleElectraError"]
