"""What every flow shares: where its configuration comes from, and telling the team when a
run fails."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from flows.limits import smtp_connections, smtp_throttle
from outreach.config import Settings, load_settings
from outreach.errors import is_retryable
from outreach.mail_transport import RelayHooks

CONFIG_VARIABLE = "outreach_config"
"""Prefect variable: the configuration file deployments use when a run names none."""
FAILURE_WEBHOOK_BLOCK = "outreach-failure-webhook"
"""Prefect Secret block (or OUTREACH_FAILURE_WEBHOOK): where failed runs are reported. A
secret, because a chat webhook's address is its password."""


def worth_retrying(task: object, task_run: object, state: Any) -> bool:
    """Every task's retry rule: retry only errors marked Retryable (a reset, a timeout, a
    5xx, a transient mail failure). A refused login, bad content or a wrong setting does not
    fix itself in 30 s: it fails at once with its message."""
    try:
        state.result()
    except Exception as exc:  # the task's own failure
        return is_retryable(exc)
    return False


def _variable(name: str) -> str | None:
    """A Prefect variable's value, or None without a server or without the variable."""
    from prefect.settings import get_current_settings
    from prefect.variables import Variable

    if not get_current_settings().api.url:
        return None
    try:
        value = Variable.get(name, default=None)
    except Exception:  # an unreachable server: the other sources still apply
        return None
    return str(value) if value else None


def flow_settings(config: str | None) -> Settings:
    """The run's ``config`` parameter, else the server's ``outreach_config`` variable, else
    OUTREACH_CONFIG or ./outreach.toml (load_settings' own lookup)."""
    chosen = config or _variable(CONFIG_VARIABLE)
    settings = load_settings(Path(chosen) if chosen else None)
    if settings.state.url:  # the state database's password, from its block when there is one
        from outreach.store_pg import give_password

        give_password(settings.state.url, _secret(STATE_PASSWORD_BLOCK))
    return settings


STATE_PASSWORD_BLOCK = "outreach-state-password"
"""A Prefect Secret block with the state database's password ([state] url); without it,
OUTREACH_STATE_PASSWORD."""


def _secret(name: str) -> str | None:
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(name).get()) or None
    except ValueError:  # no such block: the environment variable applies
        return None


EARLY_START_LIMIT = timedelta(minutes=1)
"""How early Prefect may start a scheduled run and still act at its scheduled time."""


def clock() -> datetime:
    """The wall clock. Flows take no time parameter: a clock in a deployment's form (or in
    ``prefect deployment run -p``) would let anyone publish an embargoed finding early. Tests
    replace this function instead."""
    return datetime.now(UTC)


def acting_time(now: datetime, scheduled: datetime | None) -> datetime:
    """The time a run acts at: ``now``, or its scheduled time when Prefect started it a little
    early (a lift run started half a second before the embargo ends must not count as before
    it). A run started long before its schedule, by hand, keeps the real clock."""
    if scheduled is not None and now < scheduled <= now + EARLY_START_LIMIT:
        return scheduled
    return now


def run_clock() -> datetime:
    """The current flow run's time (see acting_time); the clock outside a run."""
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    moment = datetime.fromtimestamp(scheduled.timestamp(), UTC) if scheduled else None
    return acting_time(clock(), moment)


SMTP_PASSWORD_BLOCK = "outreach-smtp-password"
"""A Prefect Secret block with the SMTP password; OUTREACH_SMTP_PASSWORD is used without it."""


def smtp_password() -> str | None:
    from prefect.blocks.system import Secret

    try:
        return Secret.load(SMTP_PASSWORD_BLOCK).get()
    except ValueError:  # no such block: the environment variable applies
        return None


def smtp_relay() -> RelayHooks:
    """What every worker shares when mail goes through the SMTP relay: its connection slots,
    its rate limit and the password block. The transport calls them only over SMTP."""
    return RelayHooks(slots=smtp_connections, throttle=smtp_throttle(), password=smtp_password)


def failure_webhook() -> str | None:
    if os.environ.get("OUTREACH_FAILURE_WEBHOOK"):
        return os.environ["OUTREACH_FAILURE_WEBHOOK"]
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(FAILURE_WEBHOOK_BLOCK).get()) or None
    except Exception:  # no block, or no server: nobody to tell
        return None


def failure_message(
    flow_name: str, run_name: str, parameters: dict, message: str, link: str, what: str = "failed"
) -> str:
    """One readable paragraph for a chat channel: what failed (or crashed), for which
    finding, why, where."""
    subject = parameters.get("finding_id") or ", ".join(parameters.get("finding_ids") or []) or ""
    about = f" for '{subject}'" if subject else ""
    text = f"Outreach: {flow_name}{about} {what} (run {run_name}). {message.strip()}"
    return text + (f"\n{link}" if link else "")


def notify_failure(flow, flow_run, state) -> None:
    """Prefect on_failure and on_crashed hook: post the failure to the team's webhook (Slack,
    Mattermost and most chat tools accept ``{"text": ...}``). Never raises: the run has failed
    already. A run whose process was killed outright runs no hook; the server's automation
    marks it Crashed (``make bootstrap``), and the UI shows it."""
    from prefect import get_run_logger
    from prefect.settings import get_current_settings

    url = failure_webhook()
    if not url:
        return
    ui = get_current_settings().ui_url
    link = f"{ui.rstrip('/')}/runs/flow-run/{flow_run.id}" if ui else ""
    what = "crashed" if state.is_crashed() else "failed"
    text = failure_message(
        flow.name, flow_run.name, dict(flow_run.parameters or {}), state.message or "", link, what
    )
    try:
        requests.post(
            url,
            data=json.dumps({"text": text}),
            headers={"Content-Type": "application/json"},
            timeout=10,
        ).raise_for_status()
    except requests.RequestException as exc:
        # Name the host only: the webhook's path is its secret.
        get_run_logger().warning(
            "could not report the failure to the webhook at %s (%s)",
            urlsplit(url).netloc,
            type(exc).__name__,
        )


FAILURE_HOOKS = {"on_failure": [notify_failure], "on_crashed": [notify_failure]}
"""The team hears of a run that failed and of one that crashed (told to exit, or stopped by a
signal the engine sees): both leave work undone."""


def _heartbeats_without_the_wait() -> bool:
    """Let a flow run return as soon as it is finished, heartbeats kept.

    Prefect sends a flow run's heartbeats from a thread that sleeps in one-second steps, and
    a synchronous flow joins that thread on the way out: every run, however short, waited up
    to a second after its final state (half a second on average, most of the flows' overhead
    per release). The thread checks its stop flag before each heartbeat and each step, so it
    ends by itself within the second and sends nothing after the run; Prefect's own
    asynchronous engine does not join it either. Returns whether the change applies (a
    Prefect whose heartbeat context takes no ``join_on_exit`` is left as it is)."""
    from prefect import flow_engine

    original = getattr(flow_engine, "_send_heartbeats", None)
    if original is None or getattr(original, "unjoined", False):
        return original is not None
    if "join_on_exit" not in inspect.signature(original).parameters:
        return False

    @contextmanager
    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
        with original(engine, join_on_exit=False):
            yield

    send_heartbeats.unjoined = True  # type: ignore[attr-defined]
    flow_engine._send_heartbeats = send_heartbeats
    return True


HEARTBEATS_UNJOINED = _heartbeats_without_the_wait()
"""Whether flow runs skip the wait for the heartbeat thread (see above)."""
