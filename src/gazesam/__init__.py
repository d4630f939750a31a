"""gazesam: an eye tracker's gaze is the prompt for a Segment Anything-family model.

The package is laid out by pipeline stage; each imports only the ones below it (``.importlinter``
checks this in CI), from the bottom up:

- ``gazesam.core``        shared types and rules: gaze samples and fixation events, the display model, the
                          one transform chain, errors, limits, checked writes, the image loader
- ``gazesam.gaze``        where a gaze sample enters (trackers, replay, simulated gaze, recording)
- ``gazesam.signal``      smoothing, online fixation/saccade/pursuit detection, gaze statistics, BIDS
- ``gazesam.prompt``      prompt policies: gaze becomes boxes and points
- ``gazesam.engine``      SAM-family models, runtimes, batched box decoding (beside ``prompt``: neither
                          imports the other)
- ``gazesam.pipeline``    the object that runs source -> signal -> policy -> engine, live and in replay
- ``gazesam.volume``      3D volumes: I/O with geometry, slice encoding, propagation
- ``gazesam.video``       video: clips, pursuit gaze, the video policy
- ``gazesam.session``     masks, labels, undo, autosave, recording: where a mask leaves
- ``gazesam.evaluation``  scoring policies on real and simulated gaze (imported only by the CLI)
- ``gazesam.app`` / ``gazesam.cli``  the front ends; they only draw and dispatch
"""

__version__ = "0.1.0"
