"""groupbench: the benchmark suite for unsupervised perceptual grouping.

Standard datasets written deterministically to HDF5 (`groupbench.generators`, format in
`docs/format.md`), readers (`groupbench.data`), exact masked AMI/ARI (`groupbench.metrics`),
baselines and a leaderboard.
"""

__version__ = "0.1.0"
