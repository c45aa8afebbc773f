"""The measurement tools in tools/ run from a fresh clone: smoke runs on small synthetic images.

They print the numbers the README quotes, so a tool that no longer runs would leave the README unverifiable.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import synthetic_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import bench_speed  # noqa: E402
import decoder_capacity  # noqa: E402
import reproduce_paper  # noqa: E402


@pytest.fixture(scope="module")
def paper_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a small synthetic 'lake' (the tools look the paper's numbers up by name)."""
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(synthetic_image(32, 48, 3, seed=7)).save(folder / "lake.png")
    return folder


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell} |")
    ]


@pytest.mark.parametrize("level", [1, 2])
def test_decoder_capacity_prints_a_row_per_channel(paper_like, capsys, level):
    assert decoder_capacity.main([str(paper_like), "--level", str(level), "--steps", "30", "--images", "lake"]) == 0
    rows = table_rows(capsys.readouterr().out, "lake")
    assert [r[1] for r in rows] == ["R", "G", "B"]
    for row in rows:
        pca = [float(v) for v in row[3:8]]
        assert pca == sorted(pca)  # more components never reconstruct worse
        assert all(float(v) > 10 for v in row[8:10])  # the auto-decoders trained to something


def test_decoder_capacity_refuses_unknown_images(paper_like, capsys):
    assert decoder_capacity.main([str(paper_like), "--images", "house"]) == 2
    assert "house" in capsys.readouterr().err


@pytest.mark.parametrize("specialised", [False, True])
def test_reproduce_paper_writes_both_tables(paper_like, tmp_path, capsys, specialised):
    argv = [str(paper_like), "--out", str(tmp_path), "--keys", "1", "--no-figures"]
    argv += ["--specialised", "--steps", "50"] if specialised else []
    assert reproduce_paper.main(argv) == 0
    text = (tmp_path / "reproduction.md").read_text(encoding="utf-8")
    assert text == capsys.readouterr().out
    assert len(table_rows(text, "lake")) >= 2  # Tables 1 and 2 at least
    assert text.count("**PSNR ≥ paper: ") == 2 and "mean Δ" in text
    assert ("--specialised" in text) == specialised
    assert not list(tmp_path.glob("*.png"))


