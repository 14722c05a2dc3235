"""Check stage: named checks that turn problems in the model into diagnostics.

Each module defines one check (or a small family) and registers it by name, so
importing this package registers them all. `run_checks` applies them.
"""

# Imported for their side effect: each module registers its checks.
from obscompile.check import (  # noqa: F401
    alert_template,
    alert_template_label,
    alert_url,
    alert_value_format,
    dashboard_barchart_labels,
    dashboard_duplicate_panel_title,
    dashboard_heatmap_buckets,
    dashboard_legend_label,
    dashboard_range,
    dashboard_refresh,
    dashboard_series_legend,
    dashboard_time,
    dashboard_timezone,
    dashboard_too_long,
    dashboard_unit,
    dashboard_unit_scale,
    number_precision,
    project_alert_name_clash,
    project_duplicates,
    project_metric_types,
    project_name_clash,
    project_unsafe_name,
    promql_bucket_bound,
    promql_dashboard_variable,
    promql_histogram_le,
    promql_job_matcher,
    promql_match_labels,
    promql_metric_spelling,
    promql_quantile,
    promql_rate_counter,
    promql_rate_window,
    promql_result_type,
    promql_summary_aggregation,
    promql_summary_quantile,
    promql_syntax,
    promql_unknown_label,
    promql_unknown_metric,
    scrape_job,
    thresholds_histogram_range,
    thresholds_panel_type,
    thresholds_raw_counter,
    thresholds_scrape_timeout,
    thresholds_unit,
)
from obscompile.check.registry import Check, Scope, check, registered_checks, run_checks

__all__ = ["Check", "Scope", "check", "registered_checks", "run_checks"]
