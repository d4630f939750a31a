"""The bottom layer: types and rules every stage shares, importing nothing else of gazesam.

- ``samples``: the gaze sample and fixation event types every source produces and every stage consumes.
- ``display``: the display model (size, distance) that turns display coordinates into visual angle.
- ``transforms``: the one transform chain display -> window -> view -> image pixel -> voxel.
- ``errors``, ``limits``, ``paths``, ``outputs``, ``imageio``: user-facing errors, size limits, cache
  folders, checked atomic writes and the one image loader.
- ``phantom``: generated sample data with a known ground truth.
"""
