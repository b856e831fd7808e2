"""The rendered nginx config in Debian's nginx: pages, 404, headers in every location, gzip,
asset caching, the form's body limit, both access logs, and the HTTPS variant's syntax."""

from __future__ import annotations

import ipaddress
import random
import subprocess

import httpx
import pytest
from e2e.harness import MAIN_CONF, NGINX, load_render, nginx_process, run_nginx, security_headers
from support import ROOT, free_port

from shop import config

# The test-only addition to nginx.conf: take the client address from a header, so the real
# nginx map can be fed any IPv4/IPv6 address over loopback.
REAL_IP = "set_real_ip_from 127.0.0.1; real_ip_header X-Test-Client;"

CLIENTS = [
    "127.0.0.1",
    "192.0.2.123",
    "203.0.113.9",
    "::1",
    "2001:db8:1:2::7",
    "2001:db8::1",
    "2a02:a45e:b12:1:2:3:4:5",
    "fe80::1",
    "::ffff:198.51.100.77",
]


@pytest.fixture(scope="module")
def nginx(built_site, tmp_path_factory):
    """nginx with the repo's config and no handler behind /api/ (so /api/ answers 502)."""
    tmp = tmp_path_factory.mktemp("nginx")
    with run_nginx(tmp, built_site, handler_port=free_port(), extra_http=REAL_IP) as server:
        yield server


@pytest.fixture(scope="module")
def http(nginx):
    with httpx.Client(base_url=nginx.url, headers={"Accept-Encoding": "identity"}) as client:
        yield client


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in security_headers().items():
        assert response.headers.get_list(name) == [value], f"{response.url.path}: {name}"


def test_pages_are_served_with_clean_urls(http):
    home = http.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    contact = http.get("/contact")
    assert contact.status_code == 301
    assert contact.headers["location"] == "/contact/"  # relative: right behind any proxy


def test_missing_page_gets_the_sites_404(http, built_site):
    response = http.get("/bestaat-niet/")
    assert response.status_code == 404
    assert response.text == (built_site / "404.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path", ["/", "/theme/css/style.css", "/bestaat-niet/", "/api/repair-request", "/_headers"]
)
def test_security_headers_in_every_location(http, path):
    """Also on errors and where a location adds its own headers."""
    assert_security_headers(http.get(path))


def test_stats_ask_for_the_password_and_only_over_loopback(http):
    """The plain-HTTP variant never lets the password cross a network unencrypted."""
    here = http.get("/stats/")
    assert here.status_code == 401
    assert here.headers["www-authenticate"] == 'Basic realm="ITfixe statistics"'
    elsewhere = http.get("/stats/", headers={"X-Test-Client": "192.0.2.123"})
    assert elsewhere.status_code == 403
    assert http.get("/stats/", headers={"X-Test-Client": "::1"}).status_code == 401


def test_hidden_files_are_not_served(http, built_site):
    assert (built_site / "_headers").is_file()
    assert http.get("/_headers").status_code == 404
    assert http.get("/.git/config").status_code == 404


