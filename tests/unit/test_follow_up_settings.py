"""The settings of issue 15's escalations: SUPERVISION_FEEDBACK_DAYS (a claimed push without feedback) and
RATING_FOLLOW_UP_DAYS (差评整改): documented defaults, taken when valid, a bad value stops start-up naming it."""
from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings

BASE = {"TONGQUAN_ENV": "testing", "SECRET_KEY": "test-secret-key-0123456789"}


def test_defaults_and_values(tmp_path):
    s = load_settings({**BASE, "INSTANCE_PATH": str(tmp_path)})
    assert (s.supervision_feedback_days, s.rating_follow_up_days) == (10, 5)
    s = load_settings({**BASE, "INSTANCE_PATH": str(tmp_path), "SUPERVISION_FEEDBACK_DAYS": "20",
                       "RATING_FOLLOW_UP_DAYS": "3"})
    assert (s.supervision_feedback_days, s.rating_follow_up_days) == (20, 3)


@pytest.mark.parametrize("name, value", [("SUPERVISION_FEEDBACK_DAYS", "0"), ("SUPERVISION_FEEDBACK_DAYS", "61"),
                                         ("RATING_FOLLOW_UP_DAYS", "31"), ("RATING_FOLLOW_UP_DAYS", "five")])
def test_a_bad_value_names_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, "INSTANCE_PATH": str(tmp_path), name: value})
