"""Country lookups from tiny databases built with mmdb-writer, in both layouts."""

from __future__ import annotations

import pytest
from geoip_db import GEOLITE2, build_country_db

from analytics.geoip import DBIP_ATTRIBUTION, MAXMIND_ATTRIBUTION, CountryLookup, GeoIPError

NETWORKS = {
    "83.148.0.0/16": "NL",
    "81.82.0.0/16": "BE",
    "2a02:a440::/29": "NL",
    "2001:1c00::/23": "NL",
    "66.249.64.0/19": "US",
    "2a01:4f8::/29": "DE",
}


@pytest.fixture(scope="module", params=["geoip2", "flat"])
def lookup(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("geoip") / f"{request.param}.mmdb"
    with CountryLookup(build_country_db(path, NETWORKS, request.param)) as lookup:
        yield lookup


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("83.148.145.198", "NL"),
        ("81.82.1.2", "BE"),
        ("::ffff:66.249.66.1", "US"),  # IPv4-mapped is looked up as IPv4
        ("2a02:a440:1c2:0:1::5", "NL"),
        ("2001:1c00:120::1", "NL"),
        ("2a01:4f8:1:2::3", "DE"),
        ("192.0.2.1", None),
        ("2001:db8::1", None),
        ("not an ip", None),
        ("", None),
    ],
)
def test_country(lookup, ip, country):
    assert lookup.country(ip) == country


def test_truncated_address_finds_the_same_country(lookup):
    assert lookup.country("83.148.145.0") == lookup.country("83.148.145.198") == "NL"


def test_dbip_attribution(tmp_path):
    lookup = CountryLookup(build_country_db(tmp_path / "dbip.mmdb", NETWORKS))
    assert lookup.attribution == DBIP_ATTRIBUTION
    assert "DB-IP" in lookup.attribution and "CC BY 4.0" in lookup.attribution


def test_geolite2_attribution(tmp_path):
    db = build_country_db(tmp_path / "g.mmdb", NETWORKS, database_type=GEOLITE2)
    assert CountryLookup(db).attribution == MAXMIND_ATTRIBUTION


def test_other_database_has_no_attribution(tmp_path):
    db = build_country_db(tmp_path / "o.mmdb", NETWORKS, "flat", database_type="My-Country-DB")
    assert CountryLookup(db).attribution is None


def test_missing_file(tmp_path):
    with pytest.raises(GeoIPError, match=r"nope\.mmdb: GeoIP database not found"):
        CountryLookup(tmp_path / "nope.mmdb")


def test_folder(tmp_path):
    with pytest.raises(GeoIPError, match="is a folder"):
        CountryLookup(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 100])
def test_corrupt_file(tmp_path, content):
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content)
    with pytest.raises(GeoIPError, match=r"bad\.mmdb: not a MaxMind DB") as raised:
        CountryLookup(bad)
    assert "db-ip.com" in str(raised.value)


def test_truncated_database(tmp_path):
    good = build_country_db(tmp_path / "good.mmdb", NETWORKS)
    cut = tmp_path / "cut.mmdb"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(GeoIPError, match=r"cut\.mmdb"):
        CountryLookup(cut)


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        build_country_db(tmp_path / "x.mmdb", NETWORKS, "csv")
