"""A small XDF 1.0 writer for tests: builds recordings the way LabRecorder lays them out.

Layout (XDF specification, github.com/sccn/xdf wiki "Specifications"): the magic ``XDF:``, then chunks of
[NumLengthBytes (1, 4 or 8)][Length (little-endian, counts tag + content)][Tag (uint16)][Content].
Tags: 1 FileHeader (XML), 2 StreamHeader (StreamId uint32 + XML), 3 Samples (StreamId + varlen count +
per sample [TimestampBytes 0|8][double][values]), 4 ClockOffset (StreamId + collection time + offset,
both doubles), 5 Boundary (16-byte UUID), 6 StreamFooter (StreamId + XML). A ClockOffset's value is what
must be added to the sender's timestamps to put them on the recording computer's clock. Readers
(pyxdf) validate what this writes.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BOUNDARY = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
_FMT = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4", "int64": "<i8", "int8": "<i1"}


def _varlen(n: int) -> bytes:
    if n < 256:
        return bytes([1, n])
    if n < 2**32:
        return bytes([4]) + struct.pack("<I", n)
    return bytes([8]) + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


@dataclass
class XdfStream:
    """One stream: header fields, channel metadata (list of dicts: label/type/unit/eye), samples."""

    stream_id: int
    name: str
    type: str
    channel_format: str
    nominal_srate: float
    channels: list[dict] = field(default_factory=list)
    channel_count: int = 0
    stamps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: list | np.ndarray = field(default_factory=list)
    # (collection time on the sender's clock, offset to add to its timestamps)
    clock_offsets: list[tuple[float, float]] = field(default_factory=list)
    desc_extra: dict = field(default_factory=dict)

    def header_xml(self) -> bytes:
        info = ET.Element("info")
        n = self.channel_count or len(self.channels)
        for k, v in (("name", self.name), ("type", self.type), ("channel_count", n),
                     ("nominal_srate", repr(float(self.nominal_srate))), ("channel_format", self.channel_format),
                     ("source_id", f"gazesam-test-{self.stream_id}"), ("version", "1.1"),
                     ("created_at", "100.0"), ("uid", f"00000000-0000-0000-0000-{self.stream_id:012d}"),
                     ("session_id", "default"), ("hostname", "localhost")):
            ET.SubElement(info, k).text = str(v)
        desc = ET.SubElement(info, "desc")
        if self.channels:
            chans = ET.SubElement(desc, "channels")
            for ch in self.channels:
                c = ET.SubElement(chans, "channel")
                for k, v in ch.items():
                    ET.SubElement(c, k).text = str(v)
        for k, v in self.desc_extra.items():
            ET.SubElement(desc, k).text = str(v)
        return b'<?xml version="1.0"?>' + ET.tostring(info)

    def footer_xml(self) -> bytes:
        info = ET.Element("info")
        if len(self.stamps):
            ET.SubElement(info, "first_timestamp").text = repr(float(self.stamps[0]))
            ET.SubElement(info, "last_timestamp").text = repr(float(self.stamps[-1]))
        ET.SubElement(info, "sample_count").text = str(len(self.stamps))
        offs = ET.SubElement(info, "clock_offsets")
        for t, v in self.clock_offsets:
            o = ET.SubElement(offs, "offset")
            ET.SubElement(o, "time").text = repr(float(t))
            ET.SubElement(o, "value").text = repr(float(v))
        return b'<?xml version="1.0"?>' + ET.tostring(info)

    def sample_chunk(self, lo: int, hi: int) -> bytes:
        body = bytearray(struct.pack("<I", self.stream_id) + _varlen(hi - lo))
        for i in range(lo, hi):
            body += b"\x08" + struct.pack("<d", float(self.stamps[i]))
            if self.channel_format == "string":
                for s in self.values[i]:
                    raw = str(s).encode("utf-8")
                    body += _varlen(len(raw)) + raw
            else:
                body += np.asarray(self.values[i], dtype=_FMT[self.channel_format]).tobytes()
        return bytes(body)


def write_xdf(path: Path, streams: list[XdfStream], chunk_samples: int = 100) -> Path:
    """Interleave the streams' samples in time order (as a recorder does) with their clock offsets."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for s in streams:
        out += _chunk(2, struct.pack("<I", s.stream_id) + s.header_xml())
    out += _chunk(5, BOUNDARY)
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, stream index)
    for k, s in enumerate(streams):
        for lo in range(0, len(s.stamps), chunk_samples):
            events.append((float(s.stamps[lo]), 1, f"s{lo}", k))
        for j, (t, _) in enumerate(s.clock_offsets):
            events.append((t, 0, f"o{j}", k))
    for _, _, kind, k in sorted(events):
        s = streams[k]
        if kind[0] == "s":
            lo = int(kind[1:])
            out += _chunk(3, s.sample_chunk(lo, min(lo + chunk_samples, len(s.stamps))))
        else:
            t, v = s.clock_offsets[int(kind[1:])]
            out += _chunk(4, struct.pack("<Idd", s.stream_id, t, v))
    out += _chunk(5, BOUNDARY)
    for s in streams:
        out += _chunk(6, struct.pack("<I", s.stream_id) + s.footer_xml())
    path.write_bytes(bytes(out))
    return path
