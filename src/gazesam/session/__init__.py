"""Where a mask leaves the pipeline: labels, accepted masks, undo/redo, autosave, recovery, timing.

Free of Qt: the desktop app, the CLI and tests all drive the same :class:`Session`.
"""

from gazesam.session.annotator import Annotator, Candidate, CorrectionRequest
from gazesam.session.canvas import ImageCanvas, VolumeCanvas
from gazesam.session.document import DocumentRef, file_sha256, guess_kind
from gazesam.session.labels import PALETTE, Label, LabelSet
from gazesam.session.recovery import RecoveryEntry, RecoveryRegistry
from gazesam.session.session import Annotation, Plane, Session, SessionSnapshot
from gazesam.session.store import Autosaver, load_session, write_overlay, write_snapshot

__all__ = [
    "PALETTE",
    "Annotation",
    "Annotator",
    "Candidate",
    "CorrectionRequest",
    "ImageCanvas",
    "Autosaver",
    "DocumentRef",
    "Label",
    "LabelSet",
    "Plane",
    "RecoveryEntry",
    "RecoveryRegistry",
    "Session",
    "SessionSnapshot",
    "VolumeCanvas",
    "file_sha256",
    "guess_kind",
    "load_session",
    "write_overlay",
    "write_snapshot",
]
