"""The built-in datasets: one module per generator, registered here with lazy imports."""

from groupbench.registry import DatasetSpec, register

register(
    DatasetSpec(
        id="shapes-v1",
        generator="groupbench.generators.shapes:ShapesGenerator",
        description="28x28 binary: 3 shapes (hollow square, triangle, inverted triangle), overlap allowed",
        paper="Greff, Srivastava & Schmidhuber 2016 (Binding via Reconstruction Clustering); "
        "Greff, van Steenkiste & Schmidhuber 2017 (Neural EM); after Reichert & Serre 2014",
        image_size=(28, 28, 1),
        objects="3",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
        default_seed=265076,
        binary=True,
        notes="splits follow the N-EM protocol (50k/10k/10k); the RC code trained on 60k and had no valid split",
    )
)

register(
    DatasetSpec(
        id="tetris-v1",
        generator="groupbench.generators.tetris:TetrisGenerator",
        description="35x35 RGB: 3 non-overlapping tetrominoes of bevelled 5x5 blocks in 6 colours on black",
        paper="Greff et al. 2019 (IODINE), appendix B.3; Kabra et al. 2019 (multi_object_datasets, Tetrominoes)",
        image_size=(35, 35, 3),
        objects="3",
        splits={"train": 60_000, "valid": 10_000, "test": 10_000},
        default_seed=2019,
        notes="the first 320 test images are the size of IODINE's evaluation set",
    )
)
