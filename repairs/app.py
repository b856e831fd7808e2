"""The ASGI app: POST /api/repair-request → checks → group-committed store → 303 to the thank-you page."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from repairs import outbox, store
from repairs.headers import SecurityHeaders, preview_headers, security_headers
from repairs.limits import GlobalCap, RateLimiter, client_key
from repairs.pages import Pages
from repairs.settings import Settings
from repairs.validation import HONEYPOT, FormError, form_lang, parse_body, validate
from repairs.writer import Writer, WriteRefused
from shop.site import DEFAULT_LANG, page_path

MAX_BODY = 32 * 1024
FORM_TYPE = b"application/x-www-form-urlencoded"
NO_STORE = {"cache-control": "no-store"}
GC_THRESHOLD = 10_000
# /api/health warns below this much free space on the database's disk: a full disk may still
# take the health check's tiny write (into WAL space it already has) but no more requests.
HEALTH_MIN_FREE_BYTES = 8 * 1024 * 1024
# Exit status when the writer gives up (EX_SOFTWARE): systemd's Restart=on-failure restarts us.
FATAL_EXIT = 70
log = logging.getLogger("repairs.app")

REFUSALS = {
    "nl": {
        400: "Het formulier kon niet worden gelezen. Vul het opnieuw in op onze website.",
        403: "Dit formulier kan alleen vanaf onze eigen website worden verstuurd.",
        413: "Het formulier is te groot. Maak de omschrijving korter en probeer het opnieuw.",
        415: "Verstuur het formulier vanaf onze website.",
        429: "U heeft het formulier vaak achter elkaar verstuurd. Probeer het over {minutes} "
        "minuten opnieuw, of bel ons.",
        503: "Uw aanvraag kon nu niet worden opgeslagen. Probeer het zo opnieuw, of bel ons.",
        "cap": "Er komen nu uitzonderlijk veel aanvragen binnen, dus we nemen er even geen aan. "
        "Bel ons op {phone}, of probeer het over {minutes} minuten opnieuw.",
    },
    "en": {
        400: "The form could not be read. Please fill it in again on our website.",
        403: "This form can only be sent from our own website.",
        413: "The form is too large. Please shorten the description and try again.",
        415: "Please send the form from our website.",
        429: "You have sent the form several times in a row. Please try again in {minutes} "
        "minutes, or call us.",
        503: "Your request could not be saved just now. Please try again shortly, or call us.",
        "cap": "We are receiving unusually many requests right now, so we accept none for a "
        "while. Please call us at {phone}, or try again in {minutes} minutes.",
    },
}


class Refusal(Exception):
    def __init__(self, status: int, retry_after: int = 0, message: str | int = 0) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after
        self.message = message or status  # the key in REFUSALS


class RepairRequests:
    """The endpoint's state: settings, pages, limiters, and (while running) writer and outbox."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pages = Pages(settings)
        self.per_client = RateLimiter(settings.client_limit)
        self.per_recipient = RateLimiter(settings.recipient_limit)
        self.accepted = GlobalCap(settings.shop.repairs.accepted_requests_per_hour)
        self.newsletter_offered = settings.shop.privacy.newsletter
        self.allowed_origins = settings.form_origins
        self.writer: Writer | None = None
        self.outbox: outbox.Outbox | None = None
        self.wake = asyncio.Event()
        # Set when the writer gave up; `request_exit` (set by `run`) then ends the server.
        self.fatal_error: BaseException | None = None
        self.request_exit = lambda: os.kill(os.getpid(), signal.SIGTERM)

    # --- lifecycle ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette):
        loop = asyncio.get_running_loop()

        def on_fatal(error: BaseException) -> None:  # from the writer thread or the watchdog
            loop.call_soon_threadsafe(self._fail, error)

        self.writer = Writer(self.settings.db_path, on_fatal=on_fatal)
        await asyncio.to_thread(self.writer.start)
        self.outbox = outbox.Outbox(self.settings, self.writer)
        stop = asyncio.Event()
        delivery = asyncio.create_task(outbox.deliver_forever(self.outbox, self.wake, stop))
        watchdog = asyncio.create_task(self._watch_writer(stop))
        try:
            yield
        finally:
            stop.set()
            self.wake.set()
            watchdog.cancel()
            try:
                await asyncio.wait_for(delivery, timeout=30)
            except TimeoutError:
                log.warning("outbox round still running at shutdown; unsent mails resume later")
            await asyncio.to_thread(self.writer.stop)

    async def _watch_writer(self, stop: asyncio.Event) -> None:
        assert self.writer is not None
        while not stop.is_set():
            self.writer.check()
            await asyncio.sleep(1.0)

    def _fail(self, error: BaseException) -> None:
        if self.fatal_error is None:
            self.fatal_error = error
            log.critical("no working database writer (%s); stopping so systemd restarts us", error)
            self.request_exit()

    # --- endpoints ----------------------------------------------------------------------------

    async def post(self, request: Request) -> Response:
        headers = request_headers(request.scope)
        lang = ""  # until the form is read, refusals speak the browser's language
        try:
            form = await self._read_form(request, headers)
            lang = form_lang(form)
            if form.get(HONEYPOT) != "":  # a bot: look exactly like success, keep nothing
                return self._see_thanks(request.scope, _fake_ref(), lang)
            repair, errors = validate(form, self.newsletter_offered)
            if repair is None:
                return self._invalid(form, errors, lang, _wants_json(headers))
            wait = self.per_recipient.hit(repair.email.lower())
            if wait:
                raise Refusal(429, wait)
            wait = self.accepted.take()
            if wait:
                raise Refusal(429, wait, "cap")
            assert self.writer is not None
            try:
                ref = await self.writer.insert(repair)
            except Exception as e:  # whatever failed, the visitor gets "try again or call us"
                self.accepted.give_back()
                if not isinstance(e, WriteRefused):
                    log.exception("could not store a request")
                raise Refusal(503, 30) from None
        except FormError:
            return self._refuse(Refusal(400), lang or _accept_lang(headers), _wants_json(headers))
        except Refusal as refusal:
            return self._refuse(refusal, lang or _accept_lang(headers), _wants_json(headers))
        self.wake.set()
        return self._see_thanks(request.scope, ref, repair.lang)

    async def health(self, request: Request) -> Response:
        """200 when the database takes writes and no mail waits too long; else 503 and why."""
        problems: list[str] = []
        assert self.writer is not None
        try:
            oldest = await self.writer.run(_probe)
        except Exception as e:
            problems.append(f"the database takes no writes: {e}")
        else:
            max_wait = timedelta(minutes=self.settings.shop.repairs.health_max_mail_wait_minutes)
            queued = datetime.fromisoformat(oldest).replace(tzinfo=UTC) if oldest else None
            if queued and datetime.now(UTC) - queued > max_wait:
                problems.append(f"a mail has waited since {oldest} (longer than {max_wait})")
        free = _free_bytes(self.settings.db_path)
        if free < HEALTH_MIN_FREE_BYTES:
            problems.append(f"only {free // 1024} KB free on the database's disk")
        body = {"status": "failing" if problems else "ok", "problems": problems}
        return JSONResponse(body, 503 if problems else 200, headers=NO_STORE)

    async def thanks(self, request: Request) -> Response:
        lang = request.query_params.get("lang", DEFAULT_LANG)
        lang = lang if lang in REFUSALS else DEFAULT_LANG
        html = self.pages.thanks(lang, request.query_params.get("ref", ""))
        return HTMLResponse(html, headers=NO_STORE)

    async def get_form(self, request: Request) -> Response:
        """A GET of the form's address (a bookmark, a reload): go to the form page."""
        return RedirectResponse(self.settings.site_url + page_path("repair"), status_code=303)

    # --- the steps ----------------------------------------------------------------------------

    async def _read_form(self, request: Request, headers: dict[bytes, bytes]) -> dict[str, str]:
        content_type = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        if content_type != FORM_TYPE:
            raise Refusal(415)
        if not self._origin_allowed(request.scope, headers):
            raise Refusal(403)
        length = headers.get(b"content-length", b"")
        if length and not length.isdigit():
            raise Refusal(400)
        # Length first: int() refuses over 4300 digits with a ValueError (which was a 500).
        if length and (len(length) > len(str(MAX_BODY)) or int(length) > MAX_BODY):
            raise Refusal(413)
        client = request.scope.get("client")
        wait = self.per_client.hit(client_key(client[0]) if client else "")
        if wait:
            raise Refusal(429, wait)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise Refusal(413)
        return parse_body(bytes(body))

    def _origin_allowed(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        """Same origin or an allowed one; no Origin at all (not a browser) is fine too.

        Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for a same-origin
        form, so then the browser's own Sec-Fetch-Site verdict decides.
        """
        origin = headers.get(b"origin")
        if origin is None or origin == b"null":
            return headers.get(b"sec-fetch-site", b"same-origin") != b"cross-site"
        origin_text = origin.decode("latin-1")
        own = f"{scope['scheme']}://{headers.get(b'host', b'').decode('latin-1')}"
        return origin_text == own or origin_text in self.allowed_origins

    def _see_thanks(self, scope: Scope, ref: str, lang: str) -> Response:
        # Both are URL-safe by construction: R-YYYY-NNNN and a code from LANGUAGES.
        return see_other(f"{_escaped_path(scope)}/thanks?ref={ref}&lang={lang}")

    def _invalid(self, form: dict, errors: dict, lang: str, wants_json: bool) -> Response:
        if wants_json:
            return JSONResponse({"errors": errors}, status_code=422, headers=NO_STORE)
        values = {k: v for k, v in form.items() if k != HONEYPOT}
        html = self.pages.form(lang, values, errors)
        return HTMLResponse(html, status_code=422, headers=NO_STORE)

    def _refuse(self, refusal: Refusal, lang: str, wants_json: bool) -> Response:
        headers = dict(NO_STORE)
        minutes = 1
        if refusal.retry_after:
            headers["retry-after"] = str(refusal.retry_after)
            minutes = max(1, -(-refusal.retry_after // 60))
        phone = self.settings.shop.business.phone
        message = REFUSALS[lang][refusal.message].format(minutes=minutes, phone=phone)
        if wants_json:
            return JSONResponse({"error": message}, refusal.status, headers=headers)
        html = self.pages.notice(lang, refusal.status, message)
        return HTMLResponse(html, refusal.status, headers=headers)


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """The raw headers by (already lower-case) name; of a repeated one the first counts.

    One pass over the list instead of a scan per header looked up (Starlette's `Headers.get`).
    """
    return dict(reversed(scope["headers"]))


def see_other(location: str) -> Response:
    """303 to `location` (a URL that is already safe as it is), not to be cached."""
    return Response(status_code=303, headers={"location": location, **NO_STORE})


def _escaped_path(scope: Scope) -> str:
    # As Starlette's `request.url.path` has it: these three would change the URL's meaning.
    return scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _wants_json(headers: dict[bytes, bytes]) -> bool:
    return b"application/json" in headers.get(b"accept", b"")


def _accept_lang(headers: dict[bytes, bytes]) -> str:
    return "en" if headers.get(b"accept-language", b"").lower().startswith(b"en") else "nl"


def _probe(conn) -> str | None:
    """The health check's write; returns when the oldest waiting mail was queued."""
    store.prove_writable(conn)
    return store.oldest_waiting_mail(conn)


def _free_bytes(path: Path) -> int:
    try:
        stats = os.statvfs(path.resolve().parent)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def _fake_ref() -> str:
    return f"R-{datetime.now(store.SHOP_TZ).year}-{random.randint(1, 9999):04d}"


def create_app(settings: Settings, site_dir: Path | None = None) -> Starlette:
    """The handler; with `site_dir` it also serves the built site (a one-process preview)."""
    handler = RepairRequests(settings)
    path = "/api/repair-request"
    routes: list = [
        Route(path, handler.post, methods=["POST"]),
        Route(path, handler.get_form, methods=["GET"]),
        Route(path + "/thanks", handler.thanks, methods=["GET"]),
        Route("/api/health", handler.health, methods=["GET"]),
    ]
    headers = {"/": security_headers(settings)}
    if site_dir is not None:
        routes.append(Mount("/", app=StaticFiles(directory=site_dir, html=True)))
        headers = preview_headers(settings)  # the report under /stats/ gets its own
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, by_prefix=headers)],
        lifespan=handler.lifespan,
    )
    app.state.handler = handler
    return app


def run(app: Starlette, host: str, port: int, log_level: str = "info") -> None:
    """Serve under uvicorn: one worker (one writer per SQLite file), no access log.

    Exits with FATAL_EXIT when the writer gave up, so systemd restarts the process.
    """
    import uvicorn

    # Each request in flight holds a few dozen GC-tracked objects while it waits for its commit,
    # so under load the default threshold (700) ran a collection every ~17 requests, ~10% of
    # the CPU. A larger first generation collects just as surely, only less often.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    # No access log: paths and client addresses are nobody's business but the visitor's.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=False,
        server_header=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    handler: RepairRequests = app.state.handler
    handler.request_exit = lambda: setattr(server, "should_exit", True)
    server.run()
    if handler.fatal_error is not None:
        sys.exit(FATAL_EXIT)
    if not server.started:
        sys.exit(3)  # as uvicorn.run does when the app did not start
