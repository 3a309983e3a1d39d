"""The project's own test servers on 127.0.0.1: nginx, moto, a STAC API (pgstac) and a fault proxy.

Plain Python, usable from pytest fixtures (:mod:`tests.servers.fixtures`), benchmarks and demos.
"""

from tests.servers._proc import ServerStartError
from tests.servers.moto import AccessKeys, MotoServer
from tests.servers.nginx import NginxServer
from tests.servers.stac import StacApiServer
from tests.servers.tls import LocalCA, install_ca_system_wide

__all__ = [
    "AccessKeys",
    "LocalCA",
    "MotoServer",
    "NginxServer",
    "ServerStartError",
    "StacApiServer",
    "install_ca_system_wide",
]
