"""The handler's settings: shop facts from shop.toml, deployment settings and secrets from REPAIRS_*."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shop import config as shop_config
from shop.headers import origin_of

TLS_MODES = ("none", "starttls", "tls")
DEFAULT_SMTP_PORTS = {"none": 25, "starttls": 587, "tls": 465}


class SettingsError(ValueError):
    """A missing or wrong setting; the message says which and how to fix it."""


@dataclass(frozen=True)
class Limit:
    """At most `count` events per `seconds` for one key; count 0 switches the limit off."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Settings:
    shop: shop_config.ShopConfig
    db_path: Path | None  # None for mail alone (`analytics summary`)
    owner_email: str
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_tls: str = "starttls"
    mail_dir: Path | None = None
    allowed_origins: tuple[str, ...] = ()
    site_url: str = ""
    client_limit: Limit = Limit(10, 600)
    recipient_limit: Limit = Limit(5, 3600)
    retry_max_seconds: float = 900.0
    mail_attempts: int = 40
    smtp_timeout: float = 20.0

    @property
    def form_origins(self) -> frozenset[str]:
        """Origins whose pages may post the form: REPAIRS_ALLOWED_ORIGINS, else the site's own."""
        return frozenset(self.allowed_origins or default_origins(self.site_url, self.shop.site.url))


def load_db_path(env: Mapping[str, str] | None = None) -> Path:
    """REPAIRS_DB, the one setting every `repairs` command needs."""
    env = os.environ if env is None else env
    value = env.get("REPAIRS_DB", "").strip()
    if not value:
        raise SettingsError(
            "REPAIRS_DB is not set: give the path of the SQLite database, "
            "e.g. REPAIRS_DB=/var/lib/repairs/repairs.sqlite3"
        )
    return Path(value)


def load(
    env: Mapping[str, str] | None = None,
    mail_dir: str | os.PathLike | None = None,
    need_mail: bool = True,
    need_db: bool = True,
) -> Settings:
    """Read shop.toml and the REPAIRS_* environment; raise SettingsError on the first problem.

        `mail_dir` (from `repairs serve --mail-dir`) overrides REPAIRS_MAIL_DIR. With `need_mail`
        false (the admin commands) no SMTP server or mail folder is required; with `need_db` false (mail
    alone, such as the statistics summary) no database.
    """
    env = os.environ if env is None else env
    try:
        shop = shop_config.load()
    except shop_config.ConfigError as e:
        raise SettingsError(str(e)) from None
    folder = mail_dir or env.get("REPAIRS_MAIL_DIR", "").strip() or None
    host = env.get("REPAIRS_SMTP_HOST", "").strip()
    if need_mail and not host and not folder:
        raise SettingsError(
            "REPAIRS_SMTP_HOST is not set: give the SMTP server that sends the mails "
            "(or REPAIRS_MAIL_DIR / --mail-dir to write them into a folder instead)"
        )
    tls = env.get("REPAIRS_SMTP_TLS", "starttls").strip().lower() or "starttls"
    if tls not in TLS_MODES:
        raise SettingsError(f"REPAIRS_SMTP_TLS must be one of {', '.join(TLS_MODES)}, got {tls!r}")
    owner = env.get("REPAIRS_OWNER_EMAIL", "").strip() or shop.business.email
    origins = tuple(
        o.strip().rstrip("/")
        for o in env.get("REPAIRS_ALLOWED_ORIGINS", "").split(",")
        if o.strip()
    )
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise SettingsError(
                f"REPAIRS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://www.example.nl"
            )
    return Settings(
        shop=shop,
        db_path=load_db_path(env) if need_db else None,
        owner_email=owner,
        smtp_host=host,
        smtp_port=_int(env, "REPAIRS_SMTP_PORT", DEFAULT_SMTP_PORTS[tls], 1, 65535),
        smtp_user=env.get("REPAIRS_SMTP_USER", ""),
        smtp_password=env.get("REPAIRS_SMTP_PASSWORD", ""),
        smtp_tls=tls,
        mail_dir=Path(folder) if folder else None,
        allowed_origins=origins,
        site_url=env.get("REPAIRS_SITE_URL", "").strip().rstrip("/"),
        client_limit=_limit(env, "REPAIRS_CLIENT_LIMIT", Limit(10, 600)),
        recipient_limit=_limit(env, "REPAIRS_RECIPIENT_LIMIT", Limit(5, 3600)),
        retry_max_seconds=float(_int(env, "REPAIRS_RETRY_MAX_SECONDS", 900, 1, 86400)),
        mail_attempts=_int(env, "REPAIRS_MAIL_ATTEMPTS", 40, 1, 1000),
        smtp_timeout=float(_int(env, "REPAIRS_SMTP_TIMEOUT", 20, 1, 300)),
    )


def default_origins(site_url: str, shop_url: str) -> tuple[str, ...]:
    """The handler's allowed origins when REPAIRS_ALLOWED_ORIGINS is unset: the site's own
    (REPAIRS_SITE_URL's and shop.toml [site] url's)."""
    return tuple(filter(None, (origin_of(site_url), origin_of(shop_url))))


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return value


def _limit(env: Mapping[str, str], name: str, default: Limit) -> Limit:
    """COUNT/SECONDS, e.g. 10/600; 0 switches the limit off."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    try:
        limit = Limit(int(count), float(seconds or 1))
    except ValueError:
        limit = Limit(-1, 0)
    if limit.count < 0 or limit.seconds <= 0:
        raise SettingsError(f"{name} must look like COUNT/SECONDS (e.g. 10/600), got {raw!r}")
    return limit
