"""Gaze channels of an LSL stream, from its channel metadata (the XDF gaze meta-data convention).

One owner for the mapping, used by the live LSL inlet (:mod:`gazesam.gaze.sources.lsl`) and by XDF
recordings (:mod:`gazesam.gaze.formats.xdf`): ``desc/channels/channel`` ``label``, ``type``, ``unit``,
``eye``. The rules are listed in the inlet's module docstring.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from gazesam.core.display import DisplayGeometry
from gazesam.core.samples import GazeSample
from gazesam.gaze.binocular import BinocularCombiner


# a confidence at or above this makes a sample valid: Pupil Labs' recommended 0.6, for every source that
# reports one (Pupil Capture, an LSL inlet, an XDF recording)
CONFIDENCE_THRESHOLD = 0.6


@dataclass
class ChannelMap:
    """Channel indices of each gaze field (None: not in the stream)."""

    x: int | None = None
    y: int | None = None
    left_x: int | None = None
    left_y: int | None = None
    right_x: int | None = None
    right_y: int | None = None
    left_pupil: int | None = None
    right_pupil: int | None = None
    pupil: int | None = None
    left_valid: int | None = None
    right_valid: int | None = None
    valid: int | None = None
    confidence: int | None = None
    pixels: bool = False
    flip_y: bool = False

    @property
    def per_eye(self) -> bool:
        return self.left_x is not None or self.right_x is not None

    def describe(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False}


def _tokens(label: str) -> list[str]:
    """``LeftGaze_x`` -> ``['left', 'gaze', 'x']`` (camelCase and separators split)."""
    return [t.lower() for t in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", label)]


def _classify(label: str, ctype: str, eye_el: str) -> tuple[str, str] | None:
    toks = _tokens(label)
    flat = "".join(toks)
    t = ctype.lower()
    if any(k in flat for k in ("3d", "origin", "eyepos", "rel", "direction", "normal", "center")):
        return None
    eye = eye_el.lower()
    if eye not in ("left", "right"):
        if "left" in toks or "left" in flat:
            eye = "left"
        elif "right" in toks or "right" in flat:
            eye = "right"
        elif toks and toks[0] == "l" and len(toks) > 1:
            eye = "left"
        elif toks and toks[0] == "r" and len(toks) > 1:
            eye = "right"
        else:
            eye = "both"
    last = toks[-1] if toks else ""
    if "pupil" in flat or "diameter" in flat or t in ("pupildiameter", "pupil"):
        field = "pupil"
    elif "valid" in flat:
        field = "valid"
    elif "conf" in flat or t == "confidence":
        field = "confidence"
    elif t in ("screenx", "gazex", "positionx") or last == "x" or re.search(r"(gaze|pos|point|screen|norm|2d)x$", flat):
        field = "x"
    elif t in ("screeny", "gazey", "positiony") or last == "y" or re.search(r"(gaze|pos|point|screen|norm|2d)y$", flat):
        field = "y"
    else:
        return None
    return eye, field


def channel_map_from_xml(xml: str, channel_count: int) -> ChannelMap:
    """Build the channel map from a stream's full info XML (see module docstring for the rules)."""
    cm = ChannelMap()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        root = None
    chans = root.findall("./desc/channels/channel") if root is not None else []
    units: list[str] = []
    labels: list[str] = []
    for i, ch in enumerate(chans[:channel_count]):
        label = (ch.findtext("label") or "").strip()
        labels.append(label)
        res = _classify(label, (ch.findtext("type") or "").strip(), (ch.findtext("eye") or "").strip())
        if res is None:
            continue
        eye, field = res
        name = field if eye == "both" else f"{eye}_{field}"
        if name == "both_valid":
            name = "valid"
        if hasattr(cm, name) and getattr(cm, name) is None:
            setattr(cm, name, i)
            if field in ("x", "y"):
                units.append((ch.findtext("unit") or "").strip().lower())
    if not (cm.per_eye or cm.x is not None):
        cm.x, cm.y = 0, 1 if channel_count > 1 else None
    cm.pixels = any(u in ("pixels", "pixel", "px") for u in units)
    cm.flip_y = any("norm_pos" in lab.lower() for lab in labels)
    return cm


def convert_row(m: ChannelMap, v: list[float], t: float, comb: BinocularCombiner,
                display: DisplayGeometry | None, confidence_threshold: float = CONFIDENCE_THRESHOLD,
                source_t: float | None = None) -> GazeSample:
    """One stream row (channel values ``v``) as a GazeSample at time ``t``, through ``comb``; pixel channels
    are normalised by ``display``; ``source_t`` (default ``t``) keeps the stream's own timestamp."""
    source_t = t if source_t is None else source_t
    sx, sy = ((1.0 / display.width_px, 1.0 / display.height_px) if (m.pixels and display is not None)
              else (1.0, 1.0))

    def val(i: int | None, default: float = math.nan) -> float:
        return float(v[i]) if i is not None else default

    def fy(y: float) -> float:
        return 1.0 - y if m.flip_y else y

    conf_ok = m.confidence is None or val(m.confidence) >= confidence_threshold
    if m.per_eye:
        eyes: list[tuple[float, float, bool, float] | None] = []
        for side in ("left", "right"):
            ix, iy = getattr(m, f"{side}_x"), getattr(m, f"{side}_y")
            if ix is None:
                eyes.append(None)
                continue
            iv = getattr(m, f"{side}_valid")
            ok = conf_ok and (val(iv, 1.0) != 0 if iv is not None else True)
            eyes.append((val(ix) * sx, fy(val(iy) * sy), ok, val(getattr(m, f"{side}_pupil"))))
        return comb.sample(t, eyes[0], eyes[1], source_t=source_t)
    ok = conf_ok and (val(m.valid, 1.0) != 0 if m.valid is not None else True)
    return comb.monocular(t, val(m.x) * sx, fy(val(m.y) * sy), ok, val(m.pupil), source_t)
