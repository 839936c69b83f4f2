"""RC, N-EM and RNN-EM: the E-step and loss by hand, RC on a separable toy, exact resume, DDP on two
gloo processes, and every preset trained, predicted and scored end to end on tiny data."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket

import h5py
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from groupbench import protocols
from groupbench.baselines import nem, presets, rc, runs
from groupbench.baselines.training import Task, fit, generator, read_metrics
from groupbench.errors import GroupbenchError
from groupbench.generation import generate
from groupbench.metrics import adjusted_mutual_info

CPU = torch.device("cpu")


# --- the spatial mixture, by hand ---------------------------------------------------------------


def test_bernoulli_e_step_is_the_mixture_posterior():
    # two components, three pixels, one channel: psi_k is each component's P(pixel = 1)
    psi = torch.tensor([[[0.9], [0.2], [0.5]], [[0.3], [0.6], [0.5]]]).reshape(1, 2, 3, 1)
    x = torch.tensor([1.0, 0.0, 1.0]).reshape(1, 1, 3, 1)
    gamma = nem.e_step(psi, x, "bernoulli", 0.25)[0, :, :, 0]
    # P(x | psi) = psi if x = 1 else 1 - psi, plus the original's 1e-6, normalised over components
    like = np.array([[0.9, 0.8, 0.5], [0.3, 0.4, 0.5]]) + 1e-6
    np.testing.assert_allclose(gamma.numpy(), like / like.sum(0), rtol=1e-6)


def test_gaussian_e_step_uses_the_e_sigma():
    psi = torch.tensor([0.1, 0.8]).reshape(1, 2, 1, 1)
    x = torch.tensor([0.7]).reshape(1, 1, 1, 1)
    gamma = nem.e_step(psi, x, "gaussian", 0.25)[0, :, 0, 0].numpy()
    density = np.exp(-((0.7 - np.array([0.1, 0.8])) ** 2) / (2 * 0.25**2)) / (0.25 * math.sqrt(2 * math.pi)) + 1e-6
    np.testing.assert_allclose(gamma, density / density.sum(), rtol=1e-6)


def test_mixture_loss_is_intra_plus_weighted_inter():
    psi = torch.tensor([0.9, 0.3]).reshape(1, 2, 1, 1)
    gamma = torch.tensor([0.75, 0.25]).reshape(1, 2, 1, 1)
    x = torch.ones(1, 1, 1, 1)
    loss = float(nem.mixture_loss(psi, gamma, x, "bernoulli", 0.5))
    intra = -(0.75 * math.log(0.9) + 0.25 * math.log(0.3))
    inter = -(0.25 * math.log(1 - 0.9) + 0.75 * math.log(1 - 0.3))  # KL(Bernoulli(0) || psi) = -log(1 - psi)
    assert loss == pytest.approx(intra + 0.5 * inter, rel=1e-6)
    gaussian = float(nem.mixture_loss(psi, gamma, x, "gaussian", 0.5))
    assert gaussian == pytest.approx(0.75 * 0.01 / 2 + 0.25 * 0.49 / 2 + 0.5 * (0.25 * 0.81 / 2 + 0.75 * 0.09 / 2), rel=1e-6)


def _confident_gradients(network: str, autocast: bool) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and gradients of one N-EM / RNN-EM step on black 8x8 images whose every pixel the network
    predicts as 1 with a logit of about 8: confidently wrong pixels the loss must push back."""
    config = nem.Config(network=network, hidden=16, k=2, steps=2, noise_p=0.0, device="cpu")
    torch.manual_seed(0)
    shape = (2, 8, 8, 1) if network.startswith("conv") else (8, 8, 1)
    model = nem.build_model(config, shape)
    with torch.no_grad():
        if network == "nem":  # psi = sigmoid(sigmoid(theta) W^T) with theta = 0 at the start: logit = 0.5 sum_j W_ij
            model.cell.weight.fill_(1.0 / config.hidden * 16)
        elif network == "rnn":
            model.cell.output.bias.fill_(8.0)
        else:
            model.cell.decoder_conv[-1][-1].bias.fill_(8.0)
    images = torch.zeros((4, *shape), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(images, model.draw(images, generator(CPU, 0)))
    loss.backward()
    return float(loss.detach()), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("network", ["nem", "rnn", "conv-shapes"])
def test_psi_the_e_step_and_the_loss_stay_float32_under_bf16_autocast(network):
    """Under bfloat16 a sigmoid rounds to exactly 1 once its logit passes about 6.2; computed there, the
    clipped loss would give (almost) no gradient to confidently wrong pixels. psi, the E-step and the
    loss are float32, as in the original: the gradient under bf16 autocast matches float32's."""
    loss32, grads32 = _confident_gradients(network, autocast=False)
    loss16, grads16 = _confident_gradients(network, autocast=True)
    norm = lambda grads: float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads.values())))  # noqa: E731
    assert norm(grads32) > 1.0
    assert norm(grads16) == pytest.approx(norm(grads32), rel=0.1)
    assert loss16 == pytest.approx(loss32, rel=0.05)  # about 8 nats per pixel and component, not the clip's 13.8


