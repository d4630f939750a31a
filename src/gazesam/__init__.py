"""gazesam: an eye tracker's gaze is the prompt for a Segment Anything-family model.

The package is laid out by pipeline stage, in the order a gaze sample travels:

- ``gazesam.gaze``      where a gaze sample enters (trackers, replay, recording)
- ``gazesam.signal``    validity, smoothing, online fixation detection
- ``gazesam.geometry``  display -> window -> view -> image pixel -> voxel
- ``gazesam.prompt``    prompt policies: gaze becomes boxes and points
- ``gazesam.engine``    SAM-family models, runtimes, embedding cache
- ``gazesam.pipeline``  the object that runs source -> signal -> policy -> engine
- ``gazesam.session``   masks, labels, undo, autosave, recording: where a mask leaves
- ``gazesam.volume``    3D volumes: I/O with geometry, slice encoding, propagation
- ``gazesam.evaluation``scoring policies on real and simulated gaze
- ``gazesam.cli`` / ``gazesam.app``  the front ends; they only draw and dispatch
"""

__version__ = "0.1.0"
