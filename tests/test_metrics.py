"""Metrics checked against hand computations."""

import json
import math

import numpy as np
import pytest

from sysnoise.intervals import (
    holm_adjusted,
    mcnemar_sample_size,
    min_detectable_delta,
    paired_difference_interval,
    paired_difference_intervals,
)
from sysnoise.metrics import (
    NoiseMetrics,
    category_summary,
    flip_rate,
    mcnemar_exact,
    noise_metrics,
    paired_interval,
    psnr,
    topk_accuracy,
    wilson_interval,
)

# Ten images. Rows 7 and 8 are unlabelled, row 9 failed to decode (valid False).
#   row  ref top-5         noisy top-5        label  ref@1 ref@5 noisy@1 noisy@5 flip
#   0    1 2 3 4 5         1 2 3 4 5          1      ok    ok    ok      ok      -
#   1    2 1 3 4 5         2 1 3 4 5          1      -     ok    -       ok      -
#   2    3 4 5 6 7         4 3 5 6 7          3      ok    ok    -       ok      yes  (broken)
#   3    5 6 7 8 9         5 6 7 8 9          5      ok    ok    ok      ok      -
#   4    6 7 8 9 0         0 6 7 8 9          0      -     ok    ok      ok      yes  (fixed)
#   5    7 8 9 10 11       8 9 10 11 12       7      ok    ok    -       -       yes  (broken)
#   6    9 8 7 6 5         9 8 7 6 5          20     -     -     -       -       -
#   7    1 2 3 4 5         2 1 3 4 5          -1     unlabelled                  yes
#   8    3 4 5 6 7         3 4 5 6 7          -1     unlabelled                  -
#   9    0 1 2 3 4         5 6 7 8 9          0      invalid: excluded everywhere
# Labelled valid rows 0..6 (7): ref@1 4/7, noisy@1 3/7, delta 1/7; ref@5 6/7, noisy@5 5/7.
# b (broken) = 2 (rows 2, 5), c (fixed) = 1 (row 4); McNemar p = P(|X - 1.5| >= 0.5) = 1.0.
# Flips over the 9 valid rows: rows 2, 4, 5, 7 -> 4/9.
REF = np.array(
    [
        [1, 2, 3, 4, 5],
        [2, 1, 3, 4, 5],
        [3, 4, 5, 6, 7],
        [5, 6, 7, 8, 9],
        [6, 7, 8, 9, 0],
        [7, 8, 9, 10, 11],
        [9, 8, 7, 6, 5],
        [1, 2, 3, 4, 5],
        [3, 4, 5, 6, 7],
        [0, 1, 2, 3, 4],
    ]
)
NOISY = np.array(
    [
        [1, 2, 3, 4, 5],
        [2, 1, 3, 4, 5],
        [4, 3, 5, 6, 7],
        [5, 6, 7, 8, 9],
        [0, 6, 7, 8, 9],
        [8, 9, 10, 11, 12],
        [9, 8, 7, 6, 5],
        [2, 1, 3, 4, 5],
        [3, 4, 5, 6, 7],
        [5, 6, 7, 8, 9],
    ]
)
LABELS = np.array([1, 1, 3, 5, 0, 7, 20, -1, -1, 0])
VALID = np.array([True] * 9 + [False])


def test_noise_metrics_hand_example() -> None:
    m = noise_metrics(REF, NOISY, LABELS, VALID)
    assert (m.n_images, m.n_failed, m.n_labelled) == (9, 1, 7)
    assert m.ref_top1 == 4 / 7 and m.top1 == 3 / 7
    assert m.ref_top5 == 6 / 7 and m.top5 == 5 / 7
    assert m.delta_top1 == 1 / 7 and m.delta_top5 == 1 / 7
    assert (m.n_broken, m.n_fixed) == (2, 1)
    assert m.mcnemar_p == 1.0
    assert m.flip_rate == 4 / 9
    assert m.flip_rate_ci == wilson_interval(4, 9)
    low, high = m.delta_top1_ci
    assert low <= 1 / 7 <= high
    assert all(type(v) is float for v in (m.top1, m.top5, m.delta_top1, m.flip_rate, low, high))
    # Top-5 table: ref@5 and noisy@5 agree except row 5 (broken), so (5, 1, 0, 1) of 7.
    assert (m.n_broken_top5, m.n_fixed_top5) == (1, 0)
    assert m.delta_top5_ci == paired_difference_interval(5, 1, 0, 1)
    assert m.delta_top1_ci == paired_difference_interval(2, 2, 1, 2)
    assert m.min_detectable_delta_top1 == min_detectable_delta(7, 3 / 7)