class FixedReconstruction(torch.nn.Module):
    """A stand-in DAE that reconstructs cluster k as the fixed image y_k, whatever it is given."""

    def __init__(self, y: torch.Tensor):
        super().__init__()
        self.logits = torch.logit(y)

    def forward(self, masked: torch.Tensor) -> torch.Tensor:
        return self.logits.expand_as(masked)


def test_rc_soft_and_hard_e_steps():
    y = torch.tensor([[0.9, 0.1, 0.6, 0.5], [0.2, 0.3, 0.6, 0.5]])  # (K, D)
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    like = (x * y + (1 - x) * (1 - y)).numpy()
    soft = rc.reconstruction_clustering(FixedReconstruction(y), x, 2, 1, "soft", generator(CPU, 0))[0]
    np.testing.assert_allclose(soft.numpy(), like / like.sum(0), rtol=1e-6)
    hard = rc.reconstruction_clustering(FixedReconstruction(y), x, 2, 3, "hard", generator(CPU, 0))[0]
    np.testing.assert_array_equal(hard.numpy(), [[1, 1, 1, 1], [0, 0, 1, 1]])  # ties keep both, as the original


# --- RC on a toy whose objects a DAE can tell apart ---------------------------------------------------------------


def _toy(count: int, objects: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """8x8 images of 1 or 2 of four fixed patterns (one per quadrant, never touching); labels 1..4."""
    patterns = np.zeros((4, 8, 8), bool)
    patterns[0, 0:3, 0:3] = patterns[1, 0:3, 5:8] = patterns[2, 5:8, 0:3] = patterns[3, 5:8, 5:8] = True
    patterns[0, 1, 1] = patterns[3, 6, 6] = False  # not all alike
    rng = np.random.default_rng(seed)
    labels = np.zeros((count, 8, 8), np.int64)
    for i in range(count):
        for kind in rng.choice(4, objects, replace=False):
            labels[i][patterns[kind]] = kind + 1
    images = torch.from_numpy((labels > 0).astype(np.uint8) * 255)[..., None]
    return images, labels


def _toy_task(salt_pepper: float = 0.2) -> Task:
    torch.manual_seed(0)
    singles, _ = _toy(400, 1, seed=1)
    model = rc.DenoisingLoss(rc.DAE(64, 32, "tanh"), salt_pepper)
    return Task(model, singles[:360], singles[360:])


def test_rc_separates_a_trivially_separable_toy(tmp_path):
    config = rc.Config(lr=0.2, max_epochs=60, batch_size=20, device="cpu", threads=1)
    fit(task := _toy_task(), config, tmp_path / "run", progress=False)
    images, labels = _toy(100, 2, seed=2)
    gamma = rc.reconstruction_clustering(task.model.dae, rc.pixels(images), 2, 10, "soft", generator(CPU, 0))
    predicted = gamma.argmax(1).numpy()
    flat = labels.reshape(100, -1)
    ami = adjusted_mutual_info(flat, predicted, flat > 0, average_method="max")
    assert ami.mean() > 0.95


# --- resume and DDP ------------------------------------------------------------------------------------


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _small_rnn_em(**changes) -> nem.Config:
    """A small RNN-EM for the loop's tests: on the small shapes file (300 training images), 9 steps per epoch."""
    fields = dict(network="rnn", hidden=16, k=3, steps=3, batch_size=32, log_every=5, valid_size=50, metric_images=0,
                  device="cpu", threads=1, seed=5)
    return nem.Config(**{**fields, **changes})


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(small_file, tmp_path):
    dataset = small_file("shapes-v1")
    config = _small_rnn_em(max_epochs=2, checkpoint_every=4)  # 18 steps in all
    whole = fit(nem.make_task(config, dataset), config, tmp_path / "whole", progress=False)

    def interrupt(state):
        if state.step == 13:  # mid-epoch 2, one step after the checkpoint of step 12
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(nem.make_task(config, dataset), config, tmp_path / "cut", progress=False, callback=interrupt)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["state"]["step"] == 12
    resumed = fit(nem.make_task(config, dataset), config, tmp_path / "cut", progress=False)
    assert (resumed["steps"], resumed["epochs"], resumed["best_valid_loss"]) == (whole["steps"], whole["epochs"], whole["best_valid_loss"])
    for name in ("checkpoint.pt", "best.pt"):
        a, b = _weights(tmp_path / "whole" / name), _weights(tmp_path / "cut" / name)
        assert all(torch.equal(a[key], b[key]) for key in a)
    rows = lambda run: [(r["step"], r["train_loss"], r["valid_loss"]) for r in read_metrics(run)]  # noqa: E731
    np.testing.assert_array_equal(np.array(rows(tmp_path / "whole")), np.array(rows(tmp_path / "cut")))


def test_a_run_continued_with_a_larger_budget_keeps_its_history(small_file, tmp_path):
    dataset = small_file("shapes-v1")
    config = _small_rnn_em(max_epochs=3, checkpoint_every=9)
    fit(nem.make_task(config, dataset), config, tmp_path / "whole", progress=False)
    for budget in (dict(max_epochs=1), dict(max_epochs=2, max_steps=13), dict(max_epochs=3)):  # epoch end, mid-epoch stop, end
        staged = dataclasses.replace(config, **budget)
        fit(nem.make_task(staged, dataset), staged, tmp_path / "staged", progress=False)
    validations = lambda run: [(r["epoch"], r["step"]) for r in read_metrics(run) if r["valid_loss"] == r["valid_loss"]]  # noqa: E731
    assert validations(tmp_path / "whole") == [(1, 9), (2, 18), (3, 27)]  # epochs numbered from 1
    # the stop at step 13 validated what there was; that validation stays, the rest is as uninterrupted
    assert validations(tmp_path / "staged") == [(1, 9), (2, 13), (2, 18), (3, 27)]


def test_a_time_budget_stops_validates_checkpoints_and_resumes(small_file, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from groupbench.baselines import training

    clock = SimpleNamespace(now=0.0)  # the loop's clock, advanced by hand: no timing in the test
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    dataset = small_file("shapes-v1")
    config = _small_rnn_em(max_epochs=2, checkpoint_every=100)
    whole = fit(nem.make_task(config, dataset), config, tmp_path / "whole", progress=False)
    timed = dataclasses.replace(config, max_time_s=60.0)

    def tick(state):
        if state.step == 4:
            clock.now += 61.0  # the budget is spent during step 5

    summary = fit(nem.make_task(timed, dataset), timed, tmp_path / "timed", progress=False, callback=tick)
    assert (summary["stopped"], summary["steps"], summary["max_time_s"]) == ("max_time", 5, 60.0)
    assert torch.load(tmp_path / "timed" / "checkpoint.pt", weights_only=False)["state"]["step"] == 5
    assert [r["step"] for r in read_metrics(tmp_path / "timed") if r["valid_loss"] == r["valid_loss"]] == [5]
    assert runs.budget_text([summary], config.max_epochs) == "5 steps (0.53 epochs) in a 60 s time budget"  # 160 of 300 images
    longer = dataclasses.replace(config, max_time_s=1000.0)  # continued with a larger budget: the same training
    resumed = fit(nem.make_task(longer, dataset), longer, tmp_path / "timed", progress=False)
    assert (resumed["stopped"], resumed["steps"]) == ("max_epochs", whole["steps"])
    a, b = _weights(tmp_path / "whole" / "checkpoint.pt"), _weights(tmp_path / "timed" / "checkpoint.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_interim_validations_only_add_points_to_the_learning_curve(small_file, tmp_path):
    dataset = small_file("shapes-v1")
    config = _small_rnn_em(max_epochs=2, checkpoint_every=5, metric_images=4)
    plain = fit(nem.make_task(config, dataset), config, tmp_path / "plain", progress=False)
    often = dataclasses.replace(config, validate_every=4)

    def interrupt(state):
        if state.step == 11:  # after the checkpoint of step 10, before the interim validation of step 12
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(nem.make_task(often, dataset), often, tmp_path / "often", progress=False, callback=interrupt)
    dense = fit(nem.make_task(often, dataset), often, tmp_path / "often", progress=False)
    validations = lambda run: [r["step"] for r in read_metrics(run) if r["valid_loss"] == r["valid_loss"]]  # noqa: E731
    assert validations(tmp_path / "plain") == [9, 18]
    assert validations(tmp_path / "often") == [4, 8, 9, 12, 16, 18]
    assert all(r["valid_ami"] == r["valid_ami"] for r in read_metrics(tmp_path / "often") if r["valid_loss"] == r["valid_loss"])
    assert (dense["best_epoch"], dense["best_valid_loss"], dense["steps"]) == (plain["best_epoch"], plain["best_valid_loss"], plain["steps"])
    a, b = _weights(tmp_path / "plain" / "best.pt"), _weights(tmp_path / "often" / "best.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_two_gloo_processes_keeps_the_weights_identical(tmp_path):
    # each rank records its own weights: fit's model is the rank's replica
    mp.spawn(_ddp_rank_weights, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # and the pair computes what one process computes on the whole batch (no noise: salt_pepper 0)
    config = rc.Config(lr=0.2, max_epochs=2, batch_size=40, device="cpu", threads=1, checkpoint_every=5)
    task = _toy_task(salt_pepper=0.0)
    fit(task, config, tmp_path / "single", progress=False)
    single = task.model.state_dict()
    assert all(torch.allclose(rank0[k], single[k], atol=1e-5) for k in single)
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["world_size"] == 2


def _ddp_rank_weights(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    config = rc.Config(lr=0.2, max_epochs=2, batch_size=40, device="cpu", checkpoint_every=5)
    task = _toy_task(salt_pepper=0.0)
    fit(task, config, f"{folder}/ddp", progress=False)
    torch.save({k: v.clone() for k, v in task.model.state_dict().items()}, f"{folder}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


# --- every preset, end to end on tiny data -------------------------------------------------------------------

TINY = {"train": 40, "valid": 16, "test": 24, "single": 60}
OFFLINE = {"multi-mnist-v1": "multi-mnist-mini-v1", "mnist-shape-v1": "mnist-shape-mini-v1", "flying-mnist-v1": "flying-mnist-mini-v1"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tiny(dataset_id, params) -> a tiny generated file (offline ids for the MNIST sets)."""
    from groupbench import registry

    folder, made = tmp_path_factory.mktemp("tiny"), {}

    def make(dataset_id, params):
        dataset_id = OFFLINE.get(dataset_id, dataset_id)
        key = (dataset_id, tuple(sorted(params.items())))
        if key not in made and dataset_id.startswith("deepmind/"):
            made[key] = _imported(dataset_id, folder / f"{len(made)}.h5")
        if key not in made:
            splits = registry.get(dataset_id).splits
            sizes = {s: min(n, splits[s]) for s, n in TINY.items() if s in splits}
            made[key] = generate(dataset_id, folder / f"{len(made)}.h5", sizes=sizes, params=params, progress=False)
        return made[key]

    return make


def _imported(dataset_id: str, out):
    """A tiny import of ``dataset_id`` from a DeepMind TFRecord file the tests write (16 scenes of 2-6
    objects: 6 train, 6 test, 4 valid)."""
    from deepmind_layout import encode_scenes, make_scenes, write_tfrecord

    from groupbench.importers import DEEPMIND, Selection
    from groupbench.importers import deepmind as dm

    d = next(d for d in DEEPMIND.values() if d.dataset_id == dataset_id)
    scenes = make_scenes(d.file, 16, 0, objects=[2, 3, 4, 5, 6, 3, 2, 4] * 2)
    record = write_tfrecord(out.with_suffix(".tfrecords"), encode_scenes(d.file, scenes))
    path, _ = dm.import_deepmind(record, d.name, out, selection=Selection(6, 6, None))
    return path


SLOT_MODELS = ("iodine", "slot_attention")
"""The algorithms that decompose an image into slots (a decomposition figure; FG-ARI with overlap scored)."""


@pytest.mark.parametrize("name", [p.name for p in presets.presets()])
def test_every_preset_trains_predicts_and_scores(name, tiny, tmp_path):
    preset = presets.get(name)
    files = [tiny(preset.dataset, {**preset.params, **stage.params}) for stage in preset.stages] or [tiny(preset.dataset, preset.params)]
    changes = dict(max_steps=2, device="cpu", threads=1)
    if preset.algorithm in ("nem", *SLOT_MODELS):  # a step of the convolutional networks takes a while on a CPU
        changes.update(max_steps=1, batch_size=2, valid_size=2, metric_images=2)
    large = preset.image_shape[0] >= 128  # CLEVR6: a decode of 7 slots at 128x128 costs ~20 GMAC per image
    if preset.algorithm == "iodine":
        changes.update(iterations=1 if large else 2)
    if large:
        changes.update(threads=2)
    summary = runs.train(name, tmp_path / "run", datasets=files, changes=changes, progress=False)
    assert summary["steps"] == changes["max_steps"] * max(1, len(preset.stages))
    assert (tmp_path / "run" / ("stage3" if preset.stages else "") / "best.pt").exists()
    assert (tmp_path / "run" / "training.png").stat().st_size > 0
    assert (tmp_path / "run" / "decomposition.png").exists() == (preset.algorithm in SLOT_MODELS)
    count = 2 if large else 6
    predictions = runs.predict(tmp_path / "run", files[-1], tmp_path / "pred.h5", limit=count, device="cpu", soft_masks=True)
    k = preset.config().k
    with h5py.File(predictions) as handle:
        assert handle.attrs["preset"] == name and handle.attrs["k"] == k
        labels, masks = handle["labels"][:], handle["masks"][:].astype(np.float32)
    assert len(labels) == count and labels.max() < k and masks.shape == (*labels.shape[:-2], k, *labels.shape[-2:])
    np.testing.assert_allclose(masks.sum(-3), 1.0, atol=5e-3)  # float16 assignments, summing to 1 over K
    chosen = np.take_along_axis(masks, np.expand_dims(labels.astype(np.int64), -3), -3)[..., 0, :, :]
    np.testing.assert_array_equal(chosen, masks.max(-3))  # the labels are their argmax
    results = runs._score(predictions, files[-1], tmp_path / "results.json", preset.conventions)  # as reproduce scores
    primary = "ami/per-frame/skip-first" if preset.stages or preset.dataset.startswith("flying") else "ami"
    assert -1 <= results["metrics"][primary]["mean"] <= 1 and results["images_scored"] == count
    # the paper's conventions: IODINE's and Slot Attention's FG-ARI scores overlap pixels, RC and N-EM leave them out
    assert results["conventions"]["include_overlap"] is (preset.algorithm in SLOT_MODELS)
    assert results["conventions"]["include_background"] is False and results["conventions"]["average_method"] == "max"


def test_presets_know_their_names_and_fields():
    with pytest.raises(GroupbenchError, match="did you mean 'rnn-em-shapes'"):
        presets.get("rnn-em-shape")
    with pytest.raises(GroupbenchError, match="did you mean 'hidden'"):
        presets.get("rc-shapes").config(hiden=3)
    assert presets.get("rc-bars-multi").config().e_step == "hard" and presets.get("rc-bars").config().k == 12
    assert presets.get("rnn-em-flying-mnist-staged").stages[0].changes == {"lr": 1e-3}


def test_a_run_refuses_another_configuration(small_file, tmp_path):
    dataset = small_file("shapes-v1")
    runs.train("rc-shapes", tmp_path / "run", datasets=[dataset], changes={"max_steps": 1, "device": "cpu"}, progress=False)
    with pytest.raises(GroupbenchError, match="hidden=500"):
        runs.train("rc-shapes", tmp_path / "run", datasets=[dataset], changes={"max_steps": 1, "hidden": 20}, progress=False)


def test_train_predict_reproduce_commands(cli, small_file, tmp_path):
    dataset = small_file("shapes-v1")
    run = tmp_path / "run"
    result = cli("train", "rc-shapes", "--dataset", str(dataset), "--device", "cpu", "--max-epochs", "2", "--set", "hidden=50",
                 "--out", str(run))
    assert result.exit_code == 0 and "reached max_epochs in epoch 2, after" in result.output, result.output
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows if r["valid_loss"] == r["valid_loss"]] == [1, 2]  # epochs are numbered from 1
    result = cli("predict", str(run), "--dataset", str(dataset), "--out", str(tmp_path / "p.h5"), "--device", "cpu", "--soft-masks")
    assert result.exit_code == 0 and (tmp_path / "p.h5").exists()
    with h5py.File(tmp_path / "p.h5") as handle:
        assert handle["masks"].shape[1] == presets.get("rc-shapes").config().k and handle["masks"].dtype == np.float16
    result = cli("curves", str(run), str(run), "--label", "a", "--label", "b", "--out", str(tmp_path / "curves.png"))
    assert result.exit_code == 0 and (tmp_path / "curves.png").stat().st_size > 0, result.output
    result = cli("curves", str(run), "--label", "a", "--label", "b", "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 1 and "2 --label for 1 runs" in result.output and not (tmp_path / "c.png").exists()
    result = cli("curves", str(tmp_path), "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 1 and "no metrics.csv" in result.output
    result = cli("curves", str(run), str(run), "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 1 and "given twice" in result.output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.csv").write_text("a,b\n1,x\n")
    result = cli("curves", str(tmp_path / "bad"), "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 1 and "not a metrics file" in result.output and not (tmp_path / "c.png").exists()
    result = cli("reproduce", "rc-shapes", "--dataset", str(dataset), "--seeds", "2", "--max-epochs", "1", "--device", "cpu",
                 "--out", str(tmp_path / "runs"), "--board", str(tmp_path / "board"), "--create")
    assert result.exit_code == 0, result.output
    entry = json.loads(next((tmp_path / "board" / "entries").glob("*.json")).read_text())
    assert entry["source"]["type"] == "reproduced" and entry["metrics"]["ami"]["seeds"] == 2
    # scored under the dataset's protocol (its metrics and conventions), next to the paper's number
    assert {"ami", "ari", "mbo"} <= set(entry["metrics"]) and f"{protocols.get('shapes-v1').name} protocol" in entry["notes"]
    assert entry["paper_result"]["metric"] == "ami" and entry["paper_result"]["mean"] == presets.get("rc-shapes").reported["ami"]
    assert entry["dataset"]["official"] is False and entry["compute"]["steps"] > 0 and entry["variant"].endswith("[budget: 1 steps (1 epochs)]")
    result = cli("train", "rc-shapez", "--out", str(run))
    assert result.exit_code == 1 and "did you mean 'rc-shapes'" in result.output


def test_a_reproduced_entry_carries_its_learning_curve(small_file, tmp_path):
    from groupbench.leaderboard import Board
    from groupbench.leaderboard.render import render

    dataset = small_file("shapes-v1")
    changes = dict(network="rnn", hidden=16, steps=3, batch_size=16, max_epochs=3, valid_size=8, metric_images=6, device="cpu", threads=1)
    outcome = runs.reproduce("rnn-em-shapes", seeds=1, out=tmp_path / "runs", datasets=[dataset], changes=changes,
                             board=tmp_path / "board", progress=False, echo=lambda *_: None)
    curve = outcome["entry"]["curve"]
    logged = [r for r in read_metrics(tmp_path / "runs" / "rnn-em-shapes" / "seed0") if r["valid_ami"] == r["valid_ami"]]
    assert curve["metric"] == "ami" and curve["seed"] == 0 and curve["validation_images"] == 6
    assert [p[0] for p in curve["points"]] == [r["images_seen"] for r in logged] and len(logged) == 3
    assert [p[2] for p in curve["points"]] == [round(r["valid_ami"], 4) for r in logged]
    readme, page = render(Board(tmp_path / "board"))
    assert "Learning curve of #1 (seed 0, validation AMI on 6 images)" in readme.read_text()
    assert 'aria-label="learning curves on shapes-v1"' in page.read_text()
    broken = {**outcome["entry"], "curve": {**curve, "metric": "loss"}}
    with pytest.raises(GroupbenchError, match="curve"):
        Board(tmp_path / "other").add(broken)


def test_training_step_clips_the_gradient_norm():
    from groupbench.baselines.training import Precision

    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    Precision(torch.device("cpu"), amp=False).step((weight * 100.0).sum(), optimizer, clip_norm=5.0)
    # gradient (100, 100, 100) has norm 173.2; clipped to norm 5, one SGD step moves each weight by 5 / sqrt(3)
    assert torch.allclose(weight.detach(), torch.full((3,), 1.0 - 5.0 / 3**0.5), atol=1e-6)


# --- one epoch numbering, and the figures of a run -------------------------------------------------


def test_epochs_are_numbered_from_1_in_messages_and_files(cli, small_file, tmp_path):
    """One numbering: "epoch N" in the progress lines and in train's last line is the row epoch N of
    metrics.csv, summary.json's epoch and best_epoch, and best.pt's epoch (RC stopped mid-epoch 2)."""
    run = tmp_path / "run"
    result = cli("train", "rc-shapes", "--dataset", str(small_file("shapes-v1")), "--device", "cpu", "--max-steps", "5",
                 "--set", "hidden=20", "--set", "batch_size=30", "--set", "threads=1", "--progress", "--out", str(run))
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())  # 90 training images, 3 steps per epoch
    assert (summary["epochs"], summary["epoch"], summary["steps"]) == (1, 2, 5)
    assert [(r["epoch"], r["step"]) for r in read_metrics(run) if r["valid_loss"] == r["valid_loss"]] == [(1, 3), (2, 5)]
    assert "epoch 1 step 3: valid loss" in result.output and "epoch 2 step 5: valid loss" in result.output
    assert "epoch 0" not in result.output and "after 0 epochs" not in result.output
    best = summary["best_epoch"]
    assert best in (1, 2) and torch.load(run / "best.pt", weights_only=False)["epoch"] == best
    assert "rc-shapes: reached max_steps in epoch 2, after 5 steps (1.67 epochs of training)" in result.output
    assert f"best validation loss {summary['best_valid_loss']:.5g} in epoch {best} -> {run}/" in result.output


def _captured_figures(monkeypatch) -> list:
    """The matplotlib figures the figures module would save, kept instead of written."""
    from groupbench.baselines import figures

    saved = []
    monkeypatch.setattr(figures, "_save", lambda figure, out: saved.append(figure) or out)
    return saved


def test_learning_curves_mark_best_pt_and_name_images_or_sequences(small_file, tmp_path, monkeypatch):
    """training.png: a star and a line at the validation best.pt keeps, labelled with its epoch; RC's
    validation AMI in a second panel; the axes say images for still images, sequences for sequences."""
    import shutil

    from groupbench.baselines.figures import plot_learning_curves

    run = tmp_path / "run"
    changes = dict(hidden=20, batch_size=30, max_epochs=4, metric_images=8, device="cpu", threads=1)
    summary = runs.train("rc-shapes", run, datasets=[small_file("shapes-v1")], changes=changes, progress=False, echo=lambda *_: None)
    rows = read_metrics(run)
    validations = [r for r in rows if r["valid_loss"] == r["valid_loss"]]
    assert len(validations) == 4 and all(-1 <= r["valid_ami"] <= 1 for r in validations)  # RC logs a validation score (NaN fails)
    best = next(r for r in validations if r["epoch"] == summary["best_epoch"])
    saved = _captured_figures(monkeypatch)
    plot_learning_curves({"rc": run}, tmp_path / "t.png")
    loss, ami = saved[-1].axes
    assert (loss.get_xlabel(), loss.get_ylabel(), ami.get_ylabel()) == ("training images seen", "loss per image", "validation AMI (max)")
    marked = [line for line in loss.get_lines() if line.get_label().startswith("rc: best.pt")]
    assert len(marked) == 1 and marked[0].get_label() == (
        f"rc: best.pt, epoch {summary['best_epoch']} (lowest validation loss, {best['valid_loss']:.4g})")
    assert list(marked[0].get_xdata()) == [best["images_seen"]]
    assert f"at best.pt's epoch {summary['best_epoch']}" in " ".join(line.get_label() for line in ami.get_lines())
    sequences = tmp_path / "sequences"
    shutil.copytree(run, sequences)
    record = json.loads((sequences / "config.json").read_text())
    (sequences / "config.json").write_text(json.dumps({**record, "image_shape": [4, *record["image_shape"]]}))
    plot_learning_curves({"rc": sequences}, tmp_path / "s.png")
    assert (saved[-1].axes[0].get_xlabel(), saved[-1].axes[0].get_ylabel()) == ("training sequences seen", "loss per sequence")


def test_the_decomposition_figure_shows_ground_truth_scores_and_masked_slots(small_file, tmp_path, monkeypatch):
    """decomposition.png: a ground-truth column (the same validation images' labels), each row's FG-ARI
    under the preset's conventions, and each slot's RGB times its mask over white."""
    from groupbench.baselines.figures import colorize
    from groupbench.data import SplitReader
    from groupbench.metrics import adjusted_rand_index, valid_mask

    dataset, run = small_file("tetris-v1"), tmp_path / "run"
    changes = dict(max_steps=1, batch_size=2, valid_size=2, metric_images=2, device="cpu", threads=1)
    summary = runs.train("slot-attention-tetris", run, datasets=[dataset], changes=changes, progress=False, echo=lambda *_: None)
    assert (summary["epochs"], summary["epoch"], summary["best_epoch"]) == (0, 1, 1)  # stopped in epoch 1, best.pt from it
    saved, parts = _captured_figures(monkeypatch), []
    module = presets.algorithm("slot_attention")
    decompose = module.decompose
    monkeypatch.setattr(module, "decompose", lambda *args: parts.append(decompose(*args)) or parts[-1])
    runs.write_figures(run, dataset)
    figure, (made,) = saved[-1], parts
    with SplitReader(dataset, "valid") as reader:
        labels, overlap = reader.group["labels"][: runs.FIGURE_IMAGES].astype(np.int64), reader.group["overlap"][: runs.FIGURE_IMAGES]
    k = presets.get("slot-attention-tetris").config().k
    axes = np.array(figure.axes).reshape(runs.FIGURE_IMAGES, 4 + k)
    assert [a.get_title() for a in axes[0]] == ["image", "ground truth", "reconstruction", "predicted\n(mask argmax)",
                                                *(f"slot {j + 1}\nRGB × mask" for j in range(k))]
    assert "best.pt weights (epoch 1)" in figure._suptitle.get_text() and "per-image FG-ARI" in figure._suptitle.get_text()
    scored = valid_mask(labels, overlap, include_background=False, include_overlap=True)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    ari = adjusted_rand_index(flat(labels), flat(made["masks"].argmax(1)), flat(scored))
    for row in range(runs.FIGURE_IMAGES):
        assert axes[row, 0].get_ylabel() == f"#{row}\nFG-ARI {ari[row]:.2f}"
        np.testing.assert_allclose(axes[row, 1].images[0].get_array(), colorize(labels[row], overlap[row]) / 255.0)
        masks, rgb = made["masks"][row], made["slots"][row]
        for j in range(k):
            expected = np.clip(masks[j, ..., None] * rgb[j] + (1 - masks[j, ..., None]), 0, 1)
            np.testing.assert_allclose(axes[row, 4 + j].images[0].get_array(), expected, atol=1e-6)
