"""A real STAC API on 127.0.0.1: PostgreSQL 15 + PostGIS + pgstac + stac-fastapi-pgstac (uvicorn).

The database is a throwaway cluster in a temp dir (loopback only, fsync off), run as the
``postgres`` user when the caller is root. stac-fastapi-pgstac and pypgstac live in their own
venv ``.venv-stac/`` (created by ``tools/stac-env.sh``, run here when missing) because they pin
versions that must not leak into the main venv. ``eo:cloud_cover`` is a numeric queryable, so
``query``/CQL2 comparisons and ``sortby`` on it are numeric. Supports bbox, intersects, datetime,
``query``, CQL2-JSON (POST) and CQL2-text (GET) filters, sortby and paging.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.servers._proc import REPO_ROOT, LoopbackServer, ServerStartError, http_ok, run_checked

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
STAC_VENV = REPO_ROOT / ".venv-stac"
STAC_ENV_SCRIPT = REPO_ROOT / "tools" / "stac-env.sh"

NUMERIC_QUERYABLES = ("eo:cloud_cover",)

JsonLike = Mapping[str, Any] | Any


def ensure_stac_env() -> Path:
    """Create ``.venv-stac/`` if needed (idempotent, instant when present); return its bin dir."""
    run_checked(["bash", STAC_ENV_SCRIPT], what="tools/stac-env.sh", timeout=900)
    return STAC_VENV / "bin"


def _as_dict(obj: JsonLike) -> dict[str, Any]:
    """A STAC object as a plain dict (accepts dicts and pystac objects)."""
    return dict(obj) if isinstance(obj, Mapping) else obj.to_dict()


class StacApiServer(LoopbackServer):
    """stac-fastapi-pgstac on 127.0.0.1 over a private pgstac database, loaded with STAC JSON.

    ``pids`` are postgres's then the API's."""

    kind = "stac"

    def __init__(
        self, items: Iterable[JsonLike] = (), collections: Iterable[JsonLike] = ()
    ) -> None:
        super().__init__()
        self._initial_items = [_as_dict(i) for i in items]
        self._initial_collections = [_as_dict(c) for c in collections]
        self.pg_port = 0
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        """libpq URL of the pgstac database (trust auth, loopback)."""
        return f"postgresql://postgres:postgres@127.0.0.1:{self.pg_port}/pgstac"

    def _start(self, workdir: Path) -> None:
        if not (PG_BIN / "postgres").exists() or not POSTGIS_CONTROL.exists():
            raise ServerStartError(
                "PostgreSQL 15 + PostGIS are not installed: run `bash tools/system-deps.sh` (as root)"
            )
        venv_bin = ensure_stac_env()
        self._start_postgres(workdir)
        self._init_pgstac(venv_bin)
        self.add_collections(self._initial_collections)
        self.add_items(self._initial_items)
        self._start_api(workdir, venv_bin)

    def _start_postgres(self, wd: Path) -> None:
        os.chmod(wd, 0o755)
        pgdata, sock = wd / "pgdata", wd / "sock"
        for d in (pgdata, sock):
            d.mkdir()
            if self._user:
                os.chown(d, *_uid_gid(self._user))
        run_checked(
            [
                PG_BIN / "initdb", "-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-sync", "--no-instructions",
            ],
            what="initdb",
            user=self._user,
            cwd=wd,
        )  # fmt: skip

        def launch(port: int) -> None:
            self.pg_port = port
            self._serve(
                "postgres",
                [
                    PG_BIN / "postgres", "-D", pgdata, "-p", port,
                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sock}",
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                    "-c", "max_connections=60", "-c", "shared_buffers=64MB",
                ],
                ready=self._pg_ready,
                timeout=20,
                log_path=wd / "postgres.log",
                user=self._user,
                cwd=wd,
                stop_signal=signal.SIGINT,  # fast shutdown: ends every backend
            )  # fmt: skip

        self._on_free_port(launch)

    def _pg_ready(self) -> bool:
        try:
            run_checked(
                [PG_BIN / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.pg_port)],
                what="pg_isready",
                timeout=5,
            )
            return True
        except ServerStartError:
            return False

    def _psql(self, sql: str, database: str = "pgstac") -> str:
        return run_checked(
            [
                PG_BIN / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", str(self.pg_port), "-U", "postgres", "-d", database, "-f", "-",
            ],
            what="psql",
            input=sql.encode(),
            timeout=300,
        )  # fmt: skip

    def _init_pgstac(self, venv_bin: Path) -> None:
        self._psql("CREATE DATABASE pgstac;", database="postgres")
        run_checked(
            [venv_bin / "pypgstac", f"--dsn={self.dsn}", "migrate"],
            what="pypgstac migrate",
            env=_clean_env(),
            cwd=self.workdir,
            timeout=120,
        )
        sql = ["SET search_path=pgstac,public;"]
        for name in NUMERIC_QUERYABLES:
            sql.append(f"DELETE FROM queryables WHERE name = '{name}';")
            sql.append(
                "INSERT INTO queryables (name, definition, property_wrapper, property_index_type) "
                f"""VALUES ('{name}', '{{"type": "number"}}', 'to_float', 'BTREE');"""
            )
        self._psql("\n".join(sql))

    def _start_api(self, wd: Path, venv_bin: Path) -> None:
        env = _clean_env() | {
            "PGUSER": "postgres",
            "PGPASSWORD": "postgres",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.pg_port),
            "PGDATABASE": "pgstac",
            "STAC_FASTAPI_TITLE": "rasteret test STAC API",
            "STAC_FASTAPI_DESCRIPTION": "pgstac on loopback for tests",
            "STAC_FASTAPI_LANDING_ID": "rasteret-test",
            "STAC_FASTAPI_VERSION": "test",
        }

        def launch(port: int) -> None:
            self.port = port
            self._serve(
                "stac-api",
                [
                    venv_bin / "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
                    "--host", "127.0.0.1", "--port", port, "--workers", "1",
                ],
                ready=lambda: http_ok(f"{self.url}/_mgmt/ping"),
                log_path=wd / "uvicorn.log",
                env=env,
                cwd=wd,
            )  # fmt: skip

        self._on_free_port(launch)

    def add_collections(self, collections: Iterable[JsonLike]) -> None:
        """Insert or replace STAC collections (dicts or pystac objects)."""
        self._upsert("upsert_collection", [_as_dict(c) for c in collections], one_by_one=True)

    def add_items(self, items: Iterable[JsonLike]) -> None:
        """Insert or replace STAC items; their collections must exist already."""
        self._upsert("upsert_items", [_as_dict(i) for i in items], one_by_one=False)

    def _upsert(self, function: str, docs: list[dict[str, Any]], *, one_by_one: bool) -> None:
        if not docs:
            return
        tag = f"rt{secrets.token_hex(8)}"
        payloads = [json.dumps(d) for d in docs] if one_by_one else [json.dumps(docs)]
        sql = ["SET search_path=pgstac,public;"]
        sql += [f"SELECT {function}(${tag}${p}${tag}$::jsonb);" for p in payloads]
        self._psql("\n".join(sql))


def _clean_env() -> dict[str, str]:
    """The caller's environment without libpq, AWS or virtualenv settings."""
    drop = ("PG", "AWS_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _uid_gid(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
