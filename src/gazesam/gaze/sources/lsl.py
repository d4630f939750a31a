"""Lab Streaming Layer inlet (``lsl[:NAME]``).

Resolves a stream by name, or the first of type ``Gaze`` when no name is given, and maps its channels
to gaze fields from the channel metadata (``desc/channels/channel`` ``label``, ``type``, ``unit``,
``eye``, as in the XDF gaze meta-data convention):

- eye: the ``eye`` element, else ``left``/``right`` (or an ``L``/``R`` prefix) in the label;
- field: ``x``/``y`` (labels ending in x/y, or types ``ScreenX``/``ScreenY``), ``pupil`` (``pupil`` or
  ``diameter``), ``valid`` (``valid``: non-zero means valid), ``confidence`` (``conf``: valid when at
  least ``confidence_threshold``). 3-D channels (``3d``, ``origin``, ``eyepos``) are ignored;
- units: ``pixels``/``px`` channels are divided by the display resolution, anything else is taken as
  normalised display coordinates; Pupil Labs' relay (``norm_pos_*``) has its origin bottom-left and is
  flipped.

With no usable metadata, channels 0 and 1 are the gaze point's x and y, normalised.

Timestamps: each sample's LSL timestamp (the outlet's clock) plus the inlet's ``time_correction()`` is
the local LSL clock; adding (``time.monotonic() - pylsl.local_clock()``) puts it on the monotonic clock
every gazesam stage uses. The correction is refreshed every ``tc_interval_s``.

Reconnecting: the inlet is opened with ``recover=False`` so that a vanished outlet raises ``LostError``;
the source then reports ``reconnecting`` and resolves again until an outlet with that name (or type)
is back, whatever its source id.

Tests and benchmarks keep LSL on the machine with :func:`write_loopback_config` (``LSLAPICFG``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gazesam.core.errors import SourceError
from gazesam.core.samples import GazeSample
from gazesam.gaze.channels import CONFIDENCE_THRESHOLD, ChannelMap, channel_map_from_xml, convert_row
from gazesam.gaze.source import GazeSource, fatal
from gazesam.core.display import DisplayGeometry

LOOPBACK_CONFIG = """\
; keep Lab Streaming Layer on this machine (loopback only, no LAN multicast)
[ports]
IPv6 = disable

[multicast]
ResolveScope = machine
ListenAddress = 127.0.0.1

[lab]
KnownPeers = {127.0.0.1}

[log]
level = -2
"""


def write_loopback_config(path: str | os.PathLike) -> Path:
    """Write an LSL config that confines discovery and data to 127.0.0.1; point ``LSLAPICFG`` at it
    before the first LSL call of a process."""
    path = Path(path)
    path.write_text(LOOPBACK_CONFIG, encoding="utf-8")
    return path


class LslSource(GazeSource):
    kind = "lsl"

    def __init__(self, name: str | None = None, display: DisplayGeometry | None = None, spec: str = "",
                 stream_type: str = "Gaze", resolve_timeout_s: float = 2.0, confidence_threshold: float = CONFIDENCE_THRESHOLD,
                 tc_interval_s: float = 2.0, **kw: object) -> None:
        super().__init__(spec or (f"lsl:{name}" if name else "lsl"), display, **kw)  # type: ignore[arg-type]
        self.name = name
        self.stream_type = stream_type
        self.resolve_timeout_s = resolve_timeout_s
        self.confidence_threshold = confidence_threshold
        self.tc_interval_s = tc_interval_s
        self._inlet = None
        self._map = ChannelMap()
        self._tc = 0.0
        self._tc_at = 0.0
        self._mono_offset = 0.0
        self.stream_info: dict = {}

    def _check_config(self) -> None:
        try:
            import pylsl  # noqa: F401
        except ImportError as exc:  # pragma: no cover - pylsl is a dependency
            raise fatal(f"lsl source needs pylsl ({exc}); pip install pylsl") from exc
        except RuntimeError as exc:  # pragma: no cover - liblsl missing
            raise fatal(f"lsl source: liblsl could not be loaded ({exc})") from exc

    def _connect(self) -> None:
        import pylsl

        if self.name:
            infos = pylsl.resolve_byprop("name", self.name, 1, self.resolve_timeout_s)
            what = f"named {self.name!r}"
        else:
            infos = pylsl.resolve_byprop("type", self.stream_type, 1, self.resolve_timeout_s)
            what = f"of type {self.stream_type!r}"
        if not infos:
            raise SourceError(f"no LSL stream {what} found; is the outlet running?")
        info = infos[0]
        inlet = pylsl.StreamInlet(info, max_buflen=60, max_chunklen=0, recover=False)
        try:
            inlet.open_stream(timeout=self.resolve_timeout_s)
            full = inlet.info(timeout=self.resolve_timeout_s)
            self._map = channel_map_from_xml(full.as_xml(), full.channel_count())
            self._tc = inlet.time_correction(timeout=self.resolve_timeout_s)
        except Exception:
            inlet.close_stream()
            raise
        self._tc_at = time.monotonic()
        self._mono_offset = time.monotonic() - pylsl.local_clock()
        if self._map.pixels and self.display is None:
            self.display = DisplayGeometry()
            self.combiner.display = self.display
        self.stream_info = {"name": full.name(), "type": full.type(), "source_id": full.source_id(),
                            "hostname": full.hostname(), "nominal_srate": full.nominal_srate(),
                            "channel_count": full.channel_count(), "uid": full.uid(),
                            "channels": self._map.describe()}
        self._inlet = inlet

    def _disconnect(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception:  # noqa: BLE001 - already gone
                pass

    def _read(self, timeout: float) -> list[GazeSample]:
        inlet = self._inlet
        assert inlet is not None
        now = time.monotonic()
        if now - self._tc_at > self.tc_interval_s:
            self._tc = inlet.time_correction(timeout=1.0)  # instantaneous after the first; raises when lost
            self._tc_at = now
        # pull_chunk with a timeout waits for a full buffer; wait for one sample, then take what is there
        first, ts0 = inlet.pull_sample(timeout=timeout)
        if ts0 is None:
            return []
        off = self._tc + self._mono_offset
        out = [self._convert(first, ts0, ts0 + off)]
        chunk, stamps = inlet.pull_chunk(timeout=0.0, max_samples=1024)
        out.extend(self._convert(v, ts, ts + off) for v, ts in zip(chunk, stamps))
        return out

    def _convert(self, v: list[float], source_t: float, t: float) -> GazeSample:
        return convert_row(self._map, v, t, self.combiner, self.display, self.confidence_threshold, source_t)
