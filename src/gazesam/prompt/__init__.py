"""Where gaze becomes a prompt: named, pluggable prompt policies.

``make_policy(name, params)`` builds one (``params`` by name, as ``--policy-param NAME=VALUE`` gives
them); ``available_policies()`` lists names and one-line descriptions.
The default, ``gaze-box``, exists because the default model (LiteMedSAM) was trained with boxes only.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping, Sequence

from gazesam.core.errors import InputError
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


def make_policy(name: str = DEFAULT_POLICY, params: Mapping[str, Any] | None = None,
                **hooks: Any) -> PromptPolicy:
    """A fresh policy by name.

    ``params``: values for the fields of the policy's ``params_type`` dataclass by field name (strings
    such as ``"0.85"`` are converted to the field's type); an unknown name is an :class:`InputError`
    listing the known ones. ``hooks``: constructor arguments that are code rather than settings (e.g.
    ``mask_prior`` for gaze-box); see :func:`policy_accepts`.
    """
    cls = _POLICIES.get(name)
    if cls is None:
        known = ", ".join(sorted(_POLICIES))
        raise InputError(f"unknown prompt policy {name!r}; choose one of: {known}")
    if params:
        ptype = getattr(cls, "params_type", None)
        if ptype is None:
            raise InputError(f"prompt policy {name!r} takes no parameters (got {', '.join(params)})")
        hooks["params"] = _build_params(name, ptype, params)
    for hook in hooks:
        if not policy_accepts(name, hook):
            raise InputError(f"prompt policy {name!r} does not take {hook!r}")
    return cls(**hooks)


def policy_parameters(name: str) -> list[str]:
    """The names ``make_policy(name, params)`` accepts (empty for a policy without parameters)."""
    ptype = getattr(_POLICIES[name], "params_type", None) if name in _POLICIES else None
    return [f.name for f in dataclasses.fields(ptype)] if ptype is not None else []


def policy_accepts(name: str, argument: str) -> bool:
    """Whether policy ``name``'s constructor takes ``argument`` (e.g. ``mask_prior``)."""
    return argument in inspect.signature(_POLICIES[name]).parameters


def parse_policy_params(items: Sequence[str] | None) -> dict[str, str]:
    """``["keep_iou=0.85", ...]`` (repeated ``--policy-param``) -> ``{"keep_iou": "0.85"}``."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--policy-param {item!r}: expected NAME=VALUE, e.g. keep_iou=0.85")
        out[key.strip()] = value.strip()
    return out


def _build_params(policy: str, ptype: type, values: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(ptype)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"prompt policy {policy!r} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters: {', '.join(fields)}")
    defaults = ptype()
    return dataclasses.replace(defaults, **{k: _coerce(policy, k, getattr(defaults, k), v) for k, v in values.items()})


def _coerce(policy: str, key: str, default: Any, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(float(v) for v in value.replace(";", ",").split(",") if v.strip())
    except ValueError:
        pass
    else:
        return value
    raise InputError(f"--policy-param {key}={value!r} for {policy!r}: expected a {type(default).__name__} "
                     f"like {default!r}")


__all__ = [
    "DEFAULT_POLICY", "Decision", "Decoder", "GazeBoxParams", "GazeBoxPolicy", "GazePoint", "ImageFixation",
    "Prompt", "PromptPolicy", "available_policies", "make_policy", "parse_policy_params", "policy_accepts",
    "policy_parameters",
]
