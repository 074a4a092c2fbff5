"""Early-termination policies on hand-made histories, standalone and inside a search."""

from __future__ import annotations

import math

import pytest

from batchai import ConflictError, ValidationError, sweep


def curve(trial_id: int, values: list[float], state: sweep.TrialState = "running") -> sweep.Trial:
    return sweep.Trial(trial_id, {}, state, None, {i + 1: v for i, v in enumerate(values)})


def test_bandit_slack_factor_maximize_matches_azure_example() -> None:
    policy = sweep.BanditPolicy(slack_factor=0.2, delay_evaluation=0)
    history = [curve(0, [0.5, 0.8]), curve(1, [0.4, 0.6]), curve(2, [0.5, 0.7])]
    d = policy.decide(history, 1, mode="max", metric="auc")
    assert d.stop
    expected = "below the threshold 0.6667 (the best 0.8 by step 2, slack factor 0.2)"
    assert d.reason == f"auc 0.6 (best of trial 1 by step 2) is {expected}"
    assert not policy.decide(history, 2, mode="max").stop
    assert not policy.decide(history, 0, mode="max").stop


def test_bandit_slack_amount_minimize_and_delay() -> None:
    history = [curve(0, [1.0, 0.5]), curve(1, [1.0, 0.58]), curve(2, [1.0, 0.62])]
    policy = sweep.BanditPolicy(slack_amount=0.1, delay_evaluation=0)
    assert not policy.decide(history, 1).stop
    assert policy.decide(history, 2).stop
    delayed = sweep.BanditPolicy(slack_amount=0.1, delay_evaluation=3)
    d = delayed.decide(history, 2)
    assert not d.stop and "delay_evaluation 3" in d.reason
    assert sweep.BanditPolicy().slack_factor == 0.3
    with pytest.raises(ValidationError) as caught:
        sweep.BanditPolicy(slack_factor=0.1, slack_amount=0.1)
    assert "exactly one" in caught.value.rule


def test_median_stopping_compares_best_value_with_median_of_running_averages() -> None:
    policy = sweep.MedianStoppingPolicy(delay_evaluation=0, min_trials=3)
    others = [curve(0, [0.4, 0.5, 0.6]), curve(1, [0.5, 0.6, 0.7]), curve(2, [0.6, 0.7, 0.8, 0.9])]
    behind = [*others, curve(3, [0.3, 0.55, 0.5])]
    d = policy.decide(behind, 3, mode="max", metric="acc")
    assert d.stop
    assert "median 0.6 of the running averages of 3 trials at step 3" in d.reason
    ahead = [*others, curve(3, [0.3, 0.61, 0.5])]
    assert not policy.decide(ahead, 3, mode="max").stop


def test_truncation_selection_cuts_the_worst_percentage_at_the_same_step() -> None:
    policy = sweep.TruncationSelectionPolicy(truncation_percentage=20, evaluation_interval=1, delay_evaluation=0)
    history = [curve(i, [2.0, 0.1 * (i + 1)]) for i in range(10)]
    stopped = [i for i in range(10) if policy.decide(history, i, metric="loss").stop]
    assert stopped == [8, 9]
    d = policy.decide(history, 9, metric="loss")
    assert d.reason == "loss 1 at step 2 ranks 10 of 10 trials; the worst 20% (2) are stopped"
    with pytest.raises(ValidationError) as caught:
        sweep.TruncationSelectionPolicy(truncation_percentage=0)
    assert caught.value.field == "truncation_percentage"


def test_asha_keeps_the_top_third_at_each_rung() -> None:
    policy = sweep.ASHAPolicy(reduction_factor=3, min_resource=1)
    history = [curve(i, [1.0, 1.0, 0.1 * (i + 1)]) for i in range(5)]
    late = [*history, curve(5, [1.0, 1.0, 0.35])]
    d = policy.decide(late, 5, metric="loss")
    assert d.stop
    assert d.reason == "loss 0.35 at rung 1 (step 3) ranks 4 of 6 trials; only the best 2 (1/3) continue"
    good = [*history, curve(5, [1.0, 1.0, 0.15])]
    assert not policy.decide(good, 5).stop
    between = [curve(0, [0.1] * 4), curve(1, [0.9] * 4)]
    assert "not a rung" in policy.decide(between, 1).reason
    with pytest.raises(ValidationError) as caught:
        sweep.ASHAPolicy(reduction_factor=1)
    assert caught.value.field == "reduction_factor"


def test_failed_trials_do_not_count() -> None:
    policy = sweep.BanditPolicy(slack_factor=0.1, delay_evaluation=0)
    history = [curve(0, [0.01], "failed"), curve(1, [0.5]), curve(2, [0.52])]
    assert not policy.decide(history, 2).stop
    history[0] = curve(0, [0.01], "completed")
    assert policy.decide(history, 2).stop


