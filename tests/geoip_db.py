"""Tiny MaxMind country databases for tests, written with mmdb-writer (no download needed)."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

DBIP = "DBIP-Country-Lite"
GEOLITE2 = "GeoLite2-Country"


def build_country_db(
    path: str | Path,
    networks: dict[str, str],
    layout: str = "geoip2",
    *,
    database_type: str = DBIP,
) -> Path:
    """Write an IPv6 database (IPv4 reachable through ::/96) mapping CIDRs to ISO country codes.

    layout "geoip2" stores {"country": {"iso_code": "NL"}} as GeoLite2 and DB-IP do;
    "flat" stores {"country_code": "NL"} as some converted databases do.
    """
    if layout not in ("geoip2", "flat"):
        raise ValueError(f"layout must be 'geoip2' or 'flat', got {layout!r}")
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description={"en": f"{database_type} test database"},
    )
    for cidr, code in networks.items():
        record = {"country": {"iso_code": code}} if layout == "geoip2" else {"country_code": code}
        writer.insert_network(IPSet([cidr]), record)
    path = Path(path)
    writer.to_db_file(str(path))
    return path
