"""3D medical volumes: read with geometry, show in radiological orientation, encode slices ahead of the
user, propagate masks between slices, export labels on exactly the input's grid.

Modules, in the order a volume travels through them:

- ``io``           read NIfTI / NRRD / MHA / MHD / DICOM series into a :class:`~gazesam.volume.io.Volume`
- ``orientation``  axial / coronal / sagittal slices, pixel <-> voxel maps, square-pixel display grid
- ``windowing``    window/level presets, percentile windows -> 8-bit
- ``slices``       one view's windowed, oriented slices as the model sees them
- ``encoder``      background slice encoding, memory LRU + disk embedding cache
- ``gaze``         a slice's gaze -> the gaze-to-mask pipeline (GazePipeline + a gazesam.prompt policy) -> a mask
- ``propagation``  anchors, slice-to-slice propagation, stopping rules
- ``refine``       intensity model: guided propagation and 3D refinement
- ``labels``       multi-label volume, NIfTI / NRRD / MHA / DICOM export, JSON sidecar, PNGs
- ``segmenter``    the facade the CLI, evaluation and app use
- ``evaluate``     `gazesam eval-volume`: the project's gaze simulator on chosen slices, scored in 3D

Nothing heavy is imported here.
"""
