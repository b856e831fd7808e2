"""Country of an IP address from a MaxMind DB file (DB-IP's IP to Country Lite or GeoLite2)."""

from __future__ import annotations

import os
from pathlib import Path

DBIP_ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0."
MAXMIND_ATTRIBUTION = "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com."
DBIP_DOWNLOAD = "https://db-ip.com/db/download/ip-to-country-lite"


class GeoIPError(Exception):
    """The database file is missing or not a MaxMind DB; the message names the file."""


class CountryLookup:
    """ISO country codes from an .mmdb file with either `country.iso_code` or `country_code`."""

    def __init__(self, path: str | os.PathLike) -> None:
        import maxminddb  # here: most runs look no country up, and it takes 30 ms to import

        self._invalid = (ValueError, maxminddb.InvalidDatabaseError)
        self.path = Path(path)
        if self.path.is_dir():
            raise GeoIPError(f"{self.path}: is a folder, not a GeoIP database file")
        try:
            self.reader = maxminddb.open_database(str(self.path), maxminddb.MODE_AUTO)
        except FileNotFoundError:
            raise GeoIPError(f"{self.path}: GeoIP database not found") from None
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as e:
            raise GeoIPError(
                f"{self.path}: not a MaxMind DB (.mmdb) file ({e}); download DB-IP's "
                f"IP to Country Lite in MMDB format from {DBIP_DOWNLOAD}"
            ) from None
        self.database_type = self.reader.metadata().database_type or ""

    def country(self, ip: str) -> str | None:
        """Two-letter code, or None when the address is unknown to the database or not an IP."""
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]  # IPv4-mapped: the database files IPv4 under ::/96, not ::ffff:0:0/96
        try:
            record = self.reader.get(ip)
        except self._invalid:
            return None
        if not isinstance(record, dict):
            return None
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else record.get("country_code")
        return code.upper() if isinstance(code, str) and code else None

    @property
    def attribution(self) -> str | None:
        """The credit the database's licence asks for, shown in the report."""
        kind = self.database_type.lower()
        if kind.startswith("dbip") or "db-ip" in kind:
            return DBIP_ATTRIBUTION
        if kind.startswith(("geolite2", "geoip2")):
            return MAXMIND_ATTRIBUTION
        return None

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> CountryLookup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
