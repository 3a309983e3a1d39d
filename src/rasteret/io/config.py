"""Cloud access configuration attached to a dataset: provider, region, requester pays, URL rewrites."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from rasteret.errors import ConfigError

PROVIDERS = ("aws", "gcs", "azure", "http")


@dataclass
class CloudConfig:
    """How to reach a dataset's files.

    provider: one of aws, gcs, azure, http.
    region: bucket region for S3.
    requester_pays: send the request-payer header with signed S3 requests.
    url_patterns: ``{prefix: replacement}`` rewrites applied to hrefs at build and read time
        (e.g. an HTTPS CDN prefix to ``s3://bucket/``); the first matching prefix wins.
    endpoint: custom endpoint URL (S3-compatible servers, emulators).
    anonymous: never sign requests (public buckets).
    """

    provider: str = "aws"
    region: str | None = None
    requester_pays: bool = False
    url_patterns: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    anonymous: bool | None = None

    _registry: ClassVar[dict[str, CloudConfig]] = {}

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(
                f"cloud_config.provider must be one of {list(PROVIDERS)}, got {self.provider!r}"
            )
        if self.region is not None and (not isinstance(self.region, str) or not self.region):
            raise ConfigError(
                f"cloud_config.region must be a non-empty string, got {self.region!r}"
            )
        if not isinstance(self.requester_pays, bool):
            raise ConfigError(
                f"cloud_config.requester_pays must be true or false, got {self.requester_pays!r}"
            )
        if not isinstance(self.url_patterns, Mapping):
            raise ConfigError(
                "cloud_config.url_patterns must be a mapping {prefix: replacement}, "
                f"got {type(self.url_patterns).__name__}"
            )
        for prefix, target in self.url_patterns.items():
            if not isinstance(prefix, str) or not prefix or not isinstance(target, str):
                raise ConfigError(
                    "cloud_config.url_patterns entries must map a non-empty prefix string to a "
                    f"string, got {prefix!r}: {target!r}"
                )
        self.url_patterns = dict(self.url_patterns)
        if self.endpoint is not None and not (
            isinstance(self.endpoint, str) and self.endpoint.startswith(("http://", "https://"))
        ):
            raise ConfigError(
                f"cloud_config.endpoint must be an http(s) URL, got {self.endpoint!r}"
            )
        if self.anonymous is not None and not isinstance(self.anonymous, bool):
            raise ConfigError(
                f"cloud_config.anonymous must be true or false, got {self.anonymous!r}"
            )
        if self.anonymous and self.requester_pays:
            raise ConfigError(
                "cloud_config.requester_pays needs signed requests, so anonymous cannot be true"
            )

    @classmethod
    def known_keys(cls) -> list[str]:
        """Names accepted in a ``cloud_config`` dict."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_value(cls, value: CloudConfig | Mapping[str, Any] | None) -> CloudConfig | None:
        """Accept a CloudConfig, a plain dict (as stored in descriptors) or None."""
        if value is None or isinstance(value, CloudConfig):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"cloud_config must be a dict or CloudConfig, got {type(value).__name__}"
            )
        unknown = sorted(set(value) - set(cls.known_keys()))
        if unknown:
            raise ConfigError(
                f"cloud_config has unknown key(s) {unknown}; known keys: {cls.known_keys()}"
            )
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the shape descriptors store)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rewrite(self, url: str) -> str:
        """Apply the first matching ``url_patterns`` prefix rewrite."""
        return rewrite_url(url, self.url_patterns)

    # Registry keyed by data source, as in the reference (``CloudConfig.get_config``).
    @classmethod
    def register(cls, data_source: str, config: CloudConfig | Mapping[str, Any]) -> None:
        """Remember the config of a data source (lower-cased id)."""
        resolved = cls.from_value(config)
        assert resolved is not None
        cls._registry[data_source.lower()] = resolved

    @classmethod
    def unregister(cls, data_source: str) -> CloudConfig | None:
        """Forget the config of a data source; returns it, or None when none was registered."""
        return cls._registry.pop((data_source or "").lower(), None)

    @classmethod
    def get_config(cls, data_source: str) -> CloudConfig | None:
        """The config registered for a data source, or None."""
        return cls._registry.get((data_source or "").lower())


def rewrite_url(url: str, patterns: Mapping[str, str] | None) -> str:
    """Replace the first matching prefix of ``url`` (longest prefixes are tried first)."""
    if not patterns:
        return url
    for prefix in sorted(patterns, key=len, reverse=True):
        if url.startswith(prefix):
            return patterns[prefix] + url[len(prefix) :]
    return url
