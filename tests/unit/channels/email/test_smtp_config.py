"""SmtpConfig as settings embed it: defaults, validation, unknown keys, no password in repr."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from channels.email.smtp import SmtpConfig

ADAPTER = TypeAdapter(SmtpConfig)


def test_defaults_need_no_configuration() -> None:
    config = ADAPTER.validate_python({})
    assert config == SmtpConfig()
    assert (config.host, config.port, config.security) == ("127.0.0.1", 25, "starttls")


def test_values_are_validated_and_coerced() -> None:
    config = ADAPTER.validate_python({"port": "587", "timeout_seconds": 5, "security": "ssl"})
    assert (config.port, config.timeout_seconds, config.security) == (587, 5.0, "ssl")
    with pytest.raises(ValidationError, match="security"):
        ADAPTER.validate_python({"security": "tls"})


def test_a_misspelt_key_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(ValidationError, match="hots"):
        ADAPTER.validate_python({"hots": "smtp.example.com"})


def test_the_password_never_appears_in_repr() -> None:
    config = SmtpConfig(username="bot", password="hunter2-secret")
    assert "hunter2-secret" not in repr(config) and "bot" in repr(config)
