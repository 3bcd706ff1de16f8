"""The team's flow-run heartbeat period, shared by the flows' processes (``flows/__init__``)
and the automation that crashes silent runs (``flows.bootstrap``). No Prefect import: it is read
before Prefect loads its settings."""

HEARTBEAT_SECONDS = 60
"""Seconds between a run's heartbeats: PREFECT_FLOWS_HEARTBEAT_FREQUENCY in
deploy/outreach.env.example, the systemd worker unit and ``make worker``, and the default of
every process that imports ``flows``. Prefect refuses less than 30."""
