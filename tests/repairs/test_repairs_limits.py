"""Spam limits: per client (IPv6 by its /64), per recipient, a global hourly cap, and a flood
of fresh keys that resets nobody's window."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from support import write_shop_toml

from repairs.limits import GlobalCap, RateLimiter, client_key
from repairs.settings import Limit


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_client_key(address, key):
    assert client_key(address) == key


def test_a_flood_of_fresh_keys_resets_no_limit():
    limiter = RateLimiter(Limit(3, 600), max_keys=10)
    assert [limiter.hit("spammer", now=0) for _ in range(4)][-1] > 0
    for n in range(100):  # far more fresh keys than the table holds
        assert limiter.hit(f"fresh{n}", now=1) == 0
    assert limiter.hit("spammer", now=2) > 0  # still limited
    assert len(limiter._windows) <= 10
    # Expired windows make room again.
    assert limiter.hit("late", now=700) == 0
    assert limiter.hit("spammer", now=701) == 0


def test_global_cap_is_a_sliding_hour():
    cap = GlobalCap(3)
    assert [cap.take(now=t) for t in (0, 10, 20)] == [0, 0, 0]
    assert cap.take(now=30) == 3570
    cap.give_back()  # the third was not stored after all
    assert cap.take(now=40) == 0
    assert cap.take(now=3600) == 0  # the first has left the hour
    assert GlobalCap(0).take() == 0


def test_ipv6_clients_are_limited_by_their_64(start_handler, smtp_sink, env_for, make_form):
    handler = start_handler(env_for(smtp_sink, REPAIRS_CLIENT_LIMIT="3/600"))

    def post_from(address: str, n: int) -> int:
        data = make_form(email=f"v6.{n}@example.nl")
        headers = {"X-Forwarded-For": address}  # as nginx passes it (trusted from loopback)
        return handler.post(data, headers=headers, follow_redirects=False).status_code

    statuses = [post_from(f"2001:db8:1:2::{n:x}", n) for n in range(1, 9)]
    assert statuses == [303] * 3 + [429] * 5
    assert post_from("2001:db8:1:3::1", 9) == 303  # the neighbouring /64 is someone else
    assert len(handler.rows()) == 4


def test_global_hourly_cap_asks_visitors_to_call(
    start_app, smtp_sink, env_for, make_form, tmp_path
):
    toml = write_shop_toml(tmp_path / "shop.toml", repairs={"accepted_requests_per_hour": 3})
    handler = start_app(env_for(smtp_sink, SHOP_CONFIG=str(toml)))
    statuses = [
        handler.post(make_form(email=f"c{n}@example.nl"), follow_redirects=False).status_code
        for n in range(3)
    ]
    assert statuses == [303] * 3
    refused = handler.post(make_form(email="late@example.nl", lang="en"))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 3000
    text = BeautifulSoup(refused.text, "html.parser").find("main").get_text()
    assert "Please call us at" in text and "+31 6 00000000" in text
    assert len(handler.rows()) == 3