def test_bench_speed_prints_its_three_tables(tmp_path, capsys):
    source = tmp_path / "small.png"
    Image.fromarray(synthetic_image(128, 160, 3, seed=2)).save(source)  # 1 bpp must be reachable
    assert bench_speed.main([str(source), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("saecodec paper profile, level 2 (16:1)", "saecodec rd profile, target 1 bpp", "Pillow JPEG q=90",
                "| logistic |", "JIT compile time", "fraction of that"):
        assert row in out
    level_1 = next(line for line in out.splitlines() if line.startswith("| saecodec paper profile, level 1"))
    assert float(level_1.split("|")[2]) > 0  # encode milliseconds, measured


def test_bench_batch_prints_its_table(tmp_path, capsys):
    import bench_batch

    for seed in range(3):
        Image.fromarray(synthetic_image(32, 48, 3, seed=seed)).save(tmp_path / f"img{seed}.png")
    assert bench_batch.main([str(tmp_path), "--repeat", "2", "--no-dask", "--no-zarr"]) == 0
    out = capsys.readouterr().out
    assert "## Batch throughput (6 files, 0.0 MP" in out
    rows = {(r[0], r[1]): r for r in table_rows(out, "API loop") + table_rows(out, "saec --workers 2")}
    assert rows["API loop", "encode"][5] == "1.00x"
    assert float(rows["saec --workers 2", "decode"][3]) > 0  # images/s, measured


def test_bd_pair_compares_two_codecs_directly(tmp_path, capsys):
    """A codec 1 dB above another at every rate is +1 dB BD-PSNR against it; dominated points are ignored."""
    import bd_pair

    rows = ["codec,image,setting,bytes,bpp,nominal_bpp,psnr_rgb,psnr_r,psnr_g,psnr_b,msssim,encode_ms,decode_ms,dominated"]
    for image in ("a", "b"):
        for i, bpp in enumerate((0.3, 0.5, 0.8, 1.1, 1.5, 2.0, 2.5)):
            base = 30 + 6 * (bpp ** 0.5)
            rows.append(f"ref,{image},{i},0,{bpp},,{base:.4f},,,,,0,0,0")
            rows.append(f"new,{image},{i},0,{bpp},,{base + 1:.4f},,,,,0,0,0")
        rows.append(f"new,{image},99,0,1.0,,10.0,,,,,0,0,1")  # dominated: must not bend the curve
    points = tmp_path / "rd_points.csv"
    points.write_text("\n".join(rows) + "\n")
    assert bd_pair.main([str(points), "--test", "new", "--ref", "ref", "--range", "0.5", "2"]) == 0
    out = capsys.readouterr().out
    assert "| **mean (2/2 images)** |" in out and "+1.00 dB" in out


def test_gap_by_setting_groups_the_gap_per_quality(tmp_path, capsys):
    """Each test point against the reference at the same bpp (log-bpp interpolation), grouped by setting;
    a point beyond the reference's rates is left out."""
    import gap_by_setting

    rows = ["codec,image,setting,bytes,bpp,nominal_bpp,psnr_rgb,psnr_r,psnr_g,psnr_b,msssim,encode_ms,decode_ms,dominated"]
    for image in ("a", "b"):
        rows += [f"ref,{image},{i},0,{bpp},,{30 + 10 * i},,,,,0,0,0" for i, bpp in enumerate((0.25, 0.5, 1.0))]
    rows.append("new,a,10,0,0.5,,39.0,,,,,0,0,0")  # ref 40 there: -1
    rows.append("new,b,10,0,0.3535534,,36.5,,,,,0,0,0")  # half-way in log-bpp between 0.25 and 0.5: ref 35, +1.5
    rows.append("new,a,20,0,1.0,,48.0,,,,,0,0,0")  # -2
    rows.append("new,b,20,0,2.0,,60.0,,,,,0,0,0")  # beyond the reference: left out
    points = tmp_path / "rd_points.csv"
    points.write_text("\n".join(rows) + "\n")
    table = gap_by_setting.gaps([points], "new", "ref")
    assert sorted(table) == ["10", "20"] and len(table["20"]) == 1
    assert [round(g, 6) for _, _, g in sorted(table["10"])] == [-1.0, 1.5]
    assert gap_by_setting.main([str(points), "--test", "new", "--ref", "ref"]) == 0
    out = capsys.readouterr().out
    assert "| 10 | 2 | 0.43 | +0.25 dB | -1.00 dB | +1.50 dB |" in out and "| 20 | 1 | 1.00 | -2.00 dB |" in out
    assert gap_by_setting.main([str(points), "--test", "none", "--ref", "ref"]) == 1


def test_overfit_point_prints_a_trial_against_the_rd_profile(tmp_path, capsys):
    """A trial (a crop, fewer steps) runs the real encoder and container and prints both profiles' points."""
    import overfit_point

    Image.fromarray(synthetic_image(40, 56, 3, seed=8)).save(tmp_path / "photo.png")
    assert overfit_point.main([str(tmp_path / "photo.png"), "--effort", "fast", "--quality", "50", "--crop", "32x48",
                               "--steps", "20", "--warm-up-steps", "12", "--warm-up-starts", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("photo.png 32x48 crop, effort fast (trial: ")
    assert "12 warm-up (2 starts) + 20 steps" in out and " | rd " in out and out.rstrip().endswith("dB)")


def test_overfit_point_splits_the_error_into_luma_and_chroma(tmp_path, capsys):
    """--by-channel prints each codec's Y/Cb/Cr PSNR; an error along one chroma axis shows in that plane only."""
    import overfit_point

    reference = synthetic_image(16, 16, 3, seed=3).astype(np.int16).clip(20, 235)
    shifted = reference + np.array([0.0, 0.0, 2.0])  # B + 2: Y by 0.228, Cb by 1.0, Cr by -0.163
    y, cb, cr = overfit_point.ycbcr_psnr(reference.astype(np.uint8), shifted)
    assert cb < y < cr
    assert abs(cb - 10 * np.log10(255.0**2 / 1.0)) < 1e-9
    assert overfit_point.ycbcr_psnr(reference.astype(np.uint8), reference)[0] == float("inf")
    Image.fromarray(synthetic_image(40, 56, 3, seed=8)).save(tmp_path / "photo.png")
    assert overfit_point.main([str(tmp_path / "photo.png"), "--effort", "fast", "--crop", "24x32", "--steps", "8",
                               "--warm-up-steps", "0", "--by-channel"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  overfit Y/Cb/Cr PSNR: ") and lines[2].startswith("  rd Y/Cb/Cr PSNR: ")
    assert lines[2].endswith(" dB") and lines[2].count(" / ") == 2


def test_arm_oracle_bits_and_their_gradient_agree_with_the_distribution() -> None:
    """The discretised Laplace sums to one over the integers (but for the mass under the probability floor),
    and its gradient is the bits' slope."""
    import numpy as np

    import arm_oracle

    values = np.arange(-200, 201, dtype=np.float64)
    for mu, log_b in ((0.0, 0.0), (1.3, -1.5), (-2.7, 1.2)):
        bits = arm_oracle.laplace_bits(values, np.full(values.size, mu), np.full(values.size, log_b))
        above_floor = bits < 16.0
        assert np.sum(2.0 ** -bits[above_floor]) == pytest.approx(1.0, abs=1e-3)
    rng = np.random.default_rng(1)
    v = rng.integers(-5, 6, 500).astype(np.float64)
    mu, log_b = rng.normal(0, 2, 500), rng.normal(0, 1, 500)
    bits, g_mu, g_log_b = arm_oracle.laplace_bits(v, mu, log_b, need_grad=True)
    eps = 1e-6
    num_mu = (arm_oracle.laplace_bits(v, mu + eps, log_b) - arm_oracle.laplace_bits(v, mu - eps, log_b)) / (2 * eps)
    num_lb = (arm_oracle.laplace_bits(v, mu, log_b + eps) - arm_oracle.laplace_bits(v, mu, log_b - eps)) / (2 * eps)
    live = bits < 15.9  # away from the probability floor
    assert np.allclose(g_mu[live], num_mu[live], atol=1e-6) and np.allclose(g_log_b[live], num_lb[live], atol=1e-6)


def test_arm_oracle_reports_lc1_against_the_ideal_models(tmp_path, capsys) -> None:
    """The oracle encodes with the real encoder, catches the file's grids and prints the three costs."""
    import arm_oracle

    Image.fromarray(synthetic_image(40, 56, 3, seed=8)).save(tmp_path / "photo.png")
    assert arm_oracle.main([str(tmp_path / "photo.png"), "--effort", "fast", "--quality", "60", "--steps", "5",
                            "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("photo.png, effort fast, quality 60: file ")
    assert "lc1 (in the file)" in out and "factorised Laplace, ideal" in out and "ARM " in out
    assert "lc1-context Laplace, ideal" in out
    assert "ARM saving against the whole file:" in out


def test_arm_oracle_context_class_is_lc1s_activity_and_parent_flag() -> None:
    """A = 2|a| + 2|b| + |c| + |d| + |e| + |f| (left, above, above-left, above-right, two left, two above),
    capped at 15, plus 16 where the co-located parent is non-zero (spec/lc1-latent-coder.md section 4)."""
    import numpy as np

    import arm_oracle

    parent = np.array([[0, 3], [0, 0]], np.int32)
    grid = np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 2, -1], [0, 0, 0, 0]], np.int32)
    x, v = arm_oracle.features([parent, grid])
    classes = arm_oracle.context_classes(x).reshape(-1)
    child = classes[4:].reshape(4, 4)
    # (2, 3): a = 2, b = 0, c = 0, d = 0 (edge), e = 0, f = 0 -> 4; parent (1, 1) = 0
    # (1, 1): b = 1 above -> 2; parent (0, 0) = 0
    # (1, 2): c = 1 above-left -> 1; parent (0, 1) = 3 -> +16
    # (3, 2): b = 2 -> 4, c = 0, d = |-1| = 1, f = 0 -> 5
    assert (child[2, 3], child[1, 1], child[1, 2], child[3, 2]) == (4, 2, 17, 5)
    assert np.array_equal(v[4:].reshape(4, 4), grid)


def test_arm_oracle_agrees_with_the_training_kernels() -> None:
    """The oracle's numpy Laplace at zero mean is the kernels' rate proxy (laplace_rate), and its context
    classes are the kernels' (context_classes, less the grid's 32 a grid): the oracle prices what training does."""
    import numpy as np

    import arm_oracle
    from saecodec.kernels import rate

    rng = np.random.default_rng(4)
    v = rng.integers(-9, 10, 3000).astype(np.float64)
    for log_b in (-1.0, 0.3, 2.0):
        ours = arm_oracle.laplace_bits(v, np.zeros_like(v), np.full_like(v, log_b)).sum()
        kernel = rate.laplace_rate(v, None, np.array([0, v.size]), np.array([log_b]))
        assert ours == pytest.approx(kernel, rel=1e-9)
    coarse = (rng.integers(-2, 3, (5, 7)) * rng.integers(0, 2, (5, 7))).astype(np.int32)
    fine = (rng.integers(-3, 4, (10, 13)) * rng.integers(0, 2, (10, 13))).astype(np.int32)
    x, _ = arm_oracle.features([coarse, fine])  # coding order: the coarse grid first, the fine one's parent
    theirs = arm_oracle.context_classes(x)
    latents = np.concatenate([fine.ravel(), coarse.ravel()]).astype(np.float32)  # layout: level 0 first
    classes = np.empty(latents.size, np.int32)
    rate.context_classes([fine.shape, coarse.shape], rate.context_parents((1, 1)), latents, classes)
    assert np.array_equal(classes[:fine.size], theirs[coarse.size:])
    assert np.array_equal(classes[fine.size:] - rate.CONTEXT_CLASSES, theirs[:coarse.size])


def test_screen_overfit_draws_points_reproducibly():
    import screen_overfit

    images = [f"kodim{i}" for i in range(13, 25)]
    points = screen_overfit.draw_points(images, [65, 80], 8, 202612073)
    assert len(set(points)) == 8 and points == screen_overfit.draw_points(images, [65, 80], 8, 202612073)
    assert sorted(points) == [("kodim13", 80), ("kodim14", 65), ("kodim14", 80), ("kodim15", 65), ("kodim16", 65),
                              ("kodim17", 80), ("kodim20", 80), ("kodim22", 80)]  # stage 11's high-rate screen
    with pytest.raises(ValueError, match="only 2 distinct"):
        screen_overfit.draw_points(["a"], [1, 2], 3, 0)
    assert screen_overfit.parse_trial("B=--levels 1,1,2 --seed 3") == ("B", ["--levels", "1,1,2", "--seed", "3"])
    for bad in ("base=--steps 3", "no-equals", "a b=--steps 3"):
        with pytest.raises(argparse.ArgumentTypeError):
            screen_overfit.parse_trial(bad)


def test_screen_overfit_pairs_each_trial_with_the_baseline():
    import screen_overfit

    points = [("a", 65), ("b", 80)]
    gaps = {("base", points[0], 0): -0.5, ("base", points[1], 0): -1.0, ("base", points[0], 1): -0.7,
            ("base", points[1], 1): None,  # a failed run: its pair is left out
            ("t", points[0], 0): -0.1, ("t", points[1], 0): -1.2, ("t", points[0], 1): 0.1, ("t", points[1], 1): 0.0}
    table = screen_overfit.summarise(points, [0, 1], ["base", "t"], gaps)
    assert "| a q65 | -0.50 | -0.70 | -0.10 | +0.10 |" in table and "| b q80 | -1.00 |  | -1.20 | +0.00 |" in table
    # pairs: +0.4, -0.2, +0.8 -> mean +0.33, sd 0.50, se 0.29, 2 of 3 better; own mean over 4 runs -0.30
    assert "| t | 4 | -0.30 dB | +0.33 dB | 0.50 | 0.29 | 2 of 3 |" in table
    assert "| base | 3 | -0.73 dB |" in table


def test_screen_overfit_runs_resumes_and_reports(tmp_path, capsys):
    """Real runs (two tiny crops of one image), kept on disk: a second call runs nothing again."""
    import screen_overfit

    Image.fromarray(synthetic_image(40, 56, 3, seed=8)).save(tmp_path / "photo.png")
    argv = [str(tmp_path), "--points", "photo:50", "--seeds", "0", "--crop", "24x32", "--jobs", "2",
            "--common", "--effort fast --steps 6 --warm-up-steps 0", "--trial", "wide=--hidden 24,24",
            "--out", str(tmp_path / "runs")]
    assert screen_overfit.main(argv) == 0
    out = capsys.readouterr().out
    assert "trials (every run: --effort fast --steps 6 --warm-up-steps 0): base = the effort as shipped; " \
           "wide = --hidden 24,24" in out
    assert re.search(r"\| wide \| 1 \| [-+][0-9.]+ dB \| [-+][0-9.]+ dB \| nan \| nan \| [01] of 1 \|", out)
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["base-photo-q50-s0.txt", "wide-photo-q50-s0.txt"]
    assert "hidden [24, 24]" in (tmp_path / "runs" / runs[1]).read_text()
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    assert screen_overfit.main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()} == stamp
    (tmp_path / "runs" / runs[1]).write_text("Traceback: a run that failed\n")  # a failed run is run again
    assert screen_overfit.main(argv) == 0
    assert "hidden [24, 24]" in (tmp_path / "runs" / runs[1]).read_text()
    capsys.readouterr()
    assert screen_overfit.main(argv + ["--trial", "bad=--hidden x"]) == 1
    assert "1 runs printed no result (see " in capsys.readouterr().err
    assert "error: argument --hidden" in (tmp_path / "runs" / "bad-photo-q50-s0.txt").read_text()
    assert screen_overfit.main([str(tmp_path), "--points", "photo-50", "--out", str(tmp_path / "runs")]) == 1
    assert "--points is IMAGE:QUALITY" in capsys.readouterr().err
