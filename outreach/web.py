"""The subscriber web app: sign-up with double opt-in, topic preferences, one-click unsubscribe.

An ASGI app (Starlette, already installed with Prefect) served by ``outreach serve`` next to
the site preview. Links carry HMAC-signed tokens; a forged or altered token is refused, and a
confirmation link expires. Forms carry a CSRF token signed with the link secret, sent both as
a cookie (SameSite=Strict) and as a field; both must match and verify. Unsubscribing follows
RFC 8058: a POST with ``List-Unsubscribe=One-Click`` unsubscribes and answers 200 without a
redirect; a GET only shows a page with a button and changes nothing.

The sign-up answer is the same page, in about the same time, whatever the address's state: a
new or pending address is mailed a confirmation link, a confirmed one a link to its
preferences, a bounced or complained one nothing; the email goes out after the answer, at most
one per address per ``WebLimits.mail_window``, and nothing in the form changes a record that
already exists.
"""

from __future__ import annotations

import hmac
import mimetypes
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from outreach.channels.base import Site
from outreach.config import Settings
from outreach.events.registrations import RegistrationStore
from outreach.events.web_routes import EventWeb, event_routes
from outreach.mail_reports import parse_report, take_in
from outreach.mail_transport import mail_transport
from outreach.secrets_store import link_secret, reports_token
from outreach.subscriber_mail import subscription_email
from outreach.subscribers import (
    Subscriber,
    SubscriberError,
    SubscriberStore,
    check_topics,
    normalise_email,
)
from outreach.suppression import record_opt_out, suppressions_for
from outreach.templating import environment
from outreach.tokens import MAX_AGE, BadToken, Purpose, make_token, read_token_issued
from outreach.topics import TOPICS
from outreach.web_guard import BodyLimit, SecurityHeaders, Throttle
from outreach.web_mail import MailQueue, log

CSRF_COOKIE = "outreach_csrf"
REPORTS_PATH = "/mail/reports"
mimetypes.add_type("application/atom+xml", ".atom")


@dataclass(frozen=True)
class WebLimits:
    """What one client or one address can make the app do."""

    body_bytes: int = 16 * 1024
    """Largest request body; the forms need well under 2 KB."""
    form_fields: int = 20
    """Most fields in one form (the sign-up form has 9)."""
    field_bytes: int = 1024
    """Largest single form field."""
    signups_per_client: int = 10
    """Sign-ups one client address may post per ``client_window``; more get 429."""
    client_window: timedelta = timedelta(minutes=10)
    mail_window: timedelta = timedelta(hours=1)
    """At most one email (confirmation or preferences link) per address per window."""
    mail_queue: int = 100
    """Emails waiting to be sent; beyond this, sign-ups are answered but not mailed."""
    report_bytes: int = 1024 * 1024
    """Largest bounce or complaint report posted to the webhook (it quotes the message)."""


