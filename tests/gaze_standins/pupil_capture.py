"""A stand-in for Pupil Capture's network interface, in its own process, on 127.0.0.1 only.

Speaks the documented messages: a REP socket (Pupil Remote) answering ``SUB_PORT``, ``PUB_PORT``, ``t``
(Pupil time) and ``v``; a PUB socket (IPC backbone) publishing multipart ``[topic, msgpack payload]``:
gaze datums (``gaze.3d.01.`` when both eyes are tracked, ``gaze.3d.0.``/``gaze.3d.1.`` for the right /
left eye alone, confidence 0 when neither) at the data's own rate, and ``surfaces.<name>`` events at
30 Hz holding the gaze since the previous event. The gaze comes from real Tobii TX300 samples; Pupil's
norm_pos has its origin bottom-left, so y is flipped here. Pupil time runs on its own clock (the
monotonic clock plus an arbitrary offset), as in Pupil Capture.
"""

from __future__ import annotations

import argparse
import time

import msgpack
import numpy as np
import zmq

PUPIL_CLOCK_OFFSET = 5000.0  # Pupil time is not the local clock: the client must map it


def pupil_time() -> float:
    return time.monotonic() + PUPIL_CLOCK_OFFSET


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--remote-port", type=int, default=0, help="Pupil Remote port (0: any free port)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--surface", default="screen")
    args = ap.parse_args()

    d = np.loadtxt(args.data, skiprows=1)
    rows = [(d[i, 7], d[i, 8], d[i, 13] <= 1, d[i, 20], d[i, 21], d[i, 26] <= 1, d[i, 12], d[i, 25])
            for i in range(len(d))]
    dt = float(np.median(np.diff(d[:, 0]))) / 1e6

    ctx = zmq.Context.instance()
    rep = ctx.socket(zmq.REP)
    if args.remote_port:
        rep.bind(f"tcp://127.0.0.1:{args.remote_port}")
        remote_port = args.remote_port
    else:
        remote_port = rep.bind_to_random_port("tcp://127.0.0.1")
    pub = ctx.socket(zmq.PUB)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    print(f"READY {remote_port} {pub_port}", flush=True)

    poller = zmq.Poller()
    poller.register(rep, zmq.POLLIN)
    start = time.perf_counter()
    i = 0
    pending_surface: list[dict] = []
    next_surface = start
    while time.perf_counter() - start < args.seconds:
        due = start + i * dt
        wait_ms = max(0.0, (due - time.perf_counter()) * 1000)
        for sock, _ in poller.poll(wait_ms):
            frames = sock.recv_multipart()
            msg = frames[0].decode()
            if msg == "SUB_PORT":
                sock.send_string(str(pub_port))
            elif msg == "PUB_PORT":
                sock.send_string(str(pub_port + 1))
            elif msg == "t":
                sock.send_string(repr(pupil_time()))
            elif msg == "v":
                sock.send_string("3.5.1")
            elif msg.startswith("notify."):
                sock.send_string("Notification received")
            else:
                sock.send_string("Unknown command.")
        if time.perf_counter() < due:
            continue
        lx, ly, lv, rx, ry, rv, lp, rp = rows[i % len(rows)]
        ts = pupil_time()
        if lv and rv:
            topic, x, y, conf = "gaze.3d.01.", (lx + rx) / 2, (ly + ry) / 2, 0.95
            base = [{"id": 0, "topic": "pupil.0.3d", "confidence": 0.95, "diameter_3d": float(rp), "timestamp": ts},
                    {"id": 1, "topic": "pupil.1.3d", "confidence": 0.95, "diameter_3d": float(lp), "timestamp": ts}]
        elif rv:
            topic, x, y, conf = "gaze.3d.0.", rx, ry, 0.9
            base = [{"id": 0, "topic": "pupil.0.3d", "confidence": 0.9, "diameter_3d": float(rp), "timestamp": ts}]
        elif lv:
            topic, x, y, conf = "gaze.3d.1.", lx, ly, 0.9
            base = [{"id": 1, "topic": "pupil.1.3d", "confidence": 0.9, "diameter_3d": float(lp), "timestamp": ts}]
        else:  # blink: Pupil still publishes, with low confidence
            topic, x, y, conf = "gaze.3d.01.", 0.5, 0.5, 0.0
            base = []
        datum = {"topic": topic, "norm_pos": [float(x), 1.0 - float(y)], "confidence": conf, "timestamp": ts,
                 "base_data": base, "gaze_point_3d": [0.0, 0.0, 600.0], "index": i}
        pub.send_multipart([topic.encode(), msgpack.packb(datum, use_bin_type=True)])
        pending_surface.append({"topic": topic + "_on_surface", "norm_pos": [float(x), 1.0 - float(y)],
                                "confidence": conf, "on_surf": bool(0 <= x <= 1 and 0 <= y <= 1),
                                "base_data": [topic, ts], "timestamp": ts})
        if time.perf_counter() >= next_surface:
            name = args.surface
            event = {"topic": f"surfaces.{name}", "name": name, "uid": "1", "timestamp": ts,
                     "gaze_on_surfaces": pending_surface, "fixations_on_surfaces": []}
            pub.send_multipart([f"surfaces.{name}".encode(), msgpack.packb(event, use_bin_type=True)])
            pending_surface = []
            next_surface += 1 / 30
        i += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
