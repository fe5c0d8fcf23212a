"""The learning-rate search: the rounds it tries, what it picks, and the batched scorer."""

import math

import numpy as np
import pandas as pd
import pytest

from activation_study.network.model import ModelSpec
from activation_study.training.engine import TrainSettings, train_batched
from activation_study.training.lr_search import (
    SearchSettings,
    batched_scorer,
    bracket,
    decade_gap,
    models_trained,
    search,
)
from tests.test_engine import toy_split

PAPER_GRID = [1e-2, 1e-3, 1e-4]


def peaked_scorer(best_log10: float, seeds=(0, 1, 2), calls=None):
    """Accuracy falls linearly with the decade distance from 10**best_log10; seeds add noise
    that averages out."""

    def score(rates):
        if calls is not None:
            calls.append(list(rates))
        rows = [{"lr": r, "seed": s,
                 "best_validation_acc": 90 - 10 * abs(math.log10(r) - best_log10) + (s - 1),
                 "best_epoch": 1} for r in rates for s in seeds]
        return pd.DataFrame(rows)

    return score


def test_rounds_bisect_in_log_space_towards_the_best_rate():
    calls = []
    settings = SearchSettings(grid=PAPER_GRID, rounds=4, epochs=1, seeds=[0, 1, 2])
    result = search(peaked_scorer(-2.3, calls=calls), settings)
    # round 2 brackets 0.01 by half a decade, round 3 brackets the new best 0.00316 by a
    # quarter, round 4 brackets 0.00562 by an eighth
    assert calls == [[1e-2, 1e-3, 1e-4], [0.00316, 0.0316], [0.00178, 0.00562],
                     [0.00421, 0.00749]]
    assert result.lr == 0.00562  # 10**-2.25, the tried rate closest to 10**-2.3
    assert len(result.table) == 9 * 3 and set(result.table["round"]) == {1, 2, 3, 4}
    assert models_trained(settings) == 9
    by_rate = result.by_rate()
    assert [r["lr"] for r in by_rate[:3]] == [1e-2, 1e-3, 1e-4]
    assert by_rate[0]["validation_acc"]["mean"] == pytest.approx(90 - 10 * 0.3)


def test_one_round_is_the_plain_grid_and_ties_go_to_the_smaller_rate():
    flat = lambda rates: pd.DataFrame([  # noqa: E731
        {"lr": r, "seed": 0, "best_validation_acc": 50.0, "best_epoch": 1} for r in rates])
    result = search(flat, SearchSettings(grid=PAPER_GRID, rounds=1, epochs=1, seeds=[0]))
    assert result.lr == 1e-4 and len(result.table) == 3


def test_best_at_the_edge_of_the_grid_is_refined_beyond_it():
    result = search(peaked_scorer(-1.0),
                    SearchSettings(grid=PAPER_GRID, rounds=2, epochs=1, seeds=[0, 1, 2]))
    assert result.lr == 0.0316  # 10**-1.5 beyond the grid's edge: 85 against 80 for 0.01


def test_already_tried_rates_are_not_trained_again():
    calls = []
    search(peaked_scorer(-2.0, calls=calls),
           SearchSettings(grid=[1e-1, 1e-2, 1e-3], rounds=3, epochs=1, seeds=[0]))
    flat = [r for call in calls for r in call]
    assert len(flat) == len(set(flat))


def test_decade_gap_and_bracket():
    assert decade_gap(PAPER_GRID) == pytest.approx(1.0)
    assert decade_gap([1e-2, 1e-4]) == pytest.approx(2.0)
    assert decade_gap([3e-3]) == 1.0
    assert bracket(1e-3, 1.0, 2) == [0.000316, 0.00316]
    assert bracket(1e-3, 2.0, 2) == [1e-4, 1e-2]  # half the grid's gap of 2 decades
    assert bracket(1e-3, 2.0, 3) == [0.000316, 0.00316]


SPEC = ModelSpec(input_dim=20, depth=2, width=16, batchnorm=False, activation="relu")


def test_search_picks_the_rate_that_clearly_wins():
    """Adam at 3.0 blows the weights up, at 1e-6 it barely moves them in 3 epochs; 0.03
    learns the toy problem. The batched search must pick 0.03."""
    split = toy_split(n_train=600, n_val=200)
    settings = SearchSettings(grid=[3.0, 3e-2, 1e-6], rounds=1, epochs=3, seeds=[0, 1])
    result = search(batched_scorer(SPEC, split, settings, batch_size=32, lr_decay=0.99,
                                   device="cpu", progress=False), settings)
    assert result.lr == 3e-2
    means = result.table.groupby("lr")["best_validation_acc"].mean()
    assert means[3e-2] > means[3.0] + 50 and means[3e-2] > means[1e-6] + 50


def test_batched_scorer_scores_each_rate_as_if_trained_alone():
    split = toy_split()
    settings = SearchSettings(grid=[1e-2, 1e-3], rounds=1, epochs=3, seeds=[0, 1])
    scored = batched_scorer(SPEC, split, settings, batch_size=32, lr_decay=0.9,
                            device="cpu", progress=False)([1e-2, 1e-3])
    assert list(zip(scored["lr"], scored["seed"], strict=True)) == [
        (1e-2, 0), (1e-2, 1), (1e-3, 0), (1e-3, 1)]
    alone = train_batched(SPEC, split, TrainSettings(seeds=[1], epochs=3, batch_size=32,
                                                     lr=1e-3, lr_decay=0.9, device="cpu"),
                          progress=False)
    val = alone.history["validation_acc"].to_numpy()[1:]
    np.testing.assert_allclose(scored["best_validation_acc"].iloc[3], val.max(), atol=1e-4)
    assert scored["best_epoch"].iloc[3] == alone.best_epoch[0]
