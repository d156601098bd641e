"""The embedded engine: a Sail Spark Connect server in this process, with the lakehouse's catalogs registered.

Databricks serverless speaks Spark Connect too (`storage.sessions`), so pipeline code is identical on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chargeback.errors import ChargebackError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Sail reserves the catalog name `system` for its own runtime tables, so the lakehouse's `system` catalog
# (exported or synthetic Databricks system tables) is registered under this name and SQL is rewritten
# (engine: system-catalog-reserved).
LOCAL_SYSTEM_CATALOG = "local_system"
# Holds nothing; it only gives Sail a default catalog that no lakehouse folder can shadow.
_SCRATCH_CATALOG = "sail"


def sail_catalog_name(catalog: str) -> str:
    """The Sail catalog that holds lakehouse catalog `catalog`."""
    return LOCAL_SYSTEM_CATALOG if catalog == "system" else catalog


@contextmanager
def local_session(catalogs: Iterable[str]) -> Iterator[SparkSession]:
    """Start an embedded Sail Spark Connect server declaring `catalogs`, yield a session, stop it after.

    Sail needs its catalogs declared when the server starts; each is an in-memory catalog whose tables point
    at Delta folders in the lakehouse.
    """
    try:
        from pysail.spark import SparkConnectServer
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ChargebackError(
            f"the local engine needs the 'local' extra (pip install 'databricks-chargeback[local]'): {exc}"
        ) from None
    names = sorted({_SCRATCH_CATALOG, *(sail_catalog_name(c) for c in catalogs)})
    entries = ", ".join(f'{{name="{n}", type="memory", initial_database=["default"]}}' for n in names)
    settings = {
        "SAIL_CATALOG__LIST": f"[{entries}]",
        "SAIL_CATALOG__DEFAULT_CATALOG": _SCRATCH_CATALOG,
        "RUST_LOG": os.environ.get("RUST_LOG", "error"),
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        server = SparkConnectServer(ip="127.0.0.1", port=0)
        server.start(background=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    _, port = server.listening_address
    # A JVM Spark Connect session started earlier in the process (the tests' reference engine) leaves its auth
    # token in the environment; the client would send it, over TLS, to this plaintext server and never connect.
    token = os.environ.pop("SPARK_CONNECT_AUTHENTICATE_TOKEN", None)
    try:
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").create()
    finally:
        if token is not None:
            os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = token
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # usage times are UTC; never the laptop's zone
    try:
        yield spark
    finally:
        spark.stop()
        server.stop()
        # A stopped session's __del__ closes its client again whenever the garbage collector gets to it, and
        # closing shuts down the release thread pool all Spark Connect clients of the process share: a later
        # session then fails ("cannot schedule new futures after shutdown") or hangs mid-query. Closed once is
        # enough.
        spark.client.close = lambda: None
