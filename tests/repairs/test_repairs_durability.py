"""What a shop must not lose: requests across kill -9, mails across SMTP outages and restarts."""

from __future__ import annotations

import re
import threading
import time

import httpx
from support import SMTPSink

REF = re.compile(r"R-\d{4}-\d{4,}")


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_kill_9_during_a_burst_loses_no_acknowledged_request(start_handler, tmp_path, make_form):
    mail_dir = tmp_path / "mail"
    env = {
        "REPAIRS_MAIL_DIR": str(mail_dir),
        "REPAIRS_CLIENT_LIMIT": "0",
        "REPAIRS_RECIPIENT_LIMIT": "0",
    }
    handler = start_handler(env)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=handler.url, timeout=5) as http:
            i = 0
            while not stop.is_set():
                i += 1
                data = make_form(email=f"c{n}.{i}@example.nl")
                try:
                    r = http.post("/api/repair-request", data=data)
                except httpx.TransportError:
                    return  # the server is gone
                if r.status_code == 303:
                    acknowledged.append(REF.search(r.headers["location"]).group())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acknowledged) >= 40)
    handler.kill()  # mid-burst: clients are still posting
    stop.set()
    for t in threads:
        t.join()

    stored = {row["ref"] for row in handler.rows("SELECT ref FROM requests")}
    assert set(acknowledged) <= stored
    assert len(acknowledged) >= 40

    # A restart resumes the outbox: every stored request gets its two mails, once each.
    restarted = start_handler(env, db=handler.db)
    # Wait for what is asserted: the last sent_at is committed a moment after its .eml exists.
    unsent = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
    wait_until(lambda: restarted.rows(unsent)[0][0] == 0, timeout=60)
    assert len(list(mail_dir.glob("*.eml"))) == 2 * len(stored)


def test_smtp_down_then_up_delivers_every_mail_once(start_handler, sink_down, env_for, make_form):
    handler = start_handler(env_for(sink_down))
    refs = []
    for i in range(3):
        r = handler.post(make_form(email=f"k{i}@example.nl"), follow_redirects=False)
        assert r.status_code == 303  # accepted although no mail can go out
        refs.append(REF.search(r.headers["location"]).group())
    failed = "SELECT count(*) FROM outbox WHERE attempts >= 2 AND sent_at IS NULL"
    wait_until(lambda: handler.rows(failed)[0][0] == 6)  # retried, still waiting

    sink_down.start()
    wait_until(lambda: handler.rows("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0)
    mails = sink_down.wait_for(6)
    handler.stop()
    assert len(sink_down.messages) == 6
    assert len({m["Message-ID"] for m in mails}) == 6
    for ref in refs:
        assert sum(ref in m["Subject"] for m in mails) == 2


def test_restart_resumes_the_outbox(start_handler, sink_down, env_for, make_form):
    env = env_for(sink_down)
    handler = start_handler(env)
    assert handler.post(make_form(), follow_redirects=False).status_code == 303
    handler.stop()  # shut down with both mails still queued

    sink_down.start()
    again = start_handler(env, db=handler.db)
    mails = sink_down.wait_for(2)
    assert {m["To"] for m in mails} == {"owner@itfixe.example", "jan@example.nl"}
    assert again.post(make_form(email="second@example.nl")).status_code == 200
    sink_down.wait_for(4)
    again.stop()
    assert len(sink_down.messages) == 4


class RefusingSink(SMTPSink):
    """Refuses bounce@ for good (550) and defers later@ once (451)."""

    deferred = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce@"):
            return "550 5.1.1 No such user"
        if address.startswith("later@") and not self.deferred:
            self.deferred = True
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_refused_and_deferred_recipients_do_not_block_the_queue(
    start_handler, smtp_sinks, env_for, make_form
):
    sink = smtp_sinks(RefusingSink())
    handler = start_handler(env_for(sink))
    handler.post(make_form(email="bounce@example.nl"))
    handler.post(make_form(email="later@example.nl"))
    handler.post(make_form(email="fine@example.nl"))
    settled = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    wait_until(lambda: handler.rows(settled)[0][0] == 0)
    handler.stop()
    failed = handler.rows(
        "SELECT r.email, o.kind FROM outbox o JOIN requests r "
        "ON r.id = o.request_id WHERE o.failed_at IS NOT NULL"
    )
    assert [tuple(row) for row in failed] == [("bounce@example.nl", "confirmation")]
    recipients = sorted(m["To"] for m in sink.messages)
    # Three owner notices, and one telling the owner the confirmation to bounce@ failed.
    assert recipients == ["fine@example.nl", "later@example.nl", *["owner@itfixe.example"] * 4]
    (notice,) = [m for m in sink.messages if "niet verstuurd" in m["Subject"]]
    assert "confirmation" in notice.get_content() and "550" in notice.get_content()
