"""The object that runs source -> signal -> prompt policy -> engine -> mask updates.

Live use (the app), replay of a recording (``gazesam replay``) and evaluation (``gazesam eval``) all run
this same :class:`GazePipeline`; they differ only in how events are fed (a live source's thread, or
``replay`` for deterministic replay).
"""

from gazesam.pipeline.annotation import AcceptOnLeave
from gazesam.pipeline.core import GazePipeline, MaskUpdate
from gazesam.pipeline.decoder import EngineDecoder

__all__ = ["AcceptOnLeave", "EngineDecoder", "GazePipeline", "MaskUpdate"]
