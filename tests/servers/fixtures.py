"""pytest fixtures for the project's loopback test servers (registered from tests/conftest.py).

Session-scoped servers are shared by all tests: use unique bucket names, folder names and STAC
collection ids per test module, and :meth:`mark` / ``requests(since=...)`` to count only your own
requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers.moto import MotoServer
from tests.servers.nginx import NginxServer
from tests.servers.proxy import FaultProxy
from tests.servers.stac import StacApiServer


@pytest.fixture(scope="session")
def nginx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder served by :func:`nginx_server`; ``<bucket>/<key>`` doubles as path-style S3."""
    return tmp_path_factory.mktemp("nginx-root")


@pytest.fixture(scope="session")
def nginx_server(nginx_root: Path) -> Iterator[NginxServer]:
    """nginx on 127.0.0.1 serving :func:`nginx_root` over plain HTTP."""
    with NginxServer(nginx_root) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto S3 on 127.0.0.1, any credentials accepted."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_iam_server() -> Iterator[MotoServer]:
    """moto S3 on 127.0.0.1 with IAM authentication enforced (admin keys in ``admin_keys``)."""
    with MotoServer(iam_auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def stac_server() -> Iterator[StacApiServer]:
    """An empty stac-fastapi-pgstac API on 127.0.0.1; load data with ``add_collections`` and
    ``add_items`` (use collection ids unique to your test module)."""
    with StacApiServer() as server:
        yield server


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: ``fault_proxy(upstream_url, **FaultProxy options)`` starts a proxy process that
    is stopped at the end of the test."""
    started: list[FaultProxy] = []

    def start(upstream: str, **options: object) -> FaultProxy:
        proxy = FaultProxy(upstream, **options)  # type: ignore[arg-type]
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()
