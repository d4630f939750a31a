"""Gaze source adapters; build them with :func:`gazesam.gaze.source.open_source`."""
