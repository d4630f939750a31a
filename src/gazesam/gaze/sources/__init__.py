"""Every gaze source gazesam has, and :func:`open_source`, which builds one from a ``--source`` spec.

Sources import their device libraries (pylsl, pyzmq, the Tobii SDK) only when one is opened, so a
missing optional SDK fails only the source that needs it, with a message naming what to install.
"""

from __future__ import annotations

from gazesam.core.display import DisplayGeometry
from gazesam.core.errors import SourceError
from gazesam.gaze.source import GazeSource
from gazesam.gaze.sources.simulated import SimulatedSource

SOURCE_KINDS = ("lsl", "pupil", "tobii", "replay", "simulated", "mouse")


def open_source(spec: str, display: DisplayGeometry | None = None, start: bool = True, **options: object) -> GazeSource:
    """Build (and by default open) a source from a command-line spec.

    ``simulated[:SEED[:options]]`` needs ``target=MASK`` (bool array, image pixels) among ``options``.

    ``lsl[:NAME]``, ``pupil[:HOST:PORT][/surfaces.NAME]``, ``tobii[:ADDRESS]``,
    ``replay:FILE[@SPEED][?format=NAME&trial=NAME&recording=NAME]`` (SPEED a factor, or ``max`` for
    as fast as possible),
    ``mouse``. Extra ``options`` go to the source's constructor.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SourceError("empty --source; use one of lsl[:NAME], pupil[:HOST:PORT], tobii[:ADDRESS], "
                          "replay:FILE[@SPEED], mouse")
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    src: GazeSource
    if kind == "lsl":
        from gazesam.gaze.sources.lsl import LslSource

        src = LslSource(rest or None, display=display, spec=spec, **options)  # type: ignore[arg-type]
    elif kind == "pupil":
        from gazesam.gaze.sources.pupil import PupilSource, parse_pupil_spec

        host, port, topic = parse_pupil_spec(rest)
        src = PupilSource(host, port, topic=topic, display=display, spec=spec, **options)  # type: ignore[arg-type]
    elif kind == "tobii":
        from gazesam.gaze.sources.tobii import TobiiSource

        src = TobiiSource(rest or None, display=display, spec=spec, **options)  # type: ignore[arg-type]
    elif kind == "replay":
        from gazesam.gaze.sources.replay import open_replay, parse_replay_spec

        path, speed, fmt, reader_opts = parse_replay_spec(rest)
        src = open_replay(path, speed=speed, format=fmt, display=display, spec=spec,
                          **{**reader_opts, **options})  # type: ignore[arg-type]
    elif kind == "simulated":
        if "target" not in options:
            raise SourceError(f"--source {spec!r}: simulated gaze looks at a target; give its mask (target=...)")
        src = SimulatedSource(options.pop("target"), spec=spec, display=display, **options)  # type: ignore[arg-type]
    elif kind == "mouse":
        if rest:
            raise SourceError(f"--source {spec!r}: 'mouse' takes no argument")
        from gazesam.gaze.sources.mouse import MouseSource

        src = MouseSource(display=display, **options)  # type: ignore[arg-type]
    else:
        raise SourceError(f"unknown gaze source {kind!r} in {spec!r}; use one of {', '.join(SOURCE_KINDS)}")
    return src.open() if start else src
