"""Set up a team's Prefect server for the deployments: ``make bootstrap`` runs this module.

Against the server in ``PREFECT_API_URL`` it creates, or brings up to date:

- the process work pool ``outreach`` the deployments in prefect.yaml use;
- every global concurrency limit the flows take (``flows.limits.wanted_limits()``);
- the Secret blocks ``outreach-smtp-password``, ``outreach-wordpress-app-password`` and
  ``outreach-failure-webhook`` from ``OUTREACH_SMTP_PASSWORD``,
  ``OUTREACH_WORDPRESS_APP_PASSWORD`` and ``OUTREACH_FAILURE_WEBHOOK`` (a chat webhook's address
  is its password), and the social networks' ``outreach-bluesky-app-password`` and
  ``outreach-mastodon-access-token`` from ``OUTREACH_BLUESKY_APP_PASSWORD`` and
  ``OUTREACH_MASTODON_ACCESS_TOKEN``, when those are set;
- the variable ``outreach_config`` from ``OUTREACH_CONFIG`` (the absolute path of the
  configuration file runs use when they name none), when it is set;
- the automation ``outreach: crash runs whose worker vanished`` (``ZOMBIE_AUTOMATION``): a run
  whose heartbeats stop (its machine died, its process was killed) is marked Crashed after
  ``HEARTBEAT_MISSES`` heartbeat periods instead of staying Running forever.

Idempotent: it prints one line per item (created, updated, unchanged or skipped) and running it
again changes nothing. Secret values are never printed.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from flows.common import (
    CONFIG_VARIABLE,
    FAILURE_WEBHOOK_BLOCK,
    SMTP_PASSWORD_BLOCK,
    STATE_PASSWORD_BLOCK,
)
from flows.heartbeat import HEARTBEAT_SECONDS
from flows.limits import wanted_limits
from outreach.errors import OutreachError
from outreach.platforms.registry import (
    SECRET_BLOCKS,
    WORDPRESS_PASSWORD_BLOCK,
    WORDPRESS_PASSWORD_VARIABLE,
)
from outreach.secrets_store import PLATFORM_PASSWORD_VARIABLES

WORK_POOL = "outreach"
"""The work pool every deployment in prefect.yaml runs on."""
WORK_POOL_TYPE = "process"

SECRETS = {
    SMTP_PASSWORD_BLOCK: "OUTREACH_SMTP_PASSWORD",
    WORDPRESS_PASSWORD_BLOCK: WORDPRESS_PASSWORD_VARIABLE,
    FAILURE_WEBHOOK_BLOCK: "OUTREACH_FAILURE_WEBHOOK",
    STATE_PASSWORD_BLOCK: "OUTREACH_STATE_PASSWORD",
    **{SECRET_BLOCKS[n]: PLATFORM_PASSWORD_VARIABLES[n] for n in ("bluesky", "mastodon")},
}
"""Secret block name -> the environment variable its value comes from."""

VARIABLES = {CONFIG_VARIABLE: "OUTREACH_CONFIG"}
"""Prefect variable name -> the environment variable its value comes from."""

ZOMBIE_AUTOMATION = "outreach: crash runs whose worker vanished"
HEARTBEAT_MINIMUM = 30
"""Prefect refuses shorter periods (its setting has ``ge=30``)."""
HEARTBEAT_MISSES = 3
"""A run is declared dead after this many heartbeat periods without one: one late heartbeat
(a busy machine, a server restart) must not crash a live run."""


class BootstrapError(OutreachError):
    """Something bootstrap cannot do; the message says what to change."""


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse values the flows could not use, before anything on the server changes."""
    config = environ.get("OUTREACH_CONFIG", "").strip()
    if config and not PurePosixPath(config).is_absolute():
        raise BootstrapError(
            f"OUTREACH_CONFIG must be an absolute path (the workers read it from their own "
            f"folder), not {config!r}"
        )
    webhook = environ.get("OUTREACH_FAILURE_WEBHOOK", "").strip()
    if webhook and not webhook.startswith(("http://", "https://")):
        raise BootstrapError("OUTREACH_FAILURE_WEBHOOK must be an http(s) URL (value not shown)")
    try:
        wanted_limits(dict(environ))
    except ValueError as exc:
        raise BootstrapError(str(exc)) from None


