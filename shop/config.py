"""Load and check `shop.toml`, the one file the site, the handler and the analytics tool share.

Every part imports `load()` from here, so the privacy statement prints exactly the settings
the code obeys.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import MISSING, Field, dataclass, fields
from pathlib import Path
from typing import Any

from shop.hours import HoursError, OpeningHours
from shop.hours import parse as parse_opening_hours

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "SHOP_CONFIG"


class ConfigError(ValueError):
    """A missing or wrong value in shop.toml; the message names the key."""


@dataclass(frozen=True)
class Business:
    trade_name: str
    legal_form: str
    contact_person: str
    street: str
    postcode: str
    city: str
    country: str
    country_code: str
    phone: str
    email: str
    kvk: str
    btw_id: str
    opening_hours: OpeningHours
    # "latitude, longitude" of the shop, for search engines and the route link ("" = none).
    geo: str = ""
    area_served: tuple[str, ...] = ()

    @property
    def latitude_longitude(self) -> tuple[float, float] | None:
        """The shop's coordinates, or None when `geo` is empty or still a placeholder."""
        if not self.geo or is_placeholder(self.geo):
            return None
        latitude, longitude = (float(part) for part in self.geo.split(","))
        return latitude, longitude


@dataclass(frozen=True)
class Site:
    url: str
    form_action: str = "/api/repair-request"


@dataclass(frozen=True)
class Privacy:
    ipv4_prefix: int = 24
    ipv6_prefix: int = 32
    raw_log_retention_days: int = 7
    anonymised_log_retention_days: int = 28
    closed_request_retention_months: int = 24
    open_request_retention_months: int = 12
    newsletter: bool = False


@dataclass(frozen=True)
class Repairs:
    accepted_requests_per_hour: int = 60
    health_max_mail_wait_minutes: int = 30


@dataclass(frozen=True)
class Analytics:
    logs: tuple[str, ...] = ("/var/log/nginx/access.log*",)
    stats_dir: str = "stats"
    state_dir: str = "stats-state"


@dataclass(frozen=True)
class Publish:
    rsync_target: str = ""
    ssh_port: int = 22


@dataclass(frozen=True)
class ShopConfig:
    business: Business
    site: Site
    privacy: Privacy
    repairs: Repairs
    analytics: Analytics
    publish: Publish
    path: Path

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dict, for templates (with the fixed limits the statement names)."""
        values = {f.name: vars(getattr(self, f.name)) for f in fields(self) if f.name != "path"}
        return {**values, "limits": dict(LIMITS)}


# Fixed limits of the analytics tool that the privacy statement names: how long a day's
# visitor-hash key (and the visitor codes made with it) may exist, and how long the list of log
# files read (with a digest of each one's anonymised first line) is kept.
LIMITS = {"visitor_key_hours": 48, "files_read_days": 60}


# IP prefixes kept: up to /24 and /40, so what remains is a network of about 256 customers
# (coarser is allowed). A /48 is one customer's network: Dutch ISPs give each household one.
IPV4_PREFIX_RANGE = (8, 24)
IPV6_PREFIX_RANGE = (16, 40)
IPV6_CUSTOMER_PREFIX = 48


def ipv6_prefix_problem(value: int) -> str | None:
    """Why an IPv6 prefix may not be used, in one line; None if it may."""
    low, high = IPV6_PREFIX_RANGE
    if low <= value <= high:
        return None
    if high < value <= IPV6_CUSTOMER_PREFIX:
        networks = 2 ** (IPV6_CUSTOMER_PREFIX - value)
        return (
            f"at most {high}, got {value}: a /{IPV6_CUSTOMER_PREFIX} is one customer's network "
            f"(Dutch ISPs give each household one), and a /{value} holds only {networks} of "
            f"them; /{high} holds 256, as a /24 holds 256 IPv4 addresses"
        )
    return f"must be a whole number from {low} to {high}, got {value}"


# Whole-number settings and the range that makes sense for each.
_RANGES = {
    ("privacy", "ipv4_prefix"): IPV4_PREFIX_RANGE,
    ("privacy", "ipv6_prefix"): IPV6_PREFIX_RANGE,
    ("privacy", "raw_log_retention_days"): (1, 3650),
    ("privacy", "anonymised_log_retention_days"): (1, 366),
    ("privacy", "closed_request_retention_months"): (1, 600),
    ("privacy", "open_request_retention_months"): (1, 600),
    ("repairs", "accepted_requests_per_hour"): (0, 100_000),
    ("repairs", "health_max_mail_wait_minutes"): (1, 10_080),
    ("publish", "ssh_port"): (1, 65535),
}

# Text settings with a format of their own: key -> (pattern, what the error message asks for).
_FORMATS = {
    ("business", "country_code"): (r"[A-Z]{2}", 'a two-letter ISO country code such as "NL"'),
    ("business", "geo"): (
        r"-?\d{1,2}(\.\d+)?\s*,\s*-?\d{1,3}(\.\d+)?",
        '"latitude, longitude" such as "52.09074, 5.12142"',
    ),
}

_SECTIONS = {
    "business": Business,
    "site": Site,
    "privacy": Privacy,
    "repairs": Repairs,
    "analytics": Analytics,
    "publish": Publish,
}


def is_placeholder(value: str) -> bool:
    """True for a value still in [square brackets], as shop.toml ships it."""
    return value.startswith("[") and value.endswith("]")


def placeholders(shop: ShopConfig) -> list[str]:
    """`[section] key` of every text setting still a placeholder."""
    found = []
    for section in fields(shop):
        if section.name == "path":
            continue
        for key, value in vars(getattr(shop, section.name)).items():
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, str) and is_placeholder(v) for v in values):
                found.append(f"[{section.name}] {key}")
    return found


def default_path() -> Path:
    """`$SHOP_CONFIG` if set, else `shop.toml` in the working directory, else the checkout's
    (only when running from one: an installed copy has no shop.toml next to its code)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    here = Path.cwd() / "shop.toml"
    if here.is_file() or not (ROOT / "pyproject.toml").is_file():
        return here
    return ROOT / "shop.toml"


