"""The overfit profile's trainer (saecodec.model.overfit): the half-resolution warm-up and progress reports.

What the trainer buys in quality is measured by tools (tools/overfit_point.py, tools/bench_rd.py), not here;
these tests check that its parts do what they say on tiny images.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import saecodec
from saecodec.format.header import ImageInfo
from saecodec.kernels import rate as R
from saecodec.kernels.synthesis import synthesize_float
from saecodec.model import overfit as trainer_module
from saecodec.profiles.overfit import EFFORTS, model_for
from tests.conftest import synthetic_image

KEY = saecodec.SecretKey(bytes(range(32)))


@pytest.mark.parametrize("height, width", [(8, 10), (7, 9), (1, 5), (16, 3)])
def test_half_image_is_the_rounded_2x2_means_with_odd_sides_repeated(height: int, width: int) -> None:
    rng = np.random.default_rng(height * 31 + width)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    half = trainer_module.half_image(image)
    assert half.shape == (-(-height // 2), -(-width // 2), 3) and half.dtype == np.uint8
    for y in range(half.shape[0]):
        for x in range(half.shape[1]):
            ys = [min(2 * y, height - 1), min(2 * y + 1, height - 1)]
            xs = [min(2 * x, width - 1), min(2 * x + 1, width - 1)]
            block = image[np.ix_(ys, xs)].astype(np.float64)
            assert np.array_equal(half[y, x], np.rint(block.mean(axis=(0, 1))).astype(np.uint8))


def _trainer(image: np.ndarray, seed: int = 0, rate_contexts: bool = False,
             network_optimiser: str = "adam", network_lr_scale: float = 1.0) -> trainer_module._Trainer:
    info = ImageInfo(image.shape[0], image.shape[1], "RGB")
    model = model_for(info, EFFORTS["fast"])
    return trainer_module._Trainer(image, info, model, 100, 0.02, 1e-4, seed, None, rate_contexts=rate_contexts,
                                   network_optimiser=network_optimiser, network_lr_scale=network_lr_scale)


def _mse(trainer: trainer_module._Trainer) -> float:
    p = trainer.params
    out = synthesize_float(p.shape, np.rint(p.latents).astype(np.float32), p.tensors)
    return float(np.mean((out - trainer.target) ** 2))


def test_warm_up_hands_the_coarse_levels_and_network_to_the_full_model() -> None:
    """After a warm-up on the half image the full model draws a picture of the image (its error falls far
    below a fresh model's), its level-0 latents are still zero, and only level 0's column of the first layer
    kept its initial values."""
    image = synthetic_image(48, 64, 3, seed=3)
    fresh = _trainer(image)
    warmed = _trainer(image)
    before = [t.copy() for t in warmed.params.tensors]
    assert trainer_module.can_warm_up(warmed.model, warmed.image)
    trainer_module.warm_up(warmed, 150, 0.02, seed=0)
    fine = warmed.model.levels[0] * 48 * 64
    assert not np.any(warmed.params.latents[:fine])
    assert np.any(warmed.params.latents[fine:])
    out, inputs = warmed.model.layer_shapes()[0]
    first, first_before = warmed.params.tensors[0].reshape(out, inputs), before[0].reshape(out, inputs)
    assert np.array_equal(first[:, 0], first_before[:, 0])
    assert not np.array_equal(first[:, 1:], first_before[:, 1:])
    assert _mse(warmed) < 0.5 * _mse(fresh)


def test_no_warm_up_for_one_level_or_a_tiny_image() -> None:
    info = ImageInfo(12, 40, "RGB")
    assert not trainer_module.can_warm_up(model_for(info, EFFORTS["fast"]), info)
    info = ImageInfo(16, 16, "RGB")
    model = model_for(info, EFFORTS["fast"])
    assert len(model.levels) > 1 and trainer_module.can_warm_up(model, info)


class _Recorder:
    def __init__(self) -> None:
        self.fractions: list[float] = []
        self.statuses: list[trainer_module.TrainingStatus] = []

    def __call__(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def training_status(self, status: trainer_module.TrainingStatus) -> None:
        self.statuses.append(status)


def test_progress_covers_the_warm_up_and_the_training_in_order() -> None:
    recorder = _Recorder()
    saecodec.encode(synthetic_image(32, 40, 3, seed=5), KEY, effort="fast", quality=50, progress=recorder)
    fast = EFFORTS["fast"]
    fractions = np.array(recorder.fractions)
    assert len(fractions) >= fast.steps + fast.warm_up_steps
    assert np.all(np.diff(fractions) >= 0) and 0 <= fractions[0] and fractions[-1] <= 1.0
    share = 0.25 * fast.warm_up_steps / (0.25 * fast.warm_up_steps + fast.steps)
    assert fractions[fast.warm_up_steps - 1] == pytest.approx(0.95 * share)  # the warm-up's last step
    steps = [s.step for s in recorder.statuses]
    assert steps == sorted(steps) and len(steps) >= 1
    assert all(s.steps == fast.steps and 0 < s.step < fast.steps and s.seconds_left >= 0 for s in recorder.statuses)


def test_several_warm_up_starts_continue_the_one_with_the_lowest_trial_loss(monkeypatch) -> None:
    """With several starts each trains the trial share of the warm-up; the one whose mean loss over the last
    fifth of its trial is lowest continues, and only it: the full model gets its latents."""
    image = synthetic_image(48, 64, 3, seed=5)
    monkeypatch.setattr(trainer_module, "_WARM_UP_TRIAL", 0.2)
    losses: dict[int, list[float]] = {}
    created: list[trainer_module._Trainer] = []
    step = trainer_module._Trainer.step

    def recording_step(self: trainer_module._Trainer, ste: bool) -> float:
        if self.image.height == 24:  # the half-resolution starts
            if id(self) not in losses:
                created.append(self)
            losses.setdefault(id(self), []).append(loss := step(self, ste))
            return loss
        return step(self, ste)

    monkeypatch.setattr(trainer_module._Trainer, "step", recording_step)
    warmed = _trainer(image)
    trainer_module.warm_up(warmed, 100, 0.02, seed=0, starts=3)
    assert trainer_module.warm_up_total(100, 3) == 140 and trainer_module.warm_up_total(100, 1) == 100
    counts = [len(losses[id(t)]) for t in created]
    scores = [np.mean(losses[id(t)][16:20]) for t in created]
    winner = int(np.argmin(scores))
    assert len(created) == 3 and sorted(counts) == [20, 20, 100] and counts[winner] == 100
    fine = warmed.model.levels[0] * 48 * 64
    assert np.array_equal(warmed.params.latents[fine:], created[winner].params.latents)
    built: list[int] = []
    init = trainer_module._Trainer.__init__

    def counting_init(self: trainer_module._Trainer, colour: np.ndarray, *args, **kwargs) -> None:
        built.append(colour.shape[0])
        init(self, colour, *args, **kwargs)

    monkeypatch.setattr(trainer_module._Trainer, "__init__", counting_init)
    full = _trainer(image)
    assert trainer_module.warm_up_trial(4, 3) == 0  # 20 % of 4 steps: no room for a trial, so one start
    trainer_module.warm_up(full, 4, 0.02, seed=0, starts=3)
    assert built == [48, 24]


def test_rate_priced_by_context_class_trains_a_scale_per_grid_and_class() -> None:
    """With rate_contexts the proxy has CONTEXT_CLASSES log-scales a grid; the warm-up hands the coarse grids'
    class scales over (level 0's stay at their start), and the full-resolution training moves them too; the
    file it writes decodes like any other."""
    image = synthetic_image(48, 64, 3, seed=7)
    trainer = _trainer(image, rate_contexts=True)
    grids, classes = len(trainer.model.grid_shapes(trainer.image)), R.CONTEXT_CLASSES
    assert trainer.params.log_scales.size == grids * classes
    plain = _trainer(image)
    assert plain.params.log_scales.size == grids
    assert trainer.params.flat.size == plain.params.flat.size + grids * (classes - 1)
    trainer_module.warm_up(trainer, 100, 0.02, seed=0)
    scales = trainer.params.log_scales
    assert not np.any(scales[:classes]) and np.any(scales[classes:])
    warmed = scales.copy()
    losses = [trainer.step(ste=False) for _ in range(30)]
    assert np.any(trainer.params.log_scales[:classes] != warmed[:classes])
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert np.all(np.isfinite(trainer.params.flat))


def test_an_effort_with_rate_contexts_writes_a_file_that_decodes(monkeypatch) -> None:
    image = synthetic_image(24, 32, 3, seed=8)
    fast = EFFORTS["fast"]
    monkeypatch.setitem(EFFORTS, "fast", replace(fast, rate_contexts=True, steps=60, warm_up_steps=40))
    result = saecodec.encode_with_stats(image, KEY, effort="fast", quality=60)
    decoded = saecodec.decode(result.data, KEY)
    assert decoded.shape == image.shape
    assert result.psnr == pytest.approx(saecodec.metrics.psnr(image, decoded), abs=1e-9)


def test_soap_on_the_network_trains_it_and_adam_the_latents() -> None:
    """With network_optimiser "soap" the latents and scales still take Adam's kernel (their moments move) and
    the network SOAP's (Adam's moments for it stay zero); training brings the loss down, the warm-up too, and
    the same seed gives the same parameters."""
    image = synthetic_image(48, 64, 3, seed=9)
    runs = []
    for _ in range(2):
        trainer = _trainer(image, network_optimiser="soap")
        trainer_module.warm_up(trainer, 60, 0.02, seed=0)
        losses = [trainer.step(ste=False) for _ in range(40)]
        runs.append(trainer.params.flat.copy())
    p = trainer.params
    tensors_start = p.latent_count + p.log_scales.size
    assert np.any(trainer.m[: p.latent_count]) and not np.any(trainer.m[tensors_start:])
    assert not np.any(trainer.grad)  # every gradient consumed
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert np.array_equal(runs[0], runs[1])
    adam = _trainer(image)
    trainer_module.warm_up(adam, 60, 0.02, seed=0)
    for _ in range(40):
        adam.step(ste=False)
    assert not np.array_equal(adam.params.tensors[0], p.tensors[0])


def test_an_unknown_network_optimiser_is_refused() -> None:
    with pytest.raises(ValueError, match="optimiser"):
        _trainer(synthetic_image(8, 8, 3, seed=1), network_optimiser="sgd")


@pytest.mark.parametrize("optimiser", ["adam", "soap"])
def test_the_network_learning_rate_scales_the_network_alone(optimiser: str) -> None:
    image = synthetic_image(16, 24, 3, seed=10)
    trainer = _trainer(image, network_optimiser=optimiser, network_lr_scale=0.0)
    tensors = [t.copy() for t in trainer.params.tensors]
    latents = trainer.params.latents.copy()
    for _ in range(5):
        trainer.step(ste=False)
    assert all(np.array_equal(a, b) for a, b in zip(tensors, trainer.params.tensors))
    assert not np.array_equal(latents, trainer.params.latents)