def create_app(
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limits: WebLimits = WebLimits(),
) -> Starlette:
    """The app; ``clock`` decides token issue and expiry times (tests set it), and
    ``app.state.mail`` is the queue of emails sent after the answers."""
    store = SubscriberStore(settings.paths.subscribers)
    suppressions = suppressions_for(settings)
    secret = link_secret(settings)
    reports = reports_token()
    env = environment(settings.paths.templates)
    site = Site(settings)
    web = settings.newsletter.web_base_url or settings.site.base_url
    mail = MailQueue(limits.mail_queue)
    per_client = Throttle(limits.signups_per_client, limits.client_window)

    def page(
        template: str, status: int = 200, csrf: str | None = None, **context: object
    ) -> HTMLResponse:
        context.setdefault("message", "")
        html = env.get_template(f"newsletter/web/{template}").render(
            site=site,
            canonical=web + "newsletter/",
            topics=TOPICS,
            csrf=csrf or "",
            link=context.pop("link", None),
            link_text=context.pop("link_text", ""),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if csrf:
            response.set_cookie(
                CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/newsletter"
            )
        return response

    def refuse(message: str, status: int = 400) -> HTMLResponse:
        return page(
            "page.html.j2", status=status, heading="That link does not work", message=message
        )

    def token_email(request: Request, purpose: Purpose) -> tuple[str, datetime | None]:
        """The normalised address of a valid token; BadToken also for a signed token whose
        address is not one (never a 500)."""
        email, issued = read_token_issued(
            secret, purpose, request.query_params.get("token", ""), clock()
        )
        try:
            return normalise_email(email), issued
        except SubscriberError:
            raise BadToken("token names no valid address") from None

    def link(purpose: Purpose, email: str) -> str:
        token = quote(make_token(secret, purpose, email, clock()))
        return f"{web}newsletter/{purpose}?token={token}"

    def new_csrf() -> str:
        return make_token(secret, "form", secrets.token_urlsafe(16), clock())

    async def read_form(request: Request) -> FormData:
        return await request.form(
            max_files=0, max_fields=limits.form_fields, max_part_size=limits.field_bytes
        )

    async def csrf_ok(request: Request) -> tuple[bool, FormData]:
        """The field equals the cookie, and both are a form token we signed recently."""
        form = await read_form(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        field = str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
            return False, form
        try:
            read_token_issued(secret, "form", field, clock())
        except BadToken:
            return False, form
        return True, form

    def mail_to(subscriber: Subscriber) -> None:
        """Queue the email a sign-up earned (it won the address's mail claim): nothing for
        bounced and complained addresses."""
        if subscriber.status in ("bounced", "complained"):
            return
        now, email = clock(), subscriber.email
        kind, message = subscription_email(
            settings,
            env,
            secret,
            email,
            subscriber.topics,
            subscriber.status == "confirmed",
            now,
        )

        def send() -> None:
            with mail_transport(settings) as transport:
                transport.send(message, email, f"{kind}:{email}").raise_for_status()

        mail.submit(f"the {kind} email to {email}", send)

    async def signup_form(request: Request) -> Response:
        return page(
            "signup.html.j2",
            csrf=new_csrf(),
            heading="Get our findings by email",
            message="Choose your topics. We send a confirmation email first.",
            action="subscribe",
            with_contact=True,
            chosen=(),
            email="",
            name="",
            button="Subscribe",
        )

    async def subscribe(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if not per_client.allow(client, clock()):
            minutes = int(limits.client_window.total_seconds() // 60)
            response = page(
                "page.html.j2",
                status=429,
                heading="Too many sign-ups",
                message=f"Too many sign-ups came from your network; try again in {minutes} "
                "minutes.",
            )
            response.headers["Retry-After"] = str(int(limits.client_window.total_seconds()))
            return response
        ok, form = await csrf_ok(request)
        if not ok:
            return refuse(
                "The form expired or came from another site; open the sign-up page again.", 403
            )
        try:
            check_topics(str(t) for t in form.getlist("topics"))  # same 422 for every address
            if suppressions.is_suppressed(normalise_email(str(form.get("email", "")))):
                # Erased, opted out, bounced or complained: nothing is stored or sent, and
                # the answer is the one every address gets (it tells a stranger nothing).
                return signed_up()
            subscriber, may_mail = store.sign_up_and_claim(
                str(form.get("email", "")),
                str(form.get("name", "")),
                [str(t) for t in form.getlist("topics")],
                "web form",
                clock(),
                limits.mail_window,
            )
        except SubscriberError as exc:
            return page(
                "page.html.j2", status=422, heading="Please check the form", message=str(exc)
            )
        if may_mail:
            mail_to(subscriber)
        return signed_up()

    def signed_up() -> HTMLResponse:
        return page(
            "page.html.j2",
            heading="Check your inbox",
            message=(
                "If this address can receive our email, a message is on its way: a link to "
                f"confirm your subscription (valid for {MAX_AGE['confirm'].days} days), or a "
                "link to your preferences if you are already subscribed. Nothing after a few "
                "minutes? Check the address and your spam folder; we send at most one email "
                "per address per hour."
            ),
        )

    async def confirm(request: Request) -> Response:
        try:
            email, issued = token_email(request, "confirm")
        except BadToken:
            return refuse(
                "This confirmation link is not valid or has expired; sign up again for a new one."
            )
        if not store.confirm(email, clock(), issued):
            return refuse("This address cannot be confirmed with this link; sign up again.", 404)
        return page(
            "page.html.j2",
            heading="You are subscribed",
            message="Thank you.",
            link=link("preferences", email),
            link_text="Change your topics at any time",
        )

    async def preferences(request: Request) -> Response:
        try:
            email, _ = token_email(request, "preferences")
        except BadToken:
            return refuse("This preferences link is not valid.")
        subscriber = store.get(email)
        if subscriber is None:
            return refuse("We have no subscription for this address.", 404)
        if request.method == "POST":
            ok, form = await csrf_ok(request)
            if not ok:
                return refuse(
                    "The form expired or came from another site; open the link again.", 403
                )
            try:
                store.set_topics(email, [str(t) for t in form.getlist("topics")], clock())
            except SubscriberError as exc:
                return page(
                    "page.html.j2", status=422, heading="Please check the form", message=str(exc)
                )
            return page("page.html.j2", heading="Your topics are saved")
        return page(
            "signup.html.j2",
            csrf=new_csrf(),
            heading="Your topics",
            message=subscriber.email,
            action=f"preferences?token={quote(request.query_params['token'])}",
            with_contact=False,
            chosen=subscriber.topics,
            email="",
            name="",
            button="Save",
        )

    async def unsubscribe(request: Request) -> Response:
        try:
            email, _ = token_email(request, "unsubscribe")
        except BadToken:
            return refuse("This unsubscribe link is not valid.")
        if request.method == "POST":
            form = await read_form(request)
            if form.get("List-Unsubscribe") != "One-Click":
                return refuse("Unsubscribe requests must say List-Unsubscribe=One-Click.")
            if store.get(email) is not None:
                store.set_status(email, "unsubscribed", clock())
            # Event announcements stop too: the topics given when registering are forgotten.
            RegistrationStore(settings.paths.subscribers).withdraw_consent(email, clock())
            return page(
                "page.html.j2",
                heading="You are unsubscribed",
                message="We will not email you again.",
            )
        return page(
            "unsubscribe.html.j2",
            heading="Unsubscribe?",
            email=email,
            action=f"unsubscribe?token={quote(request.query_params['token'])}",
            message="Press the button to stop the newsletter. Nothing changes until you do.",
        )

    async def opt_out(request: Request) -> Response:
        """A journalist's one-click opt-out from pitches (RFC 8058, like unsubscribe)."""
        try:
            email, _ = token_email(request, "opt-out")
        except BadToken:
            return refuse("This opt-out link is not valid.")
        if request.method == "POST":
            form = await read_form(request)
            if form.get("List-Unsubscribe") != "One-Click":
                return refuse("Opt-out requests must say List-Unsubscribe=One-Click.")
            record_opt_out(settings, email, clock(), "press-pitch")
            return page(
                "page.html.j2",
                heading="You will get no more pitches from us",
                message="Your address is on our do-not-contact list.",
            )
        return page(
            "unsubscribe.html.j2",
            heading="Stop our pitches?",
            email=email,
            button="Stop pitches to",
            action=f"opt-out?token={quote(request.query_params['token'])}",
            message="Press the button and we will not pitch you again. Nothing changes until "
            "you do.",
        )

    async def mail_reports(request: Request) -> Response:
        """A mail service posts one raw bounce (DSN) or complaint (ARF) report, with
        ``Authorization: Bearer <OUTREACH_REPORTS_TOKEN>``; off (404) without the token."""
        if not reports:
            return PlainTextResponse("not found", status_code=404)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), reports.encode()):
            return PlainTextResponse("unauthorised", status_code=401)
        try:
            found = parse_report(await request.body())
        except Exception:  # a malformed report must not become a 500 the sender retries
            log.warning("unreadable mail report", exc_info=True)
            return PlainTextResponse("not a delivery or feedback report", status_code=422)
        taken = take_in(settings, found, clock())
        return PlainTextResponse(f"bounced {taken.bounced}, complained {taken.complained}\n")

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (a form with too many or too large fields, 404, 405)
        as a page, not bare text."""
        assert isinstance(exc, HTTPException)
        response = page(
            "page.html.j2",
            status=exc.status_code,
            heading="That did not work",
            message=str(exc.detail) if exc.status_code < 500 else "",
        )
        response.headers.update(exc.headers or {})
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.url.path)
        return page(
            "page.html.j2",
            status=500,
            heading="Something went wrong on our side",
            message="Nothing you sent was lost; please try again in a few minutes.",
        )

    def too_large() -> Response:
        return page(
            "page.html.j2",
            status=413,
            heading="That request is too large",
            message="Forms on this site are small; send the form from the sign-up page.",
        )

    async def to_signup(request: Request) -> Response:
        return RedirectResponse("/newsletter/", status_code=308)

    routes = [
        Route("/newsletter", to_signup, methods=["GET"]),
        Route("/newsletter/", signup_form, methods=["GET"]),
        Route("/newsletter/subscribe", subscribe, methods=["POST"]),
        Route("/newsletter/confirm", confirm, methods=["GET"]),
        Route("/newsletter/preferences", preferences, methods=["GET", "POST"]),
        Route("/newsletter/unsubscribe", unsubscribe, methods=["GET", "POST"]),
        Route("/press/opt-out", opt_out, methods=["GET", "POST"]),
        Route(REPORTS_PATH, mail_reports, methods=["POST"]),
    ]
    routes += event_routes(
        EventWeb(
            settings,
            clock,
            env,
            site,
            secret,
            mail,
            suppressions,
            read_form,
            limits.mail_window,
            web,
        )
    )
    if settings.paths.public.is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.paths.public, html=True)))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                BodyLimit,
                max_bytes=limits.body_bytes,
                refusal=too_large,
                per_path={REPORTS_PATH: limits.report_bytes},
            ),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.mail = mail
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the address is known and connectable
    before the server starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    return sock


def serve(app: Starlette, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
