"""The subscriber web app: sign-up with double opt-in, topic preferences, one-click unsubscribe.

An ASGI app (Starlette, already installed with Prefect) served by ``outreach serve`` next to
the site preview. Links carry HMAC-signed tokens; a forged or altered token is refused. Forms
carry a double-submit CSRF token (cookie and field must match; the cookie is SameSite=Strict).
Unsubscribing follows RFC 8058: a POST with ``List-Unsubscribe=One-Click`` unsubscribes and
answers 200 without a redirect; a GET only shows a page with a button and changes nothing.
"""

from __future__ import annotations

import hmac
import mimetypes
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from outreach.campaign import link_secret
from outreach.channels.base import Site
from outreach.config import Settings
from outreach.mail import build_message, mailbox
from outreach.press.pitch import make_sender
from outreach.subscribers import SubscriberError, SubscriberStore
from outreach.templating import environment
from outreach.tokens import BadToken, Purpose, make_token, read_token
from outreach.topics import TOPICS, TOPICS_BY_SLUG

CSRF_COOKIE = "outreach_csrf"
mimetypes.add_type("application/atom+xml", ".atom")


def create_app(
    settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Starlette:
    store = SubscriberStore(settings.paths.subscribers)
    secret = link_secret(settings)
    env = environment(settings.paths.templates)
    site = Site(settings)
    web = settings.newsletter.web_base_url or settings.site.base_url

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

    def token_email(request: Request, purpose: Purpose) -> str:
        return read_token(secret, purpose, request.query_params.get("token", ""))

    async def csrf_ok(request: Request) -> tuple[bool, dict]:
        form = dict(await request.form())
        cookie = request.cookies.get(CSRF_COOKIE, "")
        field = str(form.get("csrf", ""))
        return bool(cookie) and hmac.compare_digest(cookie, field), form

    async def signup_form(request: Request) -> Response:
        csrf = secrets.token_urlsafe(32)
        return page(
            "signup.html.j2",
            csrf=csrf,
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
        ok, form = await csrf_ok(request)
        if not ok:
            return refuse(
                "The form expired or came from another site; open the sign-up page again.", 403
            )
        topics = (await request.form()).getlist("topics")
        try:
            subscriber = store.sign_up(
                str(form.get("email", "")), str(form.get("name", "")), topics, "web form", clock()
            )
        except SubscriberError as exc:
            return page(
                "page.html.j2", status=422, heading="Please check the form", message=str(exc)
            )
        if subscriber.status == "pending":
            token = quote(make_token(secret, "confirm", subscriber.email))
            confirm = f"{web}newsletter/confirm?token={token}"
            text = env.get_template("newsletter/confirm.txt.j2").render(
                name=subscriber.name,
                site_title=settings.site.title,
                confirm_url=confirm,
                topics=", ".join(TOPICS_BY_SLUG[t].name for t in subscriber.topics),
                organisation=settings.site.organisation,
                postal_address=settings.newsletter.postal_address,
            )
            message = build_message(
                mailbox(settings.newsletter.from_name, settings.newsletter.from_email),
                mailbox(subscriber.name, subscriber.email),
                f"Please confirm your {settings.site.title} subscription",
                text,
                key=f"confirm:{subscriber.email}:{clock().isoformat()}",
                when=clock(),
            )
            with make_sender(settings) as sender:
                sender.send(message, subscriber.email, f"confirm:{subscriber.email}")
        return page(
            "page.html.j2",
            heading="Check your inbox",
            message="We sent you a link to confirm your subscription.",
        )

    async def confirm(request: Request) -> Response:
        try:
            email = token_email(request, "confirm")
        except BadToken:
            return refuse("This confirmation link is not valid.")
        if not store.confirm(email, clock()):
            return refuse("This address cannot be confirmed; sign up again.", 404)
        preferences = (
            f"{web}newsletter/preferences?token={quote(make_token(secret, 'preferences', email))}"
        )
        return page(
            "page.html.j2",
            heading="You are subscribed",
            message="Thank you.",
            link=preferences,
            link_text="Change your topics at any time",
        )

    async def preferences(request: Request) -> Response:
        try:
            email = token_email(request, "preferences")
        except BadToken:
            return refuse("This preferences link is not valid.")
        subscriber = store.get(email)
        if subscriber is None:
            return refuse("We have no subscription for this address.", 404)
        if request.method == "POST":
            ok, _ = await csrf_ok(request)
            if not ok:
                return refuse(
                    "The form expired or came from another site; open the link again.", 403
                )
            try:
                store.set_topics(email, (await request.form()).getlist("topics"), clock())
            except SubscriberError as exc:
                return page(
                    "page.html.j2", status=422, heading="Please check the form", message=str(exc)
                )
            return page("page.html.j2", heading="Your topics are saved")
        csrf = secrets.token_urlsafe(32)
        return page(
            "signup.html.j2",
            csrf=csrf,
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
            email = token_email(request, "unsubscribe")
        except BadToken:
            return refuse("This unsubscribe link is not valid.")
        if request.method == "POST":
            form = await request.form()
            if form.get("List-Unsubscribe") != "One-Click":
                return refuse("Unsubscribe requests must say List-Unsubscribe=One-Click.")
            if store.get(email) is not None:
                store.set_status(email, "unsubscribed", clock())
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

    routes = [
        Route("/newsletter/", signup_form, methods=["GET"]),
        Route("/newsletter/subscribe", subscribe, methods=["POST"]),
        Route("/newsletter/confirm", confirm, methods=["GET"]),
        Route("/newsletter/preferences", preferences, methods=["GET", "POST"]),
        Route("/newsletter/unsubscribe", unsubscribe, methods=["GET", "POST"]),
    ]
    if settings.paths.public.is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.paths.public, html=True)))
    return Starlette(routes=routes)


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