def ensure_work_pool(client: Any) -> tuple[str, str]:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(WORK_POOL)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=WORK_POOL,
                type=WORK_POOL_TYPE,
                description="Outreach deployments (prefect.yaml); start workers with make worker.",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        return "created", f"type {WORK_POOL_TYPE}"
    if pool.type != WORK_POOL_TYPE:
        raise BootstrapError(
            f"work pool '{WORK_POOL}' exists with type '{pool.type}', but the deployments need a "
            f"'{WORK_POOL_TYPE}' pool: delete it (prefect work-pool delete {WORK_POOL}) and run "
            "make bootstrap again"
        )
    return "unchanged", f"type {pool.type}"


def _describe(limit: int, decay: float | None) -> str:
    return f"{limit} slots" + (f", {decay:g} released per second" if decay else "")


def ensure_limit(client: Any, name: str, limit: int, decay: float | None) -> tuple[str, str]:
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    wanted_decay = decay or 0.0
    try:
        current = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, active=True, slot_decay_per_second=wanted_decay
            )
        )
        return "created", _describe(limit, decay)
    current_decay = current.slot_decay_per_second or 0.0
    if (
        current.limit == limit
        and current.active
        and math.isclose(current_decay, wanted_decay, abs_tol=1e-9)
    ):
        return "unchanged", _describe(limit, decay)
    client.update_global_concurrency_limit(
        name,
        GlobalConcurrencyLimitUpdate(limit=limit, active=True, slot_decay_per_second=wanted_decay),
    )
    was = _describe(current.limit, current_decay) + ("" if current.active else ", inactive")
    return "updated", f"{was} -> {_describe(limit, decay)}"


def ensure_secret(name: str, value: str) -> tuple[str, str]:
    from prefect.blocks.system import Secret

    try:
        current = Secret.load(name).get()
    except ValueError:  # no such block
        current = None
    if current == value:
        return "unchanged", "value not shown"
    Secret(value=value).save(name, overwrite=True)
    return ("created" if current is None else "updated"), "value not shown"


def ensure_variable(name: str, value: str) -> tuple[str, str]:
    from prefect.variables import Variable

    current = Variable.get(name)
    if current == value:
        return "unchanged", repr(value)
    Variable.set(name, value, overwrite=True)
    if current is None:
        return "created", repr(value)
    return "updated", f"{current!r} -> {value!r}"


def heartbeat_seconds(environ: Mapping[str, str]) -> int:
    """The heartbeat period the runs use: PREFECT_FLOWS_HEARTBEAT_FREQUENCY (the env file all
    machines share), else the team's ``HEARTBEAT_SECONDS``."""
    raw = environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "").strip()
    if not raw:
        return HEARTBEAT_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds < HEARTBEAT_MINIMUM:
        raise BootstrapError(
            f"PREFECT_FLOWS_HEARTBEAT_FREQUENCY must be a whole number of seconds, at least "
            f"{HEARTBEAT_MINIMUM} (Prefect's minimum), not {raw!r}; the team default is "
            f"{HEARTBEAT_SECONDS}"
        )
    return seconds


def zombie_automation(heartbeat: int) -> Any:
    """The automation that marks a run Crashed when its heartbeats stop (Prefect's "detect
    zombie flows" recipe): after a heartbeat, expect another heartbeat or a final state within
    ``HEARTBEAT_MISSES`` periods, for each flow run; otherwise change its state to Crashed."""
    from datetime import timedelta

    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    within = heartbeat * HEARTBEAT_MISSES
    return AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description=(
            f"A flow run that sent no heartbeat for {within} s ({HEARTBEAT_MISSES} periods of "
            f"{heartbeat} s) lost its worker: mark it Crashed. Made by make bootstrap."
        ),
        enabled=True,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"No heartbeat for {within} s: the worker running it vanished "
                    "(machine down or process killed). Run it again."
                ),
            )
        ],
    )


