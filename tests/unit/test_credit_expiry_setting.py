"""CREDIT_EXPIRY_DAYS (issue 17): how long each kind of credit record counts; a bad value stops start-up naming
the variable, a good one moves the date a record stops counting."""
from datetime import datetime, timezone

import pytest

from config import ConfigError, load_settings


@pytest.mark.parametrize("raw,message", [
    ("penalty=0", "the days of penalty must be 1 – 36500"),
    ("penalty=ten", "the days of penalty must be 1 – 36500"),
    ("fine=30", "'fine' is not one of"),
    ("penalty=30,penalty=40", "or is given twice"),
])
def test_a_bad_expiry_is_refused_naming_the_variable(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=f"CREDIT_EXPIRY_DAYS: .*{message}"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "CREDIT_EXPIRY_DAYS": raw})


def test_the_configured_periods_set_when_a_record_stops_counting(tmp_path):
    from supervision import credit

    settings = load_settings({"INSTANCE_PATH": str(tmp_path), "CREDIT_EXPIRY_DAYS": " penalty=30 , broken_commitment=7"})
    assert settings.credit_expiry_days == {"penalty": 30, "broken_commitment": 7}
    made = datetime(2026, 1, 1, tzinfo=timezone.utc)
    try:
        credit.configure(settings.credit_expiry_days)
        assert credit.expires_at("penalty", made) == datetime(2026, 1, 31, tzinfo=timezone.utc)
        assert credit.expires_at("broken_commitment", made) == datetime(2026, 1, 8, tzinfo=timezone.utc)
        assert credit.expires_at("false_commitment", made) == datetime(2028, 12, 31, tzinfo=timezone.utc)  # default
    finally:
        credit.configure({})
    assert credit.expires_at("penalty", made) == datetime(2028, 12, 31, tzinfo=timezone.utc)
