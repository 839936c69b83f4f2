"""Named presets: every experiment of the RC and N-EM papers as a configuration that `groupbench
train` / `reproduce` run. Unknown names raise with the closest preset names.

RC (Greff, Srivastava & Schmidhuber 2015): ``rc-<dataset>`` trains the DAE on single objects and
clusters with soft RC; ``rc-<dataset>-multi`` trains it on multi-object images and clusters with
hard RC. Hyperparameters: the best networks of the original random search (Qwlouse/Binding,
``run_best_nets.py``; the paper's Appendix B tables), K per dataset from ``run_evaluation.py``.

N-EM (Greff, van Steenkiste & Schmidhuber 2017): ``nem-shapes`` / ``rnn-em-shapes`` on static
shapes, ``rnn-em-flying-shapes[-k5|-5obj|-5obj-k3]`` on flying shapes, ``rnn-em-flying-mnist``
(direct) and ``rnn-em-flying-mnist-staged`` (a curriculum over digit pools of 20, 500 and all
digits). Hyperparameters: the README commands of sjoerdvansteenkiste/Neural-EM and the paper's
Appendix A. Deviations from either: docs/baselines.md.

IODINE (Greff et al. 2019) and Slot Attention (Locatello et al. 2020): ``iodine-*`` and
``slot-attention-*``, defined beside their models (groupbench/baselines/iodine.py and
slot_attention.py).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from groupbench.baselines import nem, rc
from groupbench.errors import GroupbenchError
from groupbench.scoring import Conventions

RC_PAPER = "https://arxiv.org/abs/1511.06418"
NEM_PAPER = "https://arxiv.org/abs/1708.03498"
ALGORITHMS = {"rc": "groupbench.baselines.rc", "nem": "groupbench.baselines.nem", "iodine": "groupbench.baselines.iodine",
              "slot_attention": "groupbench.baselines.slot_attention"}


def algorithm(name: str) -> ModuleType:
    """The module of an algorithm (``rc``, ``nem``, ``iodine`` or ``slot_attention``): Config, make_task, build_model, predict."""
    if name not in ALGORITHMS:
        raise GroupbenchError(f"unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})")
    return importlib.import_module(ALGORITHMS[name])


@dataclass(frozen=True)
class Stage:
    """One stage of a curriculum: the dataset parameters it trains on and the fields it changes."""

    params: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class Preset:
    """An experiment of a paper: an algorithm with its configuration, data and reported result."""

    name: str
    algorithm: str
    """``rc``, ``nem`` (N-EM and RNN-EM share groupbench/baselines/nem.py), ``iodine`` or ``slot_attention``."""
    fields: dict[str, Any]
    """Configuration fields that differ from the algorithm's `Config` defaults."""
    description: str
    variant: str
    """What distinguishes it on the leaderboard."""
    dataset: str
    params: dict[str, Any] = field(default_factory=dict)
    """Dataset parameters that differ from the defaults (e.g. ``num_objects=5``)."""
    paper: str = ""
    reported: dict[str, float] = field(default_factory=dict)
    """The paper's number(s) for this experiment: metric -> mean."""
    score_images: int | None = None
    """Score only the first N test images (RC: 1,000, the original's ``nr_samples``); None: all."""
    seeds: int = 1
    """Training seeds `reproduce` runs unless told otherwise (the papers: 1 network for RC, 5 runs for N-EM)."""
    stages: tuple[Stage, ...] = ()
    """A curriculum: each stage starts from the previous stage's best weights."""
    offline: str | None = None
    """An offline dataset id with the same task (the MNIST ``-mini-v1`` sets) for machines without MNIST."""
    conventions: Conventions = field(default_factory=Conventions)
    """How the paper scored: which pixels count and the AMI normaliser (validation, `reproduce` and
    the entry use them)."""

    def config(self, **changes: Any):
        """The algorithm's Config for this preset, with ``changes`` (None values ignored) applied."""
        module = algorithm(self.algorithm)
        known = {f.name for f in dataclasses.fields(module.Config)}
        values = {**self.fields, **{k: v for k, v in changes.items() if v is not None}}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GroupbenchError(f"{self.name}: no configuration field {unknown[0]!r}{_did_you_mean(unknown[0], known)}")
        from groupbench.baselines.training import check_config

        return check_config(module.Config(**values))

    @property
    def method(self) -> str:
        return algorithm(self.algorithm).method_name(self.config())

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one training image (H,W,C) or sequence (T,H,W,C) of the preset's (last stage's) data."""
        from groupbench import registry

        spec = registry.get(self.dataset)
        params = {**self.params, **(self.stages[-1].params if self.stages else {})}
        try:
            layout = spec.make(spec.resolve_params(params)).layout("train")
            shape, length = tuple(layout.image_shape), layout.sequence_length
        except GroupbenchError:  # e.g. MNIST files absent: the registered size (MNIST sets are grey)
            shape, length = tuple(spec.image_size), spec.sequence_length
        return shape if length is None else (length, *shape)


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


_PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    if preset.name in _PRESETS:
        raise ValueError(f"preset {preset.name!r} is already registered")
    _PRESETS[preset.name] = preset
    return preset


def get(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises with the closest ones."""
    if name in _PRESETS:
        return _PRESETS[name]
    raise GroupbenchError(f"unknown preset {name!r}{_did_you_mean(name, _PRESETS)} ('groupbench presets' lists them)")


