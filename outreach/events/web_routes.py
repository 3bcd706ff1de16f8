"""The subscriber app's event routes: register, confirm (double opt-in), cancel.

``/events/<id>/register`` shows and takes the form; the answer is the same page whatever the
address's state, and the email goes out after it (``MailQueue``), at most one per address per
``WebLimits.mail_window`` (the newsletter's mail claim). A known registration is never changed
by the form. The confirmation link (``/events/confirm``) seats the person, or puts them on the
waiting list when the event is full, and mails the invite; the cancel link
(``/events/cancel``) shows a button, and only the POST cancels (a mail scanner opening the link
changes nothing); a freed seat goes to the first person waiting, who is mailed the invite.
Suppressed addresses are stored and mailed nothing.

Every email here is recorded with the registration change that owes it (in the same
transaction) and sent through the crash-safe send log (``outreach.events.outbox``); the app
sends what a crash left owed when it starts.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import Environment
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from outreach.config import Settings
from outreach.events.links import LinkPurpose, read_registration_token
from outreach.events.registrations import RegistrationStore
from outreach.events.status import is_cancelled, takes_sign_ups
from outreach.store import Store
from outreach.subscribers import SCHEMA as SUBSCRIBERS_SCHEMA
from outreach.subscribers import SubscriberError, _claim_mail, normalise_email
from outreach.suppression import Suppressions
from outreach.tokens import BadToken, make_token, read_token_issued
from outreach.topics import TOPICS
from outreach.web_mail import MailQueue

if TYPE_CHECKING:
    from outreach.events.model import Event

CSRF_COOKIE = "outreach_event_csrf"


@dataclass(frozen=True)
class EventWeb:
    """What the event routes share with the rest of the app."""

    settings: Settings
    clock: Callable[[], datetime]
    env: Environment
    site: object
    secret: bytes
    mail: MailQueue
    suppressions: Suppressions
    read_form: Callable[[Request], Any]
    mail_window: timedelta
    web: str


def _events(settings: Settings) -> Mapping[str, Event]:
    from outreach.events.model import read_events

    return read_events(settings)


def event_routes(shared: EventWeb) -> list[Route]:
    settings, clock, env = shared.settings, shared.clock, shared.env
    store = RegistrationStore(settings.paths.subscribers)
    claims = Store(settings.paths.subscribers, SUBSCRIBERS_SCHEMA)

    def page(template: str, status: int = 200, csrf: str = "", **context: object) -> Response:
        context.setdefault("message", "")
        html = env.get_template(template).render(
            site=shared.site,
            canonical=shared.web + "events/",
            topics=TOPICS,
            csrf=csrf,
            link=context.pop("link", None),
            link_text=context.pop("link_text", ""),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/events")
        return response

    def note(heading: str, message: str = "", status: int = 200) -> Response:
        return page("newsletter/web/page.html.j2", status, heading=heading, message=message)

    def refuse(message: str, status: int = 400) -> Response:
        return note("That link does not work", message, status)

    def new_csrf() -> str:
        return make_token(shared.secret, "form", secrets.token_urlsafe(16), clock())

    async def csrf_ok(request: Request) -> tuple[bool, FormData]:
        form = await shared.read_form(request)
        cookie, field = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
            return False, form
        try:
            read_token_issued(shared.secret, "form", field, clock())
        except BadToken:
            return False, form
        return True, form

    def send_owed_mail(event_id: str | None) -> None:
        """Send, after the answer, the emails the registrations owe (of one event, or all):
        recorded with each change, sent through the crash-safe send log, never to a
        suppressed address; an email left owed by a crash or a refusal goes with the next."""
        from outreach.events.outbox import send_owed

        what = f"the emails owed for event '{event_id}'" if event_id else "emails owed"
        shared.mail.submit(
            what,
            lambda: send_owed(settings, dict(_events(settings)), event_id, now=clock()),
        )

    def event_or_none(event_id: str) -> Event | None:
        return _events(settings).get(event_id)

    async def register(request: Request) -> Response:
        event = event_or_none(request.path_params["event_id"])
        if event is None:
            return note("No such event", "Check the address of the event's page.", 404)
        if not takes_sign_ups(event, clock()):
            return note(f"Registration for {event.title} is closed", "", 410)
        if request.method == "GET":
            return page(
                "events/web/register.html.j2",
                csrf=new_csrf(),
                heading=f"Register: {event.title}",
                message=event.summary,
                action=f"/events/{quote(event.id)}/register",
            )
        ok, form = await csrf_ok(request)
        if not ok:
            return refuse("The form expired or came from another site; open it again.", 403)
        try:
            email = normalise_email(str(form.get("email", "")))
            if not str(form.get("name", "")).strip():
                raise SubscriberError("write your name")
            if shared.suppressions.is_suppressed(email):
                return registered()  # the answer every address gets; nothing stored or sent
            registration = store.sign_up(
                event.id,
                email,
                str(form.get("name", "")),
                str(form.get("organisation", "")),
                [str(t) for t in form.getlist("topics")],
                clock(),
            )
        except SubscriberError as exc:
            return note("Please check the form", str(exc), 422)
        with claims.connection() as connection:
            may_mail = _claim_mail(
                connection, f"event:{event.id}:{email}", clock(), shared.mail_window
            )
        if may_mail and registration.state == "pending":
            store.owe_mail(event.id, email, "confirm", clock())
            send_owed_mail(event.id)
        return registered()

    def registered() -> Response:
        return note(
            "Check your inbox",
            "If this address can receive our email, a message is on its way with a link to "
            "confirm your place. We send the invite and the join link once you confirm.",
        )

    def token_of(request: Request, purpose: LinkPurpose) -> tuple[Event, str] | None:
        try:
            event_id, email, _ = read_registration_token(
                shared.secret, purpose, request.query_params.get("token", ""), clock()
            )
            email = normalise_email(email)
        except (BadToken, SubscriberError):
            return None
        event = event_or_none(event_id)
        return (event, email) if event is not None else None

    async def confirm(request: Request) -> Response:
        found = token_of(request, "event-confirm")
        if found is None:
            return refuse("This confirmation link is not valid or has expired; register again.")
        event, email = found
        if is_cancelled(event) or clock() >= event.starts:
            return note(f"{event.title} is no longer open", "", 410)
        registration, changed = store.confirm(event.id, email, event.registration.capacity, clock())
        if registration is None or registration.state == "cancelled":
            return refuse("This registration was cancelled; register again.", 404)
        if changed:  # the invite, or the waiting-list note, was recorded with the change
            send_owed_mail(event.id)
        if registration.state == "waiting":
            return note(
                "You are on the waiting list",
                "The event is full; we email you if a place comes free.",
            )
        return note(
            "Your place is confirmed", "The invite and the join link are on their way by email."
        )

    async def cancel(request: Request) -> Response:
        found = token_of(request, "event-cancel")
        if found is None:
            return refuse("This cancel link is not valid.")
        event, email = found
        if request.method == "GET":
            return page(
                "events/web/cancel.html.j2",
                csrf=new_csrf(),
                heading=f"Cancel your place at {event.title}?",
                message="Nothing changes until you press the button.",
                action=f"/events/cancel?token={quote(request.query_params['token'])}",
            )
        ok, _ = await csrf_ok(request)
        if not ok:
            return refuse("The form expired or came from another site; open the link again.", 403)
        done = store.cancel(event.id, email, event.registration.capacity, clock())
        if done.registration is not None:  # the CANCEL, and a promoted person's invite
            send_owed_mail(event.id)
        return note("Your place is cancelled", "Thank you for letting us know.")

    send_owed_mail(None)  # what a crash or a refusal left owed, from before this start
    return [
        Route("/events/{event_id}/register", register, methods=["GET", "POST"]),
        Route("/events/confirm", confirm, methods=["GET"]),
        Route("/events/cancel", cancel, methods=["GET", "POST"]),
    ]
