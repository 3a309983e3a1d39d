"""What a build did: counts, timings and every asset that could not be indexed (and why)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rasteret.io.urls import redact_url

MAX_LISTED = 10


@dataclass(frozen=True)
class AssetFailure:
    """One band of one record whose header could not be read (the row is kept, the band null)."""

    record_id: str
    band: str
    url: str
    reason: str

    def __str__(self) -> str:
        where = redact_url(self.url) if self.url else "(no href)"
        return f"record {self.record_id!r} band {self.band!r} ({where}): {self.reason}"


@dataclass
class BuildReport:
    """Summary of one build, kept on the collection and in its file metadata."""

    records: int = 0
    bands: list[str] = field(default_factory=list)
    files: int = 0
    parsed: int = 0
    cached: int = 0
    header_requests: int = 0
    seconds: float = 0.0
    failures: list[AssetFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def requests_per_file(self) -> float:
        return self.header_requests / self.parsed if self.parsed else 0.0

    def failure_lines(self, limit: int = MAX_LISTED) -> list[str]:
        lines = [str(f) for f in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more (collection.build_report)")
        return lines

    def summary(self) -> str:
        text = (
            f"{self.records} records x {len(self.bands)} bands, {self.files} files "
            f"({self.parsed} parsed, {self.cached} cached, {self.header_requests} header "
            f"requests) in {self.seconds:.2f}s"
        )
        if self.failures:
            text += f"; {len(self.failures)} asset(s) failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [asdict(f) for f in self.failures]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        failures = [AssetFailure(**f) for f in known.pop("failures", [])]
        return cls(**known, failures=failures)
