"""Benchmark the repair-request handler against a bare 303 endpoint on the same server stack.

16 keep-alive clients on loopback post for a fixed time, in alternating rounds, to a bare endpoint
that reads the body and answers 303 (no checks, no storage, no mail), to one that also runs every
check but stores nothing, and to the real form endpoint (checks, rate limits, group-committed
SQLite with synchronous=FULL, outbox mailing to a folder), all in one server process.
Prints requests/s, p50/p99 latency, the ratio, and whether every 303 is a stored row.

    .venv/bin/python bench/handler.py                 # 10 s per endpoint, 5 rounds
    .venv/bin/python bench/handler.py --seconds 5 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent

BARE_PATH = "/bench/bare-303"
CHECKS_PATH = "/bench/checks-303"
FORM_PATH = "/api/repair-request"
# Posted to in this order each round; "form" (the real endpoint) last.
ENDPOINTS = {"bare": BARE_PATH, "checks": CHECKS_PATH, "form": FORM_PATH}
LABELS = {
    "bare": "bare 303 (no checks)",
    "checks": "checks only, no storage",
    "form": "form: checks + FULL commit",
}
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


# --- the server (a subprocess: `handler.py --serve PORT`) ---------------------------------------


def serve(port: int) -> None:
    """The real app plus the bare and checks-only endpoints, served as `repairs serve` does."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from repairs import settings as repairs_settings
    from repairs.app import create_app, request_headers, see_other
    from repairs.app import run as run_server
    from repairs.validation import validate

    # The same 303 (location and cache-control) the form endpoint builds, the same way.
    location = "/api/repair-request/thanks?ref=R-2026-0000&lang=nl"

    async def bare_303(request: Request) -> Response:
        await request.body()
        return see_other(location)

    settings = repairs_settings.load()
    # The hourly cap stays on (its bookkeeping is part of the cost), just far above the load.
    uncapped = dataclasses.replace(settings.shop.repairs, accepted_requests_per_hour=100_000)
    settings = dataclasses.replace(
        settings, shop=dataclasses.replace(settings.shop, repairs=uncapped)
    )
    app = create_app(settings)
    handler = app.state.handler

    async def checks_303(request: Request) -> Response:
        """Everything the form endpoint does except storing: shows what durability costs."""
        form = await handler._read_form(request, request_headers(request.scope))
        repair, _ = validate(form, handler.newsletter_offered)
        assert repair is not None and handler.per_recipient.hit(repair.email.lower()) == 0
        return see_other(location)

    app.router.routes.insert(0, Route(BARE_PATH, bare_303, methods=["POST"]))
    app.router.routes.insert(0, Route(CHECKS_PATH, checks_303, methods=["POST"]))
    run_server(app, "127.0.0.1", port, log_level="warning")


# --- the clients --------------------------------------------------------------------------------


def request_bytes(path: str, port: int, n: int) -> bytes:
    """A complete form POST; every request from another address and with another e-mail."""
    body = urlencode(
        {
            "name": f"Bench Klant {n}",
            "company": "",
            "address": "Dorpsstraat 1\n1234 AB Ergens",
            "email": f"klant{n}@example.nl",
            "phone": "06 12345678",
            "device": "Laptop",
            "description": "Start niet meer op na een update. " * 4,
            "lang": "nl",
            "website": "",
        }
    ).encode()
    # Through uvicorn's proxy-headers support (trusted from loopback) each request counts as
    # its own client, so the per-client limit stays on without refusing the benchmark.
    forwarded = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Origin: http://127.0.0.1:{port}\r\nX-Forwarded-For: {forwarded}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def client(port: int, path: str, deadline: float, counter, latencies, statuses) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = request_bytes(path, port, next(counter))
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = CONTENT_LENGTH.search(head)
            if length:
                await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - start)
            statuses[int(head[9:12])] += 1
    finally:
        writer.close()


