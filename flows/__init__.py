"""Prefect flows (thin): they run the core in ``outreach`` under Prefect.

Every process that runs these flows sends Prefect a heartbeat every
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds; on a team server, ``make bootstrap``'s automation
marks a run Crashed after three periods of the team's value (``flows.bootstrap``). Prefect's own
default (180 s) would let it crash live runs started without the team's environment (the CLI on
someone's machine), so the team's value is the default here, set before Prefect reads its
settings (it reads them once, when first imported).
"""

import os

from flows.heartbeat import HEARTBEAT_SECONDS

os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