def _comparable(automation: Any) -> dict[str, Any]:
    """What an automation does, without the ids the server gives its parts."""
    data = automation.model_dump(
        mode="json", include={"description", "enabled", "trigger", "actions"}
    )
    data["trigger"].pop("id", None)
    for key in ("after", "expect", "for_each"):
        data["trigger"][key] = sorted(data["trigger"].get(key) or [])
    return data


def ensure_zombie_automation(client: Any, heartbeat: int) -> tuple[str, str]:
    wanted = zombie_automation(heartbeat)
    detail = f"crash after {heartbeat * HEARTBEAT_MISSES} s without a heartbeat"
    found = client.read_automations_by_name(ZOMBIE_AUTOMATION)
    if not found:
        client.create_automation(wanted)
        return "created", detail
    first, *extra = found
    for duplicate in extra:  # two bootstraps raced: keep one
        client.delete_automation(duplicate.id)
    if not extra and _comparable(first) == _comparable(wanted):
        return "unchanged", detail
    client.update_automation(first.id, wanted)
    return "updated", detail


def bootstrap(environ: Mapping[str, str], say: Callable[[str], None] = print) -> dict[str, int]:
    """Bring the server up to date; returns how many items were created, updated, ..."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        raise BootstrapError(
            "PREFECT_API_URL is not set: export the team server's API address, e.g. "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (start the server with make server)"
        )
    check_environment(environ)
    heartbeat = heartbeat_seconds(environ)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0}

    def report(kind: str, name: str, outcome: str, detail: str) -> None:
        counts[outcome] += 1
        say(f"{kind} {name}: {outcome}" + (f" ({detail})" if detail else ""))

    with get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
        if failure is not None:
            raise BootstrapError(
                f"the Prefect server at {api} is unreachable ({type(failure).__name__}: "
                f"{failure}); start it with make server, or fix PREFECT_API_URL"
            )
        say(f"Prefect server: {api}")
        report("work pool", WORK_POOL, *ensure_work_pool(client))
        for name, (limit, decay) in wanted_limits(dict(environ)).items():
            report("concurrency limit", name, *ensure_limit(client, name, limit, decay))
        report("automation", ZOMBIE_AUTOMATION, *ensure_zombie_automation(client, heartbeat))

    for block, variable in SECRETS.items():
        value = environ.get(variable, "")
        if value:
            report("secret", block, *ensure_secret(block, value))
        else:
            report("secret", block, "skipped", f"{variable} not set")
    for name, variable in VARIABLES.items():
        value = environ.get(variable, "").strip()
        if value:
            report("variable", name, *ensure_variable(name, value))
        else:
            report("variable", name, "skipped", f"{variable} not set")
    return counts


def main() -> int:
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        counts = bootstrap(os.environ)
    except BootstrapError as exc:
        print(f"bootstrap: error: {exc}", file=sys.stderr)
        return 1
    except PrefectHTTPStatusError as exc:
        status = exc.response.status_code
        hint = (
            ": set PREFECT_API_AUTH_STRING to the server's PREFECT_SERVER_API_AUTH_STRING "
            "(user:password)"
            if status in (401, 403)
            else ""
        )
        print(
            f"bootstrap: error: the Prefect server answered {status} to "
            f"{exc.request.method} {exc.request.url}{hint}",
            file=sys.stderr,
        )
        return 1
    if counts["created"] or counts["updated"]:
        print(
            f"Done: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['skipped']} skipped."
        )
    else:
        print(f"Nothing to change: {counts['unchanged']} unchanged, {counts['skipped']} skipped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