def test_search_report_applies_the_policy_and_records_stops() -> None:
    search = sweep.Search(
        {"x": sweep.uniform(0, 1)},
        sweep.RandomSampler(seed=0),
        metric="loss",
        policy=sweep.BanditPolicy(slack_amount=0.1, delay_evaluation=0),
    )
    a, b = search.ask(), search.ask()
    assert not search.report(a, 1, 1.0).stop
    d = search.report(b, 1, 2.0)
    assert d.stop and d.trial == b.id
    assert search.trial(b.id).state == "stopped"
    with pytest.raises(ConflictError):
        search.report(b, 2, 0.5)
    with pytest.raises(ValidationError) as caught:
        search.report(a, 1, 0.9)
    assert caught.value.field == "step"
    c = search.ask()
    d = search.report(c, 1, math.nan)
    assert d.stop and "nan" in d.reason.lower()
    plain = sweep.Search({"x": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=0))
    t = plain.ask()
    assert not plain.report(t, 1, 5.0).stop
    assert plain.trial(t.id).intermediate == {1: 5.0}


@pytest.mark.parametrize("mode", ["min", "max"])
def test_bandit_never_stops_the_leader_of_a_negative_metric(mode: sweep.Mode) -> None:
    """Azure ML's best/(1+f) is better than the best when the best is negative: every trial,
    the leader included, was stopped, with a reason saying -0.5 is below -0.4545."""
    policy = sweep.BanditPolicy(slack_factor=0.1, delay_evaluation=0)
    values = [-0.5, -0.52, -0.2] if mode == "min" else [-0.5, -0.48, -2.0]
    history = [curve(i, [v]) for i, v in enumerate(values)]
    leader = 1
    d = policy.decide(history, leader, mode=mode, metric="elbo")
    assert not d.stop, d.reason
    assert not policy.decide(history, 0, mode=mode).stop, "within 10 % of the best"
    d = policy.decide(history, 2, mode=mode, metric="elbo")
    assert d.stop
    word = "above" if mode == "min" else "below"
    assert f"{word} the threshold" in d.reason


def test_reports_off_the_evaluation_interval_are_judged() -> None:
    """A trial reporting at steps 3, 7, 11 with evaluation_interval 5 used never to be judged."""
    policy = sweep.BanditPolicy(slack_amount=0.1, evaluation_interval=5, delay_evaluation=0)
    leader = curve(0, [0.1] * 20)
    odd = sweep.Trial(1, {}, "running", None, {3: 0.9, 7: 0.9})
    d = policy.decide([leader, odd], 1, metric="loss")
    assert d.stop and "step 7" in d.reason
    later = sweep.Trial(1, {}, "running", None, {3: 0.9, 7: 0.15, 9: 0.9})
    assert "passes no evaluation point since step 7" in policy.decide([leader, later], 1).reason


def test_median_stopping_waits_for_enough_peers() -> None:
    policy = sweep.MedianStoppingPolicy(delay_evaluation=0)
    assert policy.min_trials == 5
    two = [curve(0, [0.1] * 6), curve(1, [0.9] * 6)]
    d = policy.decide(two, 1, metric="loss")
    assert not d.stop and "5 needed" in d.reason
    six = [*two, *(curve(i, [0.2] * 6) for i in range(2, 6))]
    assert policy.decide(six, 1, metric="loss").stop


def test_hyperband_brackets_compete_separately_and_round_trip() -> None:
    policy = sweep.HyperbandPolicy(min_resource=1, max_resource=81)
    assert (policy.reduction_factor, policy.min_resource, policy.max_resource) == (3, 1, 81)
    # Trials 0..39 all report one value; only those in bracket 0 are judged at step 1.
    history = [curve(i, [float(i)]) for i in range(40)]
    reasons = [policy.decide(history, i, metric="loss").reason for i in range(40)]
    first = [i for i, r in enumerate(reasons) if r.startswith("bracket 0:") and "rung 0 (step 1)" in r]
    later = [i for i, r in enumerate(reasons) if "is not a rung" in r]
    assert first and later and len(first) + len(later) == 40
    stopped = [i for i in first if policy.decide(history, i, metric="loss").stop]
    # Within bracket 0 the lowest losses pass: each trial ranks against the bracket's trials only.
    assert stopped and min(stopped) > min(first)
    search = sweep.Search({"x": sweep.uniform(0, 1)}, sweep.RandomSampler(seed=1), policy=policy)
    again = sweep.Search.from_json(search.to_json())
    assert again.policy == policy
    with pytest.raises(ValidationError) as caught:
        sweep.HyperbandPolicy(min_resource=5, max_resource=5)
    assert caught.value.field == "max_resource"


def test_hyperband_defaults_are_the_cores() -> None:
    from batchai import _core

    assert sweep.HyperbandPolicy().to_dict() == _core.sweep_policy({"type": "hyperband"})
    assert sweep.HyperbandPolicy().to_dict() == {
        "type": "hyperband",
        "reduction_factor": 3,
        "min_resource": 30,
        "max_resource": 100,
        "seed": 0,
    }
