"""The words the app shows about itself: the status bar's fields and the view's heads-up lines.

Pure functions of the controller's state, read on the GUI thread; every number is measured in the running
app (sample rate, valid share, fixation→mask latency, encoding time), none is assumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gazesam.session import VolumeCanvas

if TYPE_CHECKING:  # the controller imports this module: a runtime import would be a cycle
    from gazesam.app.controller import AppController


def source_label(spec: str) -> str:
    """The source spec as the status bar names it: a replay by its file name, without options."""
    if spec.lower().startswith("replay:"):
        return "replay:" + Path(spec[len("replay:"):].split("?")[0].split("@")[0]).name
    return spec


def status_fields(app: AppController) -> dict[str, str]:
    """Short strings for the status bar, by field (source, rate, valid, latency, model, encoding, ...)."""
    gaze, session = app.gaze, app.session
    out: dict[str, str] = {}
    spec = source_label(app.config.source)
    if gaze.source is None:
        state = gaze.source_error or ("waits for the model" if gaze.is_replay else "not open")
        out["source"] = f"{spec}: {state}"
    else:
        out["source"] = f"{spec}: {gaze.source.status().state}"
    rate = gaze.rate.rate_hz
    out["rate"] = f"{rate:.0f} Hz" if rate > 0 else "- Hz"
    share = gaze.rate.valid_share
    out["valid"] = f"{share * 100:.0f}% valid" if share == share else "- valid"
    med = app.latency.median_ms()
    out["latency"] = f"fix→mask {med:.0f} ms" if med == med else "fix→mask -"
    model = f"{app.config.model}/{app.config.runtime}"
    out["model"] = model if app.model_state == "ready" else f"{model} ({app.model_state})"
    if app.encoding:
        out["encoding"] = app.encoding
    elif app.encode_ms is not None:
        out["encoding"] = f"encoded in {app.encode_ms:.0f} ms"
    else:
        out["encoding"] = ""
    slices = app.volumes.slices_encoded
    if slices is not None:
        done, total = slices
        out["slices"] = f"slices {done}/{total}"
    if app.busy:
        out["busy"] = app.busy + "…"
    mode = "ON" if gaze.prompting else ("hold Space" if gaze.prompting_mode != "toggle" else "off (G)")
    out["prompting"] = f"gaze prompting: {mode}"
    if session is not None and session.active_label in session.labels:
        out["label"] = f"label: {session.labels.get(session.active_label).name}"
    return out


def hud_lines(app: AppController) -> list[str]:
    """The lines over the view's corner: document, slice and window, and what to do next."""
    gaze, session, volumes, canvas = app.gaze, app.session, app.volumes, app.canvas
    lines = []
    if session is not None:
        lines.append(session.document.name)
    if volumes.volume is not None and isinstance(canvas, VolumeCanvas):
        lines.append(f"{volumes.view_name} {canvas.index + 1}/{canvas.view.n_slices}   "
                     f"{volumes.window.describe() if volumes.window else ''}")
    c = app.annotator.candidate if app.annotator else None
    if c is not None:
        iou = f"  IoU≈{c.iou:.2f}" if c.iou is not None else ""
        lines.append(f"mask on offer ({c.source}){iou}: Enter accepts, Esc rejects")
    elif session is not None and not gaze.prompting:
        how = "press G" if gaze.prompting_mode == "toggle" else "hold Space (or press G)"
        what = "point at" if gaze.is_mouse_source else "look at"
        lines.append(f"{what} an object and {how} to segment it, or drag a box; F1: keys")
    elif session is None:
        lines.append("Ctrl+O opens an image, a volume or a session; F1: keys")
    return lines
