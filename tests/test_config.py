"""shop.toml: one loader, clear errors that name the key."""

import pytest
from support import ROOT, write_shop_toml

from shop import config


def test_repo_shop_toml_loads():
    shop = config.load(ROOT / "shop.toml")
    assert shop.business.trade_name == "ITfixe"
    assert (shop.privacy.ipv4_prefix, shop.privacy.ipv6_prefix) == (24, 32)
    assert shop.analytics.logs  # a tuple of globs


def test_env_var_chooses_the_file(tmp_path, monkeypatch):
    path = write_shop_toml(tmp_path / "shop.toml", privacy={"ipv4_prefix": 16})
    monkeypatch.setenv("SHOP_CONFIG", str(path))
    assert config.load().privacy.ipv4_prefix == 16


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        (
            "privacy",
            {"ipv4_prefix": 32},
            "[privacy] ipv4_prefix: must be a whole number from 8 to 24, got 32",
        ),
        (
            "privacy",
            {"ipv6_prefix": 128},
            "[privacy] ipv6_prefix: must be a whole number from 16 to 40, got 128",
        ),
        ("privacy", {"ipv4_prefix": 7}, "[privacy] ipv4_prefix: must be a whole number from 8"),
        ("privacy", {"ipv6_prefix": "48"}, "[privacy] ipv6_prefix: must be a whole number"),
        ("privacy", {"newsletter": "yes"}, "[privacy] newsletter: must be true or false"),
        ("privacy", {"raw_log_retention_days": 0}, "[privacy] raw_log_retention_days"),
        ("business", {"email": ""}, "[business] email: must be a non-empty text"),
        ("business", {"fax": "x"}, "[business] fax: unknown key"),
        ("analytics", {"logs": "access.log"}, "[analytics] logs: must be a list"),
    ],
)
def test_bad_values_name_the_key(tmp_path, section, values, message):
    path = write_shop_toml(tmp_path / "shop.toml", **{section: values})
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert message in str(e.value)


@pytest.mark.parametrize("prefix", [41, 44, 48])
def test_an_ipv6_prefix_of_one_customer_network_fails_with_the_reason(tmp_path, prefix):
    """Dutch ISPs give each household a /48: 41 to 48 would keep what identifies a visitor."""
    path = write_shop_toml(tmp_path / "shop.toml", privacy={"ipv6_prefix": prefix})
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    message = str(e.value)
    assert "\n" not in message
    assert f"[privacy] ipv6_prefix: at most 40, got {prefix}" in message
    assert "a /48 is one customer's network" in message


def test_missing_required_key(tmp_path):
    path = tmp_path / "shop.toml"
    path.write_text('[site]\nurl = "https://x.example"\n[business]\ntrade_name = "X"\n')
    with pytest.raises(config.ConfigError, match=r"\[business\] legal_form: missing"):
        config.load(path)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(config.ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[privacy\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(bad)