def presets() -> list[Preset]:
    return [_PRESETS[name] for name in sorted(_PRESETS)]


# --- Reconstruction Clustering ---------------------------------------------------------------

_RC_DATASETS = {  # name: dataset id, K (run_evaluation.py), offline id
    "bars": ("bars-v1", 12, None),
    "corners": ("corners-v1", 5, None),
    "shapes": ("shapes-v1", 3, None),
    "multi-mnist": ("multi-mnist-v1", 3, "multi-mnist-mini-v1"),
    "mnist-shape": ("mnist-shape-v1", 2, "mnist-shape-mini-v1"),
    "superposition": ("superposition-v1", 2, None),
}
_RC_BEST = {  # (name, multi): hidden, activation, salt & pepper, SGD learning rate, seed, reported AMI
    ("bars", False): (100, "relu", 0.0, 0.768014586935404, 459182787, 0.951809),
    ("corners", False): (100, "relu", 0.0, 0.0019199822609484764, 158253144, 0.853866),
    ("shapes", False): (500, "tanh", 0.4, 0.08314720669724956, 845841083, 0.928792),
    ("multi-mnist", False): (1000, "relu", 0.6, 0.011361917579645924, 498470020, 0.651657),
    ("mnist-shape", False): (250, "sigmoid", 0.6, 0.0316848152096582, 166717815, 0.545559),
    ("superposition", False): (100, "relu", 0.1, 0.36662702472680564, 848588405, 0.890472),
    ("bars", True): (100, "sigmoid", 0.8, 0.01219213699462807, 141786426, 0.851777),
    ("corners", True): (100, "relu", 0.7, 0.02603487482829947, 872544498, 0.704285),
    ("shapes", True): (100, "sigmoid", 0.9, 0.049401835193689486, 702200962, 0.776656),
    ("multi-mnist", True): (250, "sigmoid", 0.9, 0.001785591525476118, 632224571, 0.614277),
    ("mnist-shape", True): (1000, "relu", 0.6, 0.033199614969711265, 900543563, 0.259646),
}
_ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid"}

for (_name, _multi), (_hidden, _act, _sp, _lr, _seed, _ami) in _RC_BEST.items():
    _id, _k, _offline = _RC_DATASETS[_name]
    _e_step = "hard" if _multi else "soft"
    register(Preset(
        name=f"rc-{_name}" + ("-multi" if _multi else ""),
        algorithm="rc",
        fields=dict(dataset=_id, train_split="train" if _multi else "single", hidden=_hidden, activation=_act,
                    salt_pepper=_sp, lr=_lr, seed=_seed, k=_k, e_step=_e_step, rc_seed=23 if _multi else 1337),
        description=f"RC on {_id}: DAE {_hidden} {_ACTIVATION_NAMES[_act]} trained on "
        + ("multi-object images" if _multi else "single objects") + f", {_e_step} RC, K={_k}",
        variant=("multi-object DAE" if _multi else "single-object DAE") + f", {_e_step} RC, K={_k}, 10 iterations",
        dataset=_id,
        paper=RC_PAPER,
        reported={"ami": _ami},
        score_images=None if _name == "superposition" else 1000,
        offline=_offline,
        conventions=rc.CONVENTIONS,
    ))

# --- N-EM and RNN-EM -------------------------------------------------------------------------

_STATIC = dict(dataset="shapes-v1", k=4, steps=15, noise="bitflip", noise_p=0.1, loss_steps="last", gradient_gamma=True,
               inter_weight=1.0, hidden=250, pixel="bernoulli", lr=1e-3)
