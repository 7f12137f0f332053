"""Typed settings: one object from a TOML file, `SUPPORTBOT_…` environment overrides, defaults.

Precedence, highest first: environment (`SUPPORTBOT_DATABASE__URL`, `__` between levels),
the TOML file (`--config PATH` or `SUPPORTBOT_CONFIG`), built-in defaults. The defaults
run with no file at all: SQLite in `./supportbot.db`, offline triage and drafting, no
channel enabled. Unknown keys are errors, so a typo never silently falls back to a default.
Triage policy is the core's own frozen dataclasses, validated here, not restated.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from channels.email.imap_config import MailboxConfig
from channels.email.smtp import SmtpConfig
from channels.slack.config import SlackConfig
from core.acknowledge import AckPolicy
from core.digest import Manager
from core.errors import ConfigError
from core.pipeline import TriagePolicy, validate_triage_policy
from core.triage.sla import SlaPolicy

CONFIG_ENV = "SUPPORTBOT_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///./supportbot.db"  # or postgresql+psycopg://user@host/db


class BrandSettings(_Section):
    name: str = "Support"
    signature: str = "The Support Team"
    support_address: str = "support@example.com"  # From: of replies; mail from it is our own
    message_id_domain: str = "supportbot.invalid"  # right-hand side of our Message-IDs
    # Signs our Message-IDs so a follow-up's References can be trusted. Empty: generated once
    # and kept in `secret_file`. Several instances must share one: set it explicitly.
    thread_secret: SecretStr = SecretStr("")
    secret_file: Path = Path("./supportbot.secret")


class ApprovalSettings(_Section):
    approvers: tuple[str, ...] = ()  # e.g. "slack:U0123ABCD", "web:alice", "cli:alice"


class IntakeSettings(_Section):
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    reply_languages: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "pt", "sv")
    repeat_window_days: int = Field(default=7, ge=0)
    # Processes that parse fetched mail while intake stores (channels/email/parse_pool.py).
    parse_workers: int = Field(default=0, ge=0, le=64)


class SchedulerSettings(_Section):
    tick_seconds: float = Field(default=5.0, gt=0)
    lease_seconds: float = Field(default=120.0, gt=0)


class EscalationSettings(_Section):
    """Who SLA warnings and breaches call on, in Slack (the SLA rules are [triage.sla])."""

    slack_mention: str = ""  # e.g. "<!subteam^S0123ABCD>" (a user group) or "<@U0123ABCD>"
    manager_dm: str = ""  # a Slack user id (U…) who also gets breaches by DM; empty: none


class LlmSettings(_Section):
    """Which model drafts replies; "offline" (or no api_key for gemini) keeps templates."""

    provider: Literal["offline", "gemini", "openai"] = "offline"
    model: str = "gemini-2.5-flash"
    api_key: SecretStr = Field(default=SecretStr(""), repr=False)
    base_url: str = ""  # empty: Google's endpoint for gemini; required for openai
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    concurrency: int = Field(default=4, ge=1, le=64)
    requests_per_minute: float = Field(default=0.0, ge=0)  # 0: no limit
    redact_pii: bool = True
    tone: str = "friendly, concise and professional"

    @property
    def is_remote(self) -> bool:
        if self.provider == "gemini":
            return bool(self.api_key.get_secret_value())
        return self.provider == "openai" and bool(self.base_url)


class KbSettings(_Section):
    path: Path = Path("kb")
    min_score: float = Field(default=0.1, ge=0, lt=1)
    top_k: int = Field(default=3, ge=0, le=20)  # 0: drafts without a knowledge base


class LearningSettings(_Section):
    """Where `supportbot train` stores models and triage finds them: `<models_dir>/<target>.model`
    for category, priority and sentiment; a target without a file stays with the rules."""

    models_dir: Path = Path("models")


class WebSettings(_Section):
    """The REST API (channels/web): `supportbot web` serves it; `supportbot run` too, when
    enabled. Binds to localhost by default: put a TLS-terminating proxy in front."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Webhooks (channels/web/webhooks.py): each is off (404) until its secret is set.
    zendesk_webhook_secret: SecretStr = Field(default=SecretStr(""), repr=False)
    intercom_client_secret: SecretStr = Field(default=SecretStr(""), repr=False)
    # Dashboard (channels/web/dashboard.py) sessions and sign-in.
    session_secret: SecretStr = Field(default=SecretStr(""), repr=False)  # empty: derived
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    cookie_secure: bool = False  # true behind HTTPS: the browser then sends it only there
    login_failures_per_login: int = Field(default=5, ge=1)
    login_failures_per_ip: int = Field(default=20, ge=1)
    login_window_seconds: float = Field(default=900.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    log_level: str = "INFO"
    database: DatabaseSettings = DatabaseSettings()
    brand: BrandSettings = BrandSettings()
    approval: ApprovalSettings = ApprovalSettings()
    intake: IntakeSettings = IntakeSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    escalation: EscalationSettings = EscalationSettings()
    llm: LlmSettings = LlmSettings()
    kb: KbSettings = KbSettings()
    learning: LearningSettings = LearningSettings()
    web: WebSettings = WebSettings()
    triage: TriagePolicy = TriagePolicy()
    acknowledge: AckPolicy = AckPolicy()
    smtp: SmtpConfig | None = None  # no [smtp] section: approved email replies wait in the outbox
    mailboxes: tuple[MailboxConfig, ...] = ()  # [[mailboxes]]: IMAP folders to read
    slack: SlackConfig | None = None  # no [slack] section: no cards; decide with the CLI
    managers: tuple[Manager, ...] = ()  # [[managers]]: who gets a daily digest, when, how

    @property
    def draft_lease_seconds(self) -> float:
        """How long an instance holds an owed draft (`core.drafting.owed`), and how long a
        stored message waits before another instance may draft it: the model's whole retry
        budget, plus the lease any claimed work gets for the rate limit and storing."""
        return self.llm.timeout_seconds * (self.llm.max_retries + 1) + self.scheduler.lease_seconds

    @field_validator("mailboxes")
    @classmethod
    def _check_unique_names(cls, boxes: tuple[MailboxConfig, ...]) -> tuple[MailboxConfig, ...]:
        names = [b.name for b in boxes]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"mailbox names must be unique (cursor key): {', '.join(dupes)}")
        return boxes

    @field_validator("triage", mode="before")
    @classmethod
    def _merge_sla_targets(cls, value: Any) -> Any:
        """Targets given in the file override the defaults one key at a time, so a team can
        change `"P1:paid"` without restating the other eleven."""
        sla = value.get("sla") if isinstance(value, dict) else None
        targets = sla.get("targets") if isinstance(sla, dict) else None
        if isinstance(sla, dict) and isinstance(targets, dict):
            defaults = {k: asdict(t) for k, t in SlaPolicy().targets.items()}
            merged = {**defaults, **targets}
            value = {**value, "sla": {**sla, "targets": merged}}
        return value

    @field_validator("triage")
    @classmethod
    def _check_triage(cls, policy: TriagePolicy) -> TriagePolicy:
        validate_triage_policy(policy)
        return policy

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, level: str) -> str:
        if level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get(CONFIG_ENV)
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)


