"""Video: read clips with their frame times, follow an object with gaze, propagate masks, evaluate."""