def load(path: str | os.PathLike | None = None) -> ShopConfig:
    """Read and check shop.toml; raise ConfigError naming the first bad key."""
    path = Path(path) if path is not None else default_path()
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set {ENV_VAR} or create shop.toml)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return from_dict(raw, path)


def from_dict(raw: dict[str, Any], path: Path = Path("shop.toml")) -> ShopConfig:
    """Build a ShopConfig from parsed TOML (tests use this to vary a setting)."""
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section [{sorted(unknown)[0]}]")
    sections = {
        name: _section(path, name, cls, raw.get(name, {})) for name, cls in _SECTIONS.items()
    }
    return ShopConfig(path=path, **sections)


def _section(path: Path, name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{path}: [{name}] {key}: unknown key")
    checked = {}
    for key, field in known.items():
        where = f"{path}: [{name}] {key}"
        if key not in values:
            if field.default is MISSING:
                raise ConfigError(f"{where}: missing")
            continue
        checked[key] = _check(where, (name, key), field, values[key])
    return cls(**checked)


def _check(where: str, key: tuple[str, str], field: Field, value: Any) -> Any:
    type_ = field.type
    if type_ == "str":
        optional = field.default == ""
        if not isinstance(value, str) or not (value.strip() or optional):
            raise ConfigError(f"{where}: must be a non-empty text, got {value!r}")
        value = value.strip()
        pattern, expected = _FORMATS.get(key, (None, None))
        if pattern and value and not is_placeholder(value) and not re.fullmatch(pattern, value):
            raise ConfigError(f"{where}: must be {expected}, got {value!r}")
        return value
    if type_ == "OpeningHours":
        try:
            return parse_opening_hours(value)
        except HoursError as e:
            # The message starts with the sub-key (".monday: ..."), so it reads as one key.
            raise ConfigError(f"{where}{e}") from None
    if type_ == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {value!r}")
        return value
    if type_ == "int":
        is_number = isinstance(value, int) and not isinstance(value, bool)
        if key == ("privacy", "ipv6_prefix") and is_number and ipv6_prefix_problem(value):
            raise ConfigError(f"{where}: {ipv6_prefix_problem(value)}")
        low, high = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{where}: must be a whole number from {low} to {high}, got {value!r}"
            )
        return value
    if type_ == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: must be a list of texts, got {value!r}")
        return tuple(value)
    raise AssertionError(f"no check for {type_}")  # pragma: no cover