def load_settings(config: Path | None = None) -> Settings:
    """Read and validate settings; any problem becomes one ConfigError naming the key."""
    path = config or (Path(p) if (p := os.environ.get(CONFIG_ENV)) else None)
    if path is not None and not path.is_file():
        raise ConfigError(CONFIG_ENV if config is None else "--config", f"no such file: {path}")
    previous = os.environ.get(CONFIG_ENV)
    try:
        if path is not None:
            os.environ[CONFIG_ENV] = str(path)
        return Settings()
    except ValidationError as exc:
        raise _config_error(exc) from None
    except ValueError as exc:  # TOML syntax errors arrive as ValueError subclasses
        raise ConfigError(str(path), str(exc)) from None
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = previous


def _config_error(exc: ValidationError) -> ConfigError:
    first: dict[str, Any] = dict(exc.errors()[0])
    key = ".".join(str(part) for part in first.get("loc", ())) or "(root)"
    message = str(first.get("msg", "invalid value"))
    if first.get("type") in {"extra_forbidden", "unexpected_keyword_argument"}:
        message = "unknown key (check the spelling against config.example.toml)"
    more = len(exc.errors()) - 1
    return ConfigError(key, message + (f" (and {more} more problem(s))" if more else ""))


def resolve_thread_secret(brand: BrandSettings) -> bytes:
    """The configured secret, or one generated on first use and kept (0600) for later runs."""
    configured = brand.thread_secret.get_secret_value()
    if configured:
        return configured.encode()
    path = brand.secret_file
    if path.is_file():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value
