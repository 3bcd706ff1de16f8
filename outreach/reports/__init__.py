"""Reports: the yearly state-of-play report and the periodic reports (``reports/<id>.md``)."""

from __future__ import annotations

import sys


def is_report(publication: object) -> bool:
    """Whether ``publication`` is a Report, without loading the report model: no Report exists
    before its module is imported, so a release of findings alone never loads it (the model
    and its launch helpers hold 1.5 MB a release would carry to its end)."""
    model = sys.modules.get("outreach.reports.model")
    return model is not None and isinstance(publication, model.Report)