async def load(port: int, path: str, clients: int, seconds: float, counter) -> dict:
    """`clients` connections posting to `path` for `seconds`: raw latencies and statuses."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(client(port, path, deadline, counter, latencies, statuses) for _ in range(clients))
    )
    return {"elapsed": time.perf_counter() - start, "latencies": latencies, "statuses": statuses}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_load(pid: int, *args) -> dict:
    before, client_before = cpu_seconds(pid), time.process_time()
    result = asyncio.run(load(*args))
    result["server_cpu"] = cpu_seconds(pid) - before
    # The clients share the machine with the server: show what they take per request.
    result["client_cpu"] = time.process_time() - client_before
    return result


def summary(runs: list[dict]) -> dict:
    """Pooled over the rounds: 303s per second, latency percentiles, status counts."""
    latencies = sorted(x for run in runs for x in run["latencies"])
    statuses = sum((run["statuses"] for run in runs), Counter())
    elapsed = sum(run["elapsed"] for run in runs)
    cpu = sum(run["server_cpu"] for run in runs)
    client_cpu = sum(run["client_cpu"] for run in runs)
    return {
        "per_second": round(statuses[303] / elapsed, 1),
        "server_cpu_us_per_request": round(1e6 * cpu / max(1, len(latencies))),
        "client_cpu_us_per_request": round(1e6 * client_cpu / max(1, len(latencies))),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
        "statuses": dict(statuses),
    }


# --- the run ------------------------------------------------------------------------------------


def test_support():
    """tests/support.py (ports), loaded by path: tests/ on sys.path would shadow `repairs`."""
    spec = importlib.util.spec_from_file_location("support", ROOT / "tests" / "support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(clients: int, seconds: float, rounds: int) -> dict:
    """Alternate bare and form rounds, so load from other processes hits both alike."""
    counter = iter(range(10**9))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="repairs-bench-") as tmp:
        db = Path(tmp) / "repairs.sqlite3"
        support = test_support()
        port = support.free_port()
        env = {**os.environ, "REPAIRS_DB": str(db), "REPAIRS_MAIL_DIR": str(Path(tmp) / "mail")}
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )
        runs: dict[str, list[dict]] = {name: [] for name in ENDPOINTS}
        try:
            support.wait_for_port(port, server, "the benchmark server", log)
            warmup = [
                timed_load(server.pid, port, p, clients, 1.0, counter) for p in ENDPOINTS.values()
            ]
            for _ in range(rounds):
                for name, path in ENDPOINTS.items():
                    runs[name].append(
                        timed_load(server.pid, port, path, clients, seconds / rounds, counter)
                    )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        conn = sqlite3.connect(db)
        stored, refs = conn.execute("SELECT count(*), count(DISTINCT ref) FROM requests").fetchone()
        conn.close()
    results = {name: summary(r) for name, r in runs.items()}
    form_303 = sum(r["statuses"][303] for r in [warmup[-1], *runs["form"]])
    results["ratio"] = round(results["form"]["per_second"] / results["bare"]["per_second"], 2)
    results["ratio_to_checks"] = round(
        results["form"]["per_second"] / results["checks"]["per_second"], 2
    )
    results["ratio_per_round"] = [
        round(f["statuses"][303] / f["elapsed"] / (b["statuses"][303] / b["elapsed"]), 2)
        for b, f in zip(runs["bare"], runs["form"], strict=True)
    ]
    results.update(form_303_total=form_303, stored_rows=stored)
    results["stored_equals_303"] = stored == form_303 == refs
    results.update(clients=clients, seconds=seconds, rounds=rounds, cpus=os.cpu_count())
    # Other work on the machine skews the figures; the 1-minute load average says how much.
    results["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return results


def report(r: dict) -> str:
    lines = [
        f"{r['clients']} clients, {r['seconds']:g} s per endpoint in {r['rounds']} alternating "
        f"rounds, {r['cpus']} CPUs, load average {r['load_average_before_after'][0]:.2f} before, "
        f"{r['load_average_before_after'][1]:.2f} after"
    ]
    for name, label in LABELS.items():
        x = r[name]
        lines.append(
            f"{label:<28} {x['per_second']:>8.1f} req/s   p50 {x['p50_ms']:>6.2f} ms   "
            f"p99 {x['p99_ms']:>6.2f} ms   CPU µs/req: server {x['server_cpu_us_per_request']}, "
            f"clients {x['client_cpu_us_per_request']}   "
            f"statuses {x['statuses']}"
        )
    goal_ratio = "meets" if r["ratio"] >= 0.5 else "misses"
    goal_p99 = "meets" if r["form"]["p99_ms"] < 50 else "misses"
    lines.append(
        f"ratio form/bare: {r['ratio']:.2f} ({goal_ratio} the ≥ 0.5 goal); "
        f"per round {r['ratio_per_round']}"
    )
    lines.append(
        f"ratio form/checks-only (the cost of the durable store): {r['ratio_to_checks']:.2f}"
    )
    lines.append(f"form p99 {r['form']['p99_ms']:.2f} ms ({goal_p99} the < 50 ms goal)")
    lines.append(
        f"stored rows {r['stored_rows']} == 303 responses {r['form_303_total']}: "
        f"{'yes' if r['stored_equals_303'] else 'NO'}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per endpoint")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    results = run(args.clients, args.seconds, args.rounds)
    print(json.dumps(results, indent=2) if args.json else report(results))
    if not results["stored_equals_303"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
