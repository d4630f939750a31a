"""napari plugin (npe2): open gazesam session folders and volumes, save Labels layers, and segment the
active image layer by gaze in a dock widget running the same :class:`gazesam.pipeline.GazePipeline`.

Install with the ``napari`` extra (``pip install 'gazesam[napari]'``); napari finds the plugin through the
``napari.manifest`` entry point (``napari.yaml`` beside this file). Geometry: a volume's voxel grid is the
layer's ``scale`` (spacing) and ``translate`` (origin), axes in (z, y, x) order, with the direction matrix
as ``rotate`` when it is not the identity, so layers line up in world (LPS, mm) coordinates.
"""