def test_noise_metrics_unlabelled_and_empty() -> None:
    unlabelled = noise_metrics(REF, NOISY, np.full(10, -1), VALID)
    assert unlabelled.n_labelled == 0 and unlabelled.flip_rate == 4 / 9
    for name in ("top1", "top5", "ref_top1", "delta_top1", "delta_top1_ci", "mcnemar_p"):
        assert getattr(unlabelled, name) is None
    assert (unlabelled.n_broken, unlabelled.n_fixed) == (0, 0)
    empty = noise_metrics(REF, NOISY, LABELS, np.zeros(10, dtype=bool))
    assert (empty.n_images, empty.n_failed) == (0, 10)
    assert empty.flip_rate is None and empty.flip_rate_ci is None and empty.top1 is None


def test_noise_metrics_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        noise_metrics(REF, NOISY[:, :3], LABELS, VALID)
    with pytest.raises(ValueError):
        noise_metrics(REF, NOISY, LABELS, VALID[:5])


def test_topk_accuracy_and_flip_rate() -> None:
    valid_rows = slice(0, 7)
    assert topk_accuracy(REF[valid_rows], LABELS[valid_rows], 1) == 4 / 7
    assert topk_accuracy(NOISY[valid_rows], LABELS[valid_rows], 5) == 5 / 7
    # Unlabelled rows are ignored: rows 0..8 give the same as rows 0..6.
    assert topk_accuracy(REF[:9], LABELS[:9], 1) == 4 / 7
    assert flip_rate(REF[:9, 0], NOISY[:9, 0]) == 4 / 9
    with pytest.raises(ValueError):
        topk_accuracy(REF, np.full(10, -1), 1)


def test_wilson_interval_by_hand() -> None:
    # 3/10: p = 0.3, z^2/n = 0.384146, centre = (0.3 + 0.192073) / 1.384146 = 0.355507,
    # half = 1.959964 / 1.384146 * sqrt(0.021 + 0.009604) = 0.247715 -> (0.107791, 0.603222).
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.107791, abs=1e-6)
    assert high == pytest.approx(0.603222, abs=1e-6)
    # 0/10: centre = half = 0.192073 / 1.384146 = 0.138766 -> (0, 0.277533); 10/10 mirrors it.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert wilson_interval(10, 10) == (pytest.approx(0.722467, abs=1e-6), 1.0)
    for s in (0, 3, 10):
        low, high = wilson_interval(s, 10)
        assert 0.0 <= low <= s / 10 <= high <= 1.0
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_mcnemar_exact_by_hand() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 * 0.5**5)
    # b=7, c=2: two-sided = 2 * P(X <= 2 | n=9) = 2 * (1 + 9 + 36) / 512 = 0.1796875.
    hand = 2 * sum(math.comb(9, k) for k in range(3)) / 2**9
    assert mcnemar_exact(7, 2) == pytest.approx(hand)
    assert mcnemar_exact(2, 7) == pytest.approx(hand)


def test_paired_interval_matches_a_published_example() -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8:
    # complete response before and after consolidation therapy (Cavo et al. 2012), table
    # [[59, 6], [16, 80]]: Newcombe square-and-add (hybrid score) estimate -0.0621,
    # 95% CI -0.1186 to -0.0046.
    low, high = paired_difference_interval(59, 6, 16, 80)
    assert (low, high) == (pytest.approx(-0.1186, abs=5e-5), pytest.approx(-0.0046, abs=5e-5))
    # Swapping the two proportions mirrors the interval.
    assert paired_difference_interval(59, 16, 6, 80) == pytest.approx((-high, -low))


def test_paired_interval_does_not_collapse_without_discordance() -> None:
    # No image changes correctness: the delta is 0 but 20 images cannot prove it is exactly 0.
    low, high = paired_difference_interval(15, 0, 0, 5)
    assert low < -0.05 and high > 0.05 and low == pytest.approx(-high)
    # Only broken images: the lower bound is above 0 once there are enough of them.
    assert paired_difference_interval(60, 12, 0, 28)[0] > 0
    ref = np.array([True] * 8 + [False] * 2)
    noisy = np.array([True] * 6 + [False] * 3 + [True])
    assert paired_interval(ref, noisy) == paired_difference_interval(6, 2, 1, 1)
    with pytest.raises(ValueError):
        paired_difference_interval(0, 0, 0, 0)


def test_paired_interval_covers_in_simulation() -> None:
    # 4,000 tables of 200 images, 10% discordant, 3/4 of them broken: about 95% coverage.
    probs = [0.7 - 0.075, 0.075, 0.025, 0.3 - 0.025]
    tables = np.random.default_rng(7).multinomial(200, probs, size=4000)
    low, high = paired_difference_intervals(*tables.T)
    covered = ((low <= 0.05) & (0.05 <= high)).mean()
    assert 0.93 <= covered <= 0.97


def test_wilson_interval_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for successes, n in ((0, 10), (3, 10), (10, 10), (1, 25), (40, 118)):
        low, high = wilson_interval(successes, n)
        want = proportion_confint(successes, n, alpha=0.05, method="wilson")
        assert (low, high) == pytest.approx(want, abs=1e-12)
        assert 0.0 <= low <= successes / n <= high <= 1.0


