"""Baselines: reference segmenters whose predictions the scorer and the leaderboard take."""
