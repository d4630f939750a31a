"""Where gaze becomes a prompt: named, pluggable prompt policies.

``make_policy(name)`` builds one; ``available_policies()`` lists names and one-line descriptions.
The default, ``gaze-box``, exists because the default model (LiteMedSAM) was trained with boxes only.
"""

from __future__ import annotations

from gazesam.errors import InputError
from gazesam.prompt.base import Decision, Decoder, GazePoint, ImageFixation, Prompt, PromptPolicy
from gazesam.prompt.gazebox import GazeBoxParams, GazeBoxPolicy
from gazesam.prompt.points import GazePointsPolicy
from gazesam.prompt.simple import (
    FixationPercentileBoxPolicy, FixationPointPolicy, FixationPointsPolicy, GazeSamPaperPolicy,
)

DEFAULT_POLICY = "gaze-box"

_POLICIES: dict[str, type[PromptPolicy]] = {
    cls.name: cls
    for cls in (GazeBoxPolicy, GazePointsPolicy, GazeSamPaperPolicy, FixationPointPolicy,
                FixationPointsPolicy, FixationPercentileBoxPolicy)
}


def available_policies() -> dict[str, str]:
    return {name: cls.description for name, cls in _POLICIES.items()}


def make_policy(name: str = DEFAULT_POLICY) -> PromptPolicy:
    try:
        return _POLICIES[name]()
    except KeyError:
        known = ", ".join(sorted(_POLICIES))
        raise InputError(f"unknown prompt policy {name!r}; choose one of: {known}") from None


__all__ = [
    "DEFAULT_POLICY", "Decision", "Decoder", "GazeBoxParams", "GazeBoxPolicy", "GazePoint", "ImageFixation",
    "Prompt", "PromptPolicy", "available_policies", "make_policy",
]
