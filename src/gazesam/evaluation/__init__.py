"""Scoring prompt policies on real and simulated gaze; the gaze statistics and the gaze simulator."""
