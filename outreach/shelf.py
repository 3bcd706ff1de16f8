"""Findings whose Markdown body stays on disk until something renders it.

A release validates every finding before any work, but holding every body for the whole run
made memory grow with the site (about 6 KB a finding of a 10 KB record). A shelved finding
is the validated finding without its body: the body is read back from its file when a page,
feed or email asks for it, and checked against the digest taken at validation, so what is
rendered is what was validated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from outreach.finding import (
    Finding,
    FindingProblem,
    FindingsInvalid,
    split_front_matter,
    text_sha256,
)


class ShelvedFinding(Finding):
    """A validated finding whose ``body`` is read from its file on each use (not kept)."""

    _path: Path = PrivateAttr()
    _digest: str = PrivateAttr()

    def __getattr__(self, name: str) -> Any:
        if name == "body":
            return self._read_body()
        return super().__getattr__(name)

    @property
    def body_sha256(self) -> str:
        return self._digest

    def full(self) -> Finding:
        """The finding with its body, as read at validation."""
        return Finding.model_construct(
            self.model_fields_set, **{**self.__dict__, "body": self._read_body()}
        )

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        if "body" in (kwargs.get("exclude") or ()):
            return super().model_dump(**kwargs)
        return self.full().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        if "body" in (kwargs.get("exclude") or ()):
            return super().model_dump_json(**kwargs)
        return self.full().model_dump_json(**kwargs)

    def _read_body(self) -> str:
        try:
            parts = split_front_matter(self._path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            parts = None
        body = parts[1].strip() if parts is not None else None
        if body is None or text_sha256(body) != self._digest:
            raise FindingsInvalid(
                [
                    FindingProblem(
                        self.source_path or str(self._path),
                        "body",
                        "changed or went missing while the release ran; "
                        "run the release again to publish the current file",
                    )
                ]
            )
        return body


def shelve(finding: Finding, path: Path) -> ShelvedFinding:
    """``finding`` (read from ``path``) without its body in memory."""
    fields = {name: value for name, value in finding.__dict__.items() if name != "body"}
    shelved = ShelvedFinding.model_construct(finding.model_fields_set, **fields)
    shelved._path = path
    shelved._digest = finding.body_sha256
    return shelved
