"""Minimum data: too few closed tickets, overall or in a class, is refused with how many more."""

import pytest

from training.__main__ import main
from training import demo_data
from training.data import Example
from training.minimum import DEFAULT_CLOSED, Minimum, NotEnoughData, check
from training.train import TrainingError


def _example(priority="P3", sentiment="neutral", hours=5.0, censored=False):
    return Example(ticket={"subject": "x"}, priority=priority, sentiment=sentiment, hours=hours,
                   censored=censored, created_at=None)


def test_twelve_tickets_are_refused_with_how_many_more_are_needed():
    with pytest.raises(NotEnoughData, match=f"12 closed tickets, {DEFAULT_CLOSED - 12} more "
                                            f"needed \\(at least {DEFAULT_CLOSED}\\)"):
        check([_example() for _ in range(12)])


def test_a_rare_class_is_refused_by_name():
    examples = [_example("P3") for _ in range(500)] + [_example("P1") for _ in range(15)]
    with pytest.raises(NotEnoughData, match="priority P1: 15 closed tickets, 25 more needed") as err:
        check(examples)
    assert "P3" not in str(err.value) and "closed tickets, " in str(err.value)
    assert isinstance(err.value, TrainingError)


def test_open_tickets_do_not_count_as_closed():
    examples = [_example() for _ in range(399)] + [_example(censored=True) for _ in range(50)]
    with pytest.raises(NotEnoughData, match="399 closed tickets, 1 more needed"):
        check(examples)
    check(examples[:399] + [_example()])


def test_heads_without_labels_have_no_per_class_floor():
    check([_example(priority=None, sentiment=None) for _ in range(400)])


def test_the_floor_is_configurable():
    check([_example() for _ in range(12)], Minimum(closed=10, per_class=5))


def test_the_command_line_refuses_a_small_export_and_can_lower_the_floor(tmp_path, capsys):
    data = tmp_path / "small.jsonl"
    demo_data.write_jsonl(150, 3, data)
    model = tmp_path / "model"
    assert main(["train", "--data", str(data), "--out", str(model), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: Not enough data to train:" in err and "more needed" in err
    assert not model.exists() or not any(model.iterdir())
    assert main(["train", "--data", str(data), "--out", str(model), "--quiet"],
                environ={"TRAINING_MIN_CLOSED": "100", "TRAINING_MIN_PER_CLASS": "5"}) == 0