def test_holm_adjusted_by_hand() -> None:
    # Sorted 0.01 < 0.03 < 0.04 (m = 3): 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04); None is kept.
    assert holm_adjusted([0.04, None, 0.01, 0.03]) == pytest.approx([0.06, None, 0.03, 0.06])
    assert holm_adjusted([None]) == [None]
    assert holm_adjusted([0.5, 0.9]) == [1.0, 1.0]


def test_min_detectable_delta_has_the_stated_power() -> None:
    n, discordance = 1000, 0.05
    delta = min_detectable_delta(n, discordance)
    assert mcnemar_sample_size(delta, discordance) == pytest.approx(n)
    # Simulated McNemar z-tests at that delta reject about 80% of the time.
    broken, fixed = (discordance + delta) / 2, (discordance - delta) / 2
    draws = np.random.default_rng(0).multinomial(n, [broken, fixed, 1 - discordance], size=5000)
    z = (draws[:, 0] - draws[:, 1]) / np.sqrt(np.maximum(draws[:, 0] + draws[:, 1], 1))
    assert (np.abs(z) > 1.959964).mean() == pytest.approx(0.80, abs=0.03)
    # Fewer images: larger deltas; a delta above the discordance needs that much discordance.
    assert min_detectable_delta(20, 0.05) > delta
    assert min_detectable_delta(20, 0.0) == pytest.approx(min_detectable_delta(20, 0.3))
    assert min_detectable_delta(2, 0.1) is None and min_detectable_delta(0, 0.1) is None


def test_psnr() -> None:
    assert psnr(0.0) is None
    assert psnr(1.0) == pytest.approx(48.1308036087, abs=1e-9)  # 20 * log10(255)
    assert psnr(1.0, peak=1.0) == 0.0
    with pytest.raises(ValueError):
        psnr(-1.0)


def test_category_summary_by_hand() -> None:
    rows = [
        {"category": "decode", "delta_top1": 0.01, "flip_rate": 0.1},
        {"category": "decode", "delta_top1": 0.03, "flip_rate": 0.3},
        {"category": "decode", "delta_top1": None, "flip_rate": 0.2},
        {"category": "resize", "delta_top1": None, "flip_rate": None},
    ]
    summary = category_summary(rows)
    decode = summary["decode"]
    # delta values 0.01, 0.03: mean 0.02, max 0.03, population std sqrt((0.01^2 + 0.01^2) / 2).
    assert decode["n_noises"] == 3
    assert decode["mean"] == pytest.approx(0.02)
    assert decode["max"] == pytest.approx(0.03)
    assert decode["std"] == pytest.approx(0.01)
    assert decode["flip_mean"] == pytest.approx(0.2)
    assert decode["flip_max"] == pytest.approx(0.3)
    assert decode["mean_abs"] == pytest.approx(0.02)
    assert summary["resize"] == {
        "n_noises": 1,
        "mean": None,
        "mean_abs": None,
        "max": None,
        "std": None,
        "flip_mean": None,
        "flip_max": None,
    }
    flips = category_summary(rows, value="flip_rate")["decode"]
    # flip rates 0.1, 0.3, 0.2: std = sqrt((0.01 + 0.01 + 0) / 3).
    assert flips["mean"] == pytest.approx(0.2)
    assert flips["std"] == pytest.approx(math.sqrt(0.02 / 3))


def test_category_summary_does_not_cancel_and_stacks_are_their_last_step() -> None:
    rows = [
        {"category": "precision", "delta_top1": -0.05, "flip_rate": 0.16},
        {"category": "precision", "delta_top1": 0.05, "flip_rate": 0.12},
        {"category": "combined", "delta_top1": 0.02, "flip_rate": 0.1},
        {"category": "combined", "delta_top1": 0.08, "flip_rate": 0.3},
    ]
    summary = category_summary(rows)
    precision = summary["precision"]
    assert precision["mean"] == pytest.approx(0.0) and precision["mean_abs"] == pytest.approx(0.05)
    assert precision["flip_mean"] == pytest.approx(0.14)
    combined = summary["combined"]
    assert combined["n_noises"] == 2 and combined["std"] is None
    assert (combined["mean"], combined["max"], combined["flip_mean"]) == (0.08, 0.08, 0.3)


def test_to_dict_is_json_ready() -> None:
    for valid in (VALID, np.zeros(10, dtype=bool)):
        m = noise_metrics(REF, NOISY, LABELS, valid)
        d = m.to_dict()
        json.dumps(d, allow_nan=False)
        assert set(d) == set(NoiseMetrics.__dataclass_fields__)
    d = noise_metrics(REF, NOISY, LABELS, VALID).to_dict()
    assert isinstance(d["delta_top1_ci"], list) and isinstance(d["flip_rate_ci"], list)
    assert type(d["n_images"]) is int