def test_theme_assets_cached_and_revalidated(http):
    plain = http.get("/theme/css/style.css")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=3600, must-revalidate"
    again = http.get("/theme/css/style.css", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    hashed = http.get("/theme/css/style.css?v=0123abcd")
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("path", ["/", "/theme/css/style.css"])
def test_text_is_gzipped(http, path):
    plain = http.get(path)
    packed = http.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.content == plain.content  # httpx unpacked it
    assert packed.num_bytes_downloaded < len(plain.content) / 2


def test_oversized_form_post_stops_at_nginx(http):
    """No handler runs behind this nginx: 413 proves nginx refused the body itself."""
    big = http.post(
        "/api/repair-request",
        content=b"description=" + b"x" * 40_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    assert_security_headers(big)
    small = http.post("/api/repair-request", content=b"name=x")
    assert small.status_code == 502  # passed on to the (absent) handler


def test_api_requests_are_rate_limited_per_client(http):
    """A flood from one address stops at nginx (429); another address still gets through."""
    flood = {"X-Test-Client": "198.51.100.200"}
    statuses = [http.get("/api/health", headers=flood).status_code for _ in range(40)]
    assert statuses[0] == 502  # passed on to the (absent) handler
    assert 429 in statuses and set(statuses) == {502, 429}
    assert http.get("/api/health", headers={"X-Test-Client": "198.51.100.201"}).status_code == 502


def test_anonymised_log_keeps_only_the_configured_prefix(http, nginx):
    shop = config.load(ROOT / "shop.toml")
    prefix = {4: shop.privacy.ipv4_prefix, 6: shop.privacy.ipv6_prefix}
    for client in CLIENTS:
        http.get("/robots.txt", headers={"X-Test-Client": client, "User-Agent": client})
    anonymised = nginx.log("access-anonymised.log").read_text().splitlines()
    combined = nginx.log("access.log").read_text().splitlines()
    for client in CLIENTS:
        address = ipaddress.ip_address(client)
        address = getattr(address, "ipv4_mapped", None) or address
        expected = ipaddress.ip_network(f"{address}/{prefix[address.version]}", strict=False)
        masked = next(li for li in anonymised if li.endswith(f'"{client}"')).split(" ", 1)[0]
        full = next(li for li in combined if li.endswith(f'"{client}"')).split(" ", 1)[0]
        assert (masked, full) == (str(expected.network_address), client)


def test_https_config_for_the_real_host_passes_nginx_t(tmp_path, built_site):
    """The HTTPS variant (certificate, HTTP→HTTPS redirect) as rendered for a host."""
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=www.itfixe.example", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    render = load_render()
    logs = tmp_path / "logs"
    logs.mkdir()
    site_conf = render.render_nginx(
        tmp_path / "conf",
        config.load(ROOT / "shop.toml"),
        site_root=str(built_site),
        log_dir=str(logs),
        tls_cert=str(cert),
        tls_key=str(key),
    )
    text = site_conf.read_text()
    assert "return 301 https://$host$request_uri;" in text
    # /stats/ only in the HTTPS server (port 80 redirects everything), open to any address there.
    assert text.count("itfixe-site.conf;") == 1
    stats = (tmp_path / "conf" / "itfixe-site.conf").read_text().split("location /stats/ {")[1]
    assert "deny all" not in stats.split("}")[0] and "auth_basic_user_file" in stats
    assert "server_name www.itfixe.example;" in text
    assert "Strict-Transport-Security" in security_headers()
    main = tmp_path / "nginx.conf"
    main.write_text(MAIN_CONF.format(user="", run=tmp_path, site_conf=site_conf, extra=""))
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


@pytest.mark.parametrize("ipv6_prefix", [16, 34, 40])
def test_real_nginx_cuts_ipv6_at_any_allowed_prefix(tmp_path, ipv6_prefix):
    """The map for prefixes that end inside a group, run by nginx on many random addresses."""
    rules = load_render().ip_mask_rules(24, ipv6_prefix)
    port = free_port()
    run = tmp_path / "run"
    run.mkdir()
    site_conf = tmp_path / "mask.conf"
    site_conf.write_text(
        f"map $remote_addr $masked {{\n{rules}\n    default 0.0.0.0;\n}}\n"
        f"server {{ listen 127.0.0.1:{port}; {REAL_IP} "
        "location / { default_type text/plain; return 200 $masked; } }\n"
    )
    rng = random.Random(ipv6_prefix)
    # Groups of every length, zero runs at every place (nginx compresses them as RFC 5952 says).
    pool = [0, 0, 0, 1, 0xA, 0xAB, 0xABC, 0xFFFF, 0x1B12, 0x4000]
    addresses = {
        str(ipaddress.IPv6Address(b"".join(
            rng.choice([rng.choice(pool), rng.randrange(0x10000)]).to_bytes(2, "big")
            for _ in range(8)
        )))
        for _ in range(400)
    }  # fmt: skip
    with (
        nginx_process(tmp_path, run, site_conf, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        masked = {a: client.get("/", headers={"X-Test-Client": a}).text for a in addresses}
    for address, cut in masked.items():
        # A leading zero run is cut at the "::" nginx writes: coarser, never finer.
        prefixes = range(ipv6_prefix + 1) if address.startswith("::") else [ipv6_prefix]
        networks = {ipaddress.ip_network(f"{address}/{p}", strict=False) for p in prefixes}
        assert ipaddress.ip_address(cut) in {n.network_address for n in networks}, (address, cut)