register(Preset(
    name="nem-shapes", algorithm="nem", fields=dict(_STATIC, network="nem"),
    description="N-EM on static shapes: N-EM cell with 250 units and a tied decoder, K=4, 15 EM steps",
    variant="static, K=4, 15 EM steps", dataset="shapes-v1", paper=NEM_PAPER, reported={"ami": 0.475}, seeds=5,
    conventions=nem.CONVENTIONS,
))
register(Preset(
    name="rnn-em-shapes", algorithm="nem", fields=dict(_STATIC, network="rnn"),
    description="RNN-EM on static shapes: RNN of 250 sigmoid units, FC sigmoid output, K=4, 15 EM steps",
    variant="static, K=4, 15 EM steps", dataset="shapes-v1", paper=NEM_PAPER, reported={"ami": 0.826}, seeds=5,
    conventions=nem.CONVENTIONS,
))

_FLYING = dict(dataset="flying-shapes-v1", network="conv-shapes", hidden=100, noise="bitflip", noise_p=0.2, loss_steps="all",
               gradient_gamma=False, inter_weight=1.0, pixel="bernoulli", lr=1e-3, steps=20)
for _objects, _k, _ami in ((3, 3, 0.970), (3, 5, 0.997), (5, 5, 0.878), (5, 3, 0.614)):
    _suffix = ("" if _objects == 3 else f"-{_objects}obj") + ("" if _k == _objects else f"-k{_k}")
    register(Preset(
        name=f"rnn-em-flying-shapes{_suffix}", algorithm="nem", fields=dict(_FLYING, k=_k),
        description=f"RNN-EM on flying shapes with {_objects} objects, K={_k}: conv encoder/decoder, RNN of 100 units, "
        "next-step prediction, 20 steps",
        variant=f"trained on {_objects} shapes with K={_k}, tested on {_objects} shapes with K={_k}",
        dataset="flying-shapes-v1", params={} if _objects == 3 else {"num_objects": _objects},
        paper=NEM_PAPER, reported={"ami/per-frame/skip-first": _ami}, seeds=5, conventions=nem.CONVENTIONS,
    ))

_MNIST = dict(dataset="flying-mnist-v1", network="conv-mnist", hidden=250, k=2, pixel="gaussian", e_sigma=0.25,
              noise="masked_uniform", noise_p=0.2, loss_steps="all", gradient_gamma=False, inter_weight=0.2,
              standardize=True, steps=20, lr=5e-4)
register(Preset(
    name="rnn-em-flying-mnist", algorithm="nem", fields=_MNIST,
    description="RNN-EM on flying MNIST (2 digits), trained directly: conv encoder/decoder, RNN of 250 units, K=2, "
    "Gaussian pixels, 20 steps",
    variant="trained directly on 2 digits, K=2, 20 steps", dataset="flying-mnist-v1", paper=NEM_PAPER,
    reported={"ami/per-frame/skip-first": 0.819}, seeds=5, offline="flying-mnist-mini-v1", conventions=nem.CONVENTIONS,
))
register(Preset(
    name="rnn-em-flying-mnist-staged", algorithm="nem", fields=_MNIST,
    description="RNN-EM on flying MNIST (2 digits), trained in stages on pools of 20, 500 and all digits "
    "(lr 1e-3, then 5e-4 from the best weights of the stage before)",
    variant="staged curriculum (20 / 500 / all digits) on 2 digits, K=2, 20 steps", dataset="flying-mnist-v1",
    paper=NEM_PAPER, reported={"ami/per-frame/skip-first": 0.917}, seeds=5, offline="flying-mnist-mini-v1",
    stages=(Stage({"pool_size": 20}, {"lr": 1e-3}, "20 digits"), Stage({"pool_size": 500}, {}, "500 digits"),
            Stage({}, {}, "all digits")),
    conventions=nem.CONVENTIONS,
))


def _register_slot_models() -> None:
    """IODINE's experiments (Greff et al. 2019, Table 1) and Slot Attention's (Locatello et al. 2020,
    Table 1), defined in groupbench/baselines/iodine.py and slot_attention.py; scored as both papers
    did, with DeepMind's FG-ARI (background left out, overlap pixels scored under their visible
    object) on the first 320 test images."""
    from groupbench.baselines import iodine, slot_attention

    for name, module in (("iodine", iodine), ("slot_attention", slot_attention)):
        for preset_name, preset in module.PRESETS.items():
            register(Preset(
                name=preset_name, algorithm=name, fields=preset["fields"], description=preset["description"],
                variant=preset["variant"], dataset=preset["dataset"], params=preset["params"], paper=module.PAPER,
                reported=preset["reported"], score_images=320, conventions=module.CONVENTIONS,
            ))


_register_slot_models()
