"""`system.compute.clusters`: the all-purpose clusters and one cluster per classic job run or pipeline update."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from chargeback.contracts import system_tables
from chargeback.local.synthetic.account import (
    ACCOUNT_ID,
    CLUSTER_ANALYTICS,
    CLUSTER_DEV_CAROL,
    CLUSTER_SHARED_SERVICES,
    SP_PLATFORM,
    USER_ALICE,
    USER_CAROL,
    USER_PLATFORM_ADMIN,
)
from chargeback.local.synthetic.columns import (
    Struct,
    arrow_table,
    column_arrow_type,
    const,
    pick,
    row_chunks,
    table,
    timestamps,
)
from chargeback.local.synthetic.inventory import WORKLOADS
from chargeback.local.synthetic.plan import Stream, workspace_ids
from chargeback.local.synthetic.runs import JobAttempts, PipelineUpdates
from chargeback.local.synthetic.values import char_matrix, digit_chars, run_cluster_id_chars, strings
from chargeback.local.synthetic.window import H, Window, epoch_micros
from chargeback.local.synthetic.workload import Workload, changed_part, is_regional

_CLUSTER_OWNERS = {CLUSTER_ANALYTICS: USER_ALICE, CLUSTER_DEV_CAROL: USER_CAROL, CLUSTER_SHARED_SERVICES: SP_PLATFORM}
_ZONES = {"US_EAST_N_VIRGINIA": "us-east-1a", "EUROPE_IRELAND": "eu-west-1a", None: "us-west-2a"}


def cluster_tables(
    streams: list[Stream], window: Window, jobs: JobAttempts, updates: PipelineUpdates
) -> list[pa.Table]:
    """All-purpose clusters (SCD2), one job cluster per classic job run, one cluster per classic pipeline update."""
    fixed = arrow_table(all_purpose_cluster_rows(window), system_tables.CLUSTERS)
    first_attempt = np.unique(jobs.run_number, return_index=True)[1]  # repairs reuse the run's cluster row
    job_attempts = jobs.take(np.sort(first_attempt[jobs.has_cluster[first_attempt]]))
    job_ids = char_matrix([s.workload.metadata.get("job_id", "0" * 15) for s in streams])
    job_names = np.concatenate(
        [
            np.broadcast_to(char_matrix(["job-"]), (len(job_attempts.stream), 4)),
            job_ids[job_attempts.stream],
            np.broadcast_to(char_matrix(["-run-"]), (len(job_attempts.stream), 5)),
            digit_chars(job_attempts.run_number, 15),
        ],
        axis=1,
    )
    pipe = updates.take(np.flatnonzero(updates.has_cluster))
    pipeline_ids = char_matrix([s.workload.metadata.get("dlt_pipeline_id", "0" * 36) for s in streams])
    pipeline_names = np.concatenate(
        [np.broadcast_to(char_matrix(["dlt-execution-"]), (len(pipe.stream), 14)), pipeline_ids[pipe.stream]], axis=1
    )
    tables = [fixed]
    for source, runs, names in (("JOB", job_attempts, job_names), ("PIPELINE", pipe, pipeline_names)):
        for part in row_chunks(len(runs.stream)):
            tables.append(
                _run_clusters(
                    streams,
                    window,
                    source,
                    runs.stream[part],
                    runs.salted_key[part],
                    runs.block_hour[part],
                    runs.start[part],
                    names[part],
                )
            )
    return tables


def _run_clusters(
    streams: list[Stream],
    window: Window,
    source: str,
    stream: np.ndarray,
    salted: np.ndarray,
    block_hour: np.ndarray,
    start: np.ndarray,
    names: np.ndarray,
) -> pa.Table:
    """Clusters created for runs (cluster_source JOB or PIPELINE), as usage names them, tagged like their workload."""
    n = len(stream)
    workloads = [s.workload for s in streams]
    cloud = np.array([w.workspace.cloud for w in workloads])[stream]
    after = (start >= epoch_micros(window.change_time)).astype(np.int64)
    tags = [t for w in workloads for t in (dict(w.tags), changed_part(w, "tags"))]
    tags_before_or_after = pa.array(tags, column_arrow_type(system_tables.CLUSTERS, "tags")).take(2 * stream + after)
    node = pick([w.metadata.get("node_type") for w in workloads], stream)
    photon = np.array([w.features.get("is_photon") is True for w in workloads])[stream]
    aws = cloud == "AWS"
    return table(
        system_tables.CLUSTERS,
        n,
        {
            "account_id": const(ACCOUNT_ID, n),
            "workspace_id": pick(workspace_ids(streams), stream),
            "cluster_id": strings(run_cluster_id_chars(window, block_hour, salted)),
            "cluster_name": strings(names),
            "owned_by": pick([w.identity.get("run_as") for w in workloads], stream),
            "create_time": timestamps(start),
            "driver_node_type": node,
            "worker_node_type": node,
            "worker_count": np.full(n, 4, dtype=np.int64),
            "auto_termination_minutes": np.zeros(n, dtype=np.int64),
            "enable_elastic_disk": np.ones(n, bool),
            "tags": tags_before_or_after,
            "cluster_source": const(source, n),
            "aws_attributes": Struct(
                {
                    "first_on_demand": np.ones(n, dtype=np.int64),
                    "availability": const("SPOT_WITH_FALLBACK", n),
                    "zone_id": pick([_ZONES.get(w.workspace.region, "us-east-1a") for w in workloads], stream),
                    "spot_bid_price_percent": np.full(n, 100, dtype=np.int64),
                },
                aws,
            ),
            "azure_attributes": Struct(
                {
                    "first_on_demand": np.ones(n, dtype=np.int64),
                    "availability": const("ON_DEMAND_AZURE", n),
                    "spot_bid_max_price": np.full(n, -1.0),
                },
                cloud == "AZURE",
            ),
            "dbr_version": pick(("15.4.x-scala2.12", "15.4.x-photon-scala2.12"), photon.astype(np.int64)),
            "change_time": timestamps(start),
            "change_date": pa.array((start // (24 * H)).astype(np.int32)).cast(pa.date32()),
            "data_security_mode": const("SINGLE_USER", n),
        },
    )


def all_purpose_cluster_rows(window: Window) -> list[dict[str, object]]:
    """SCD2 rows of the regional all-purpose clusters; the analytics cluster's autoscale range changes mid-window."""
    rows = []
    clusters = [w for w in WORKLOADS if w.kind == "all_purpose" and is_regional(w)]
    for i, w in enumerate(clusters):
        created = window.start - dt.timedelta(days=60 + 17 * i, seconds=3_011 * i)
        rows.append(_all_purpose_row(w, created, created, 8))
        if w.metadata["cluster_id"] == CLUSTER_ANALYTICS:
            rows.append(_all_purpose_row(w, created, window.change_time + dt.timedelta(hours=3, seconds=11), 12))
    return rows


