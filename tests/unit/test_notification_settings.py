"""The notification settings (issue 15): e-mail is off without SMTP_HOST; a bad SMTP or reminder setting stops
start-up with one line naming the variable."""
from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings

BASE = {"TONGQUAN_ENV": "testing", "SECRET_KEY": "test-secret-key-0123456789"}
SMTP = {**BASE, "SMTP_HOST": "127.0.0.1", "SMTP_FROM": "tongquan@ganzhou.example.cn"}


def test_email_is_off_by_default_and_the_defaults_are_documented_ones(tmp_path):
    s = load_settings({**BASE, "INSTANCE_PATH": str(tmp_path)})
    assert s.smtp == {} and s.sms_sender == "log" and s.reminder_escalate_after == 3


def test_a_complete_smtp_setting_is_taken(tmp_path):
    s = load_settings({**SMTP, "INSTANCE_PATH": str(tmp_path), "SMTP_TLS": "starttls", "SMTP_USER": "u",
                       "SMTP_PASSWORD": "p", "REMINDER_ESCALATE_AFTER": "5"})
    assert (s.smtp["host"], s.smtp["port"], s.smtp["tls"], s.smtp["user"]) == ("127.0.0.1", 25, "starttls", "u")
    assert s.reminder_escalate_after == 5
    s2 = load_settings({**SMTP, "INSTANCE_PATH": str(tmp_path), "SMTP_USER": "u", "SMTP_PASSWORD": "s3cret-pw"})
    assert "s3cret-pw" not in repr(s2)  # no log or traceback of the settings shows the password


@pytest.mark.parametrize("extra, named", [
    ({"SMTP_FROM": "not an address"}, "SMTP_FROM"),
    ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
    ({"SMTP_TLS": "maybe"}, "SMTP_TLS"),
    ({"SMTP_USER": "only-user"}, "SMTP_USER"),
    ({"SMTP_HOST": "bad host/../"}, "SMTP_HOST"),
    ({"REMINDER_ESCALATE_AFTER": "0"}, "REMINDER_ESCALATE_AFTER"),
    ({"SMS_SENDER": "carrier-pigeon"}, "SMS_SENDER"),
])
def test_a_bad_value_is_refused_naming_the_variable(tmp_path, extra, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**SMTP, "INSTANCE_PATH": str(tmp_path), **extra})
