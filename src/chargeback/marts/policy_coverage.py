"""Gold `policy_coverage_daily`: serverless usage that budget policies leave unattributed, by whom and where.

Serverless usage is attributed through the budget policy it runs under: the policy's tags reach `custom_tags`,
and a policy id can also be mapped in `attribution.budget_policies`. Usage with no policy id, or with an id the
config does not know and no business-unit tag (a deleted policy keeps its id on usage but applies no tags; an
unmanaged policy may carry no business-unit tag), is what admins fix by assigning policies: this table says
to whom (the identity that ran or owns the usage) and in which workspace.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from chargeback.config import Config
from chargeback.contracts.cost_tables import POLICY_COVERAGE_DAILY
from chargeback.money import MONEY
from chargeback.steps.validity import in_force_on

POLICY_STATUSES = ("none", "mapped", "tagged", "unknown")
# Workloads a serverless budget policy can be attached to (SQL warehouses cannot have one).
POLICY_WORKLOAD_TYPES = ("job", "pipeline", "notebook", "serving_endpoint", "vector_search_endpoint", "app")


def is_policy_eligible() -> Column:
    """Whether a usage line is serverless compute a budget policy can attribute: it carries a policy id, or it is
    a serverless job, pipeline or notebook, or a serving / vector search endpoint or app (always serverless)."""
    workload = F.col("workload_type")
    always_serverless = workload.endswith("endpoint") | (workload == "app")
    serverless = F.coalesce(F.col("is_serverless"), F.lit(False)) | always_serverless
    return F.col("policy_id").isNotNull() | (workload.isin(*POLICY_WORKLOAD_TYPES) & serverless)


def policy_coverage_daily(lines: DataFrame, config: Config, run_id: str) -> DataFrame:
    """Policy coverage from attributed usage lines (`usage_costs` rows)."""
    rules = lines.sparkSession.createDataFrame(
        [(r.policy_id, r.valid_from, r.valid_to) for r in config.attribution.budget_policies],
        "_rule_policy_id string, _rule_from date, _rule_to date",
    )
    day = F.col("usage_date")
    in_force = in_force_on(day, F.col("_rule_from"), F.col("_rule_to"))
    # Rules of one policy id never overlap (the config refuses it), so the join adds no rows.
    matched = lines.where(is_policy_eligible()).join(
        F.broadcast(rules), (F.col("policy_id") == F.col("_rule_policy_id")) & in_force, "left"
    )
    status = (
        F.when(F.col("policy_id").isNull(), F.lit("none"))
        .when(F.col("_rule_policy_id").isNotNull(), F.lit("mapped"))
        .when(F.col("attribution_method") == "tag", F.lit("tagged"))
        .otherwise(F.lit("unknown"))
    )
    return (
        matched.withColumn("policy_status", status)
        .groupBy("usage_date", "workspace_id", "owner_identity", "policy_id", "policy_status", "business_unit")
        .agg(
            F.first("workspace_name", ignorenulls=True).alias("workspace_name"),
            F.count(F.lit(1)).alias("usage_line_count"),
            F.sum("effective_cost").cast(MONEY).alias("effective_cost"),
        )
        .withColumn("currency_code", F.lit(config.currency))
        .withColumn("run_id", F.lit(run_id))
        .select(*POLICY_COVERAGE_DAILY.column_names)
    )