def _all_purpose_row(w: Workload, created: dt.datetime, changed: dt.datetime, max_workers: int) -> dict[str, object]:
    photon = w.features.get("is_photon") is True
    cloud = w.workspace.cloud
    return {
        "account_id": ACCOUNT_ID,
        "workspace_id": w.workspace.workspace_id,
        "cluster_id": w.metadata["cluster_id"],
        "cluster_name": w.key,
        "owned_by": _CLUSTER_OWNERS.get(w.metadata["cluster_id"], USER_PLATFORM_ADMIN),
        "create_time": created,
        "delete_time": None,
        "driver_node_type": w.metadata.get("node_type"),
        "worker_node_type": w.metadata.get("node_type"),
        "worker_count": None,
        "min_autoscale_workers": 1,
        "max_autoscale_workers": max_workers,
        "auto_termination_minutes": 60,
        "enable_elastic_disk": True,
        "tags": dict(w.tags),
        "cluster_source": "UI",
        "init_scripts": [],
        "aws_attributes": {
            "first_on_demand": 1,
            "availability": "SPOT_WITH_FALLBACK",
            "zone_id": _ZONES.get(w.workspace.region, "us-east-1a"),
            "spot_bid_price_percent": 100,
        }
        if cloud == "AWS"
        else None,
        "azure_attributes": None,
        "gcp_attributes": None,
        "driver_instance_pool_id": None,
        "worker_instance_pool_id": None,
        "dbr_version": "15.4.x-photon-scala2.12" if photon else "15.4.x-scala2.12",
        "change_time": changed,
        "change_date": changed.date(),
        "data_security_mode": "USER_ISOLATION",
        "policy_id": None,
    }
