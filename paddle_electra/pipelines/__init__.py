"""The pretrained towers at work: fill-mask (generator) and replaced-token detection (discriminator)
(`towers.py`), and Chinese spelling correction with both (`correction.py`, its confusion data in data/)."""

from paddle_electra.pipelines.correction import SpellingCorrector
from paddle_electra.pipelines.towers import FillMask, ReplacedTokenDetection

__all__ = ["FillMask", "ReplacedTokenDetection", "SpellingCorrector"]
