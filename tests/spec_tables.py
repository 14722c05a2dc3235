"""The trading platform's dashboard panel tables, as plain data for acceptance tests.

This data is written from the dashboard design specification, independently of the
manifests in services/, so a test can compare a compiled dashboard with it. Each panel
is `(title, grafana_type, promql, expected_steps)`. `expected_steps` are the Grafana
threshold steps `(color, value)` in ascending order, the first one the base step with
value None. A band starts at its lower bound, inclusive, so ">5% Red" is a red step
at 5, and a text that names only a good band below a bound ("<80% pool Green") is red
from that bound. A panel without thresholds ("-") has the single base step green.

The data differs from the specification only where the specification contradicts
itself. A comment at each such panel states what differs and why.
"""

# ruff: noqa: E501
# Each PromQL string stays on one line, so it can be compared with the
# specification's text character for character.

from __future__ import annotations

from typing import NamedTuple

Step = tuple[str, float | None]
Steps = list[Step]


class Panel(NamedTuple):
    title: str
    grafana_type: str
    promql: str
    expected_steps: Steps


class Row(NamedTuple):
    title: str
    panels: list[Panel]


class Dashboard(NamedTuple):
    uid: str
    rows: list[Row]


GREEN: Steps = [("green", None)]

AUTH_UID = "auth-server-dashboard"
NOTIFICATION_UID = "notification-server-dashboard"
PORTFOLIO_UID = "portfolio-server-dashboard"
ALPHACOPILOT_UID = "alphacopilot-server-dashboard"

AUTH_SERVER = Dashboard(
    uid=AUTH_UID,
    rows=[
        Row(
            "Auth API Health",
            [
                Panel(
                    "Request Rate",
                    "stat",
                    'sum(rate(http_requests_total{job="auth_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Error Rate (4xx/5xx)",
                    "gauge",
                    'sum(rate(http_requests_total{job="auth_server",status_code=~"4..|5.."}[5m])) / sum(rate(http_requests_total{job="auth_server"}[5m])) * 100',
                    [("green", None), ("yellow", 1), ("red", 5)],
                ),
                Panel(
                    "In-Flight Requests",
                    "stat",
                    'sum(http_requests_in_progress{job="auth_server"})',
                    [("green", None), ("yellow", 50), ("red", 100)],
                ),
                Panel(
                    "P95 Latency (All Endpoints)",
                    "gauge",
                    'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="auth_server"}[5m])) by (le))',
                    [("green", None), ("yellow", 0.2), ("red", 0.5)],
                ),
            ],
        ),
        Row(
            "Login & Token Validation",
            [
                Panel(
                    "Login Requests/sec",
                    "timeseries",
                    'sum(rate(http_requests_total{job="auth_server",endpoint="/api/auth/login",method="POST"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Login P95 Latency",
                    "gauge",
                    'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="auth_server",endpoint="/api/auth/login",method="POST"}[5m])) by (le))',
                    [("green", None), ("yellow", 0.3), ("red", 0.8)],
                ),
                Panel(
                    "Login P99 Latency",
                    "gauge",
                    'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{job="auth_server",endpoint="/api/auth/login",method="POST"}[5m])) by (le))',
                    [("green", None), ("yellow", 0.5), ("red", 1)],
                ),
                Panel(
                    "Login Success vs Failure",
                    "timeseries",
                    'sum by (status_code) (rate(http_requests_total{job="auth_server",endpoint="/api/auth/login",method="POST"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Token Validation Requests/sec",
                    "timeseries",
                    'sum(rate(http_requests_total{job="auth_server",endpoint="/api/internal/validate-token",method="POST"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Token Validation P95 Latency",
                    "gauge",
                    'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="auth_server",endpoint="/api/internal/validate-token",method="POST"}[5m])) by (le))',
                    [("green", None), ("yellow", 0.05), ("red", 0.15)],
                ),
            ],
        ),
        Row(
            "Password & Email Flows",
            [
                Panel(
                    "Password Reset Requests/sec",
                    "timeseries",
                    'sum(rate(http_requests_total{job="auth_server",endpoint="/api/auth/request-password-mail",method="POST"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "4xx/5xx by Endpoint",
                    "table",
                    'sum by (endpoint, status_code) (rate(http_requests_total{job="auth_server",status_code=~"4..|5.."}[5m]))',
                    GREEN,
                ),
                # The specification suggests this panel, with the
                # auth_password_emails_total counter, below the row's table.
                Panel(
                    "Password Emails Queued",
                    "timeseries",
                    'sum by (status) (rate(auth_password_emails_total{job="auth_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
    ],
)

NOTIFICATION_SERVER = Dashboard(
    uid=NOTIFICATION_UID,
    rows=[
        Row(
            "Kafka Throughput",
            [
                Panel(
                    "Messages/sec by Topic",
                    "timeseries",
                    'sum by (topic) (rate(notification_kafka_messages_total{job="notification_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Consumer Lag by Topic",
                    "timeseries",
                    'sum by (topic) (notification_kafka_lag{job="notification_server"})',
                    [("green", None), ("yellow", 1000), ("red", 10000)],
                ),
                Panel(
                    "Total Messages Processed (24h)",
                    "stat",
                    'sum(increase(notification_kafka_messages_total{job="notification_server",status="processed"}[24h]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Processing Performance",
            [
                Panel(
                    "Processing Latency P95 by Topic",
                    "timeseries",
                    'histogram_quantile(0.95, sum by (topic, le) (rate(notification_processing_duration_seconds_bucket{job="notification_server"}[5m])))',
                    [("green", None), ("yellow", 0.5), ("red", 2)],
                ),
                Panel(
                    "Processing Latency P99",
                    "gauge",
                    'histogram_quantile(0.99, sum(rate(notification_processing_duration_seconds_bucket{job="notification_server"}[5m])) by (le))',
                    [("green", None), ("yellow", 1), ("red", 5)],
                ),
                Panel(
                    "Batch Size Distribution",
                    "timeseries",
                    'histogram_quantile(0.5, sum by (topic, le) (rate(notification_batch_size_bucket{job="notification_server"}[5m])))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Delivery & Errors",
            [
                Panel(
                    "Delivery Success Rate",
                    "gauge",
                    'sum(rate(notification_delivery_total{job="notification_server",status="success"}[5m])) / sum(rate(notification_delivery_total{job="notification_server"}[5m])) * 100',
                    [("red", None), ("yellow", 95), ("green", 99)],
                ),
                Panel(
                    "Deliveries by Channel",
                    "timeseries",
                    'sum by (channel) (rate(notification_delivery_total{job="notification_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Errors by Type",
                    "timeseries",
                    'sum by (error_type) (rate(notification_errors_total{job="notification_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Failed Messages by Topic",
                    "timeseries",
                    'sum by (topic) (rate(notification_kafka_messages_total{job="notification_server",status="failed"}[5m]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Low-Risk Events",
            [
                Panel(
                    "Low-Risk Events/sec",
                    "timeseries",
                    'sum(rate(notification_low_risk_events_total{job="notification_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Low-Risk Events by Type",
                    "barchart",
                    'sum by (event_type) (rate(notification_low_risk_events_total{job="notification_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
    ],
)

PORTFOLIO_SERVER = Dashboard(
    uid=PORTFOLIO_UID,
    rows=[
        Row(
            "API Health",
            [
                Panel(
                    "Request Rate",
                    "stat",
                    'sum(rate(http_requests_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Error Rate (4xx/5xx)",
                    "gauge",
                    'sum(rate(http_requests_total{job="portfolio_server",status_code=~"4..|5.."}[5m])) / sum(rate(http_requests_total{job="portfolio_server"}[5m])) * 100',
                    [("green", None), ("yellow", 1), ("red", 5)],
                ),
                Panel(
                    "P95 API Latency",
                    "gauge",
                    'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="portfolio_server"}[5m])) by (le))',
                    [("green", None), ("yellow", 0.5), ("red", 1)],
                ),
                Panel(
                    "In-Flight Requests",
                    "stat",
                    'sum(http_requests_in_progress{job="portfolio_server"})',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Trade Execution",
            [
                Panel(
                    "Trade Executions/sec",
                    "timeseries",
                    'sum(rate(portfolio_trade_executions_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Trade Success vs Failure",
                    "timeseries",
                    'sum by (status) (rate(portfolio_trade_executions_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Trades by Strategy",
                    "barchart",
                    'sum by (strategy) (rate(portfolio_trade_executions_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Trade Execution P99 Latency",
                    "timeseries",
                    'histogram_quantile(0.99, sum by (le, strategy) (rate(portfolio_trade_execution_latency_seconds_bucket{job="portfolio_server"}[5m])))',
                    [("green", None), ("yellow", 10), ("red", 60)],
                ),
                Panel(
                    "Active Trades",
                    "stat",
                    'sum by (queue) (portfolio_active_trades{job="portfolio_server"})',
                    GREEN,
                ),
                Panel(
                    "Trade Errors by Type",
                    "timeseries",
                    'sum by (error_type) (rate(portfolio_trade_errors_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Pipelines & Queues",
            [
                Panel(
                    "Pipeline Runs (Success/Failure)",
                    "timeseries",
                    'sum by (pipeline_type, status) (rate(portfolio_pipeline_runs_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                # Per-series thresholds: see SERIES_STEPS.
                Panel(
                    "Pipeline Duration P95",
                    "timeseries",
                    'histogram_quantile(0.95, sum by (pipeline_type, le) (rate(portfolio_pipeline_duration_seconds_bucket{job="portfolio_server"}[5m])))',
                    GREEN,
                ),
                # Deviation: the specification gives the type "Heatmap/Table". A
                # heatmap needs bucket series grouped by le, and this query returns
                # error rates, so the panel is a table.
                Panel(
                    "Pipeline Errors by Type",
                    "table",
                    'sum by (pipeline_type, error_type) (rate(portfolio_pipeline_errors_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Queue Depth",
                    "timeseries",
                    'portfolio_queue_depth{job="portfolio_server"}',
                    [("green", None), ("yellow", 100), ("red", 500)],
                ),
            ],
        ),
        Row(
            "Risk & Alerts",
            [
                # Deviation: the specification gives the type "Stat/Table". The
                # panel is a stat because a stat colours each value by its
                # thresholds.
                Panel(
                    "Pending Risk Alerts",
                    "stat",
                    'sum by (alert_type, severity) (portfolio_risk_alerts_pending{job="portfolio_server"})',
                    [("green", None), ("yellow", 1), ("red", 5)],
                ),
                Panel(
                    "Risk Alerts Sent/sec",
                    "timeseries",
                    'sum by (alert_type, channel) (rate(portfolio_risk_alerts_sent_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                Panel(
                    "Risk Alert Processing Latency",
                    "gauge",
                    'histogram_quantile(0.95, sum by (le) (rate(portfolio_risk_alert_processing_seconds_bucket{job="portfolio_server"}[5m])))',
                    [("green", None), ("yellow", 30), ("red", 120)],
                ),
                Panel(
                    "Risk Check Failures",
                    "timeseries",
                    'sum by (check_type) (rate(portfolio_risk_check_failures_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Allocation & Regime",
            [
                Panel(
                    "Allocations Performed",
                    "stat",
                    'sum(increase(portfolio_allocations_total{job="portfolio_server"}[1h]))',
                    GREEN,
                ),
                Panel(
                    "Allocation Duration P95",
                    "gauge",
                    'histogram_quantile(0.95, sum by (le) (rate(portfolio_allocation_duration_seconds_bucket{job="portfolio_server"}[5m])))',
                    [("green", None), ("yellow", 120), ("red", 300)],
                ),
                Panel(
                    "Regime Changes",
                    "table",
                    'sum by (from_regime, to_regime) (increase(portfolio_regime_changes_total{job="portfolio_server"}[24h]))',
                    GREEN,
                ),
                Panel(
                    "Rebalances by Trigger",
                    "timeseries",
                    'sum by (trigger, status) (rate(portfolio_rebalances_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Alpha Signals",
            [
                Panel(
                    "Alpha Signals Generated",
                    "timeseries",
                    'sum by (alpha_type, direction) (rate(portfolio_alpha_signals_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                # Deviation: the specification pairs the heatmap with
                # histogram_quantile(0.5, sum by (alpha_type, le) (rate(portfolio_alpha_signal_strength_bucket{job="portfolio_server"}[5m]))),
                # one median per alpha type, which a heatmap cannot draw. The
                # query is the bucket rates summed by le.
                Panel(
                    "Alpha Signal Strength Distribution",
                    "heatmap",
                    'sum by (le) (rate(portfolio_alpha_signal_strength_bucket{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Market Data & External APIs",
            [
                # Per-series thresholds: see SERIES_STEPS.
                Panel(
                    "Market Data Latency P95",
                    "timeseries",
                    'histogram_quantile(0.95, sum by (source, le) (rate(portfolio_market_data_latency_seconds_bucket{job="portfolio_server"}[5m])))',
                    GREEN,
                ),
                Panel(
                    "Market Data Errors",
                    "timeseries",
                    'sum by (source, error_type) (rate(portfolio_market_data_errors_total{job="portfolio_server"}[5m]))',
                    GREEN,
                ),
                # "1=Green, 0=Red": value mappings in VALUE_MAPPINGS, and thresholds
                # that agree with them.
                Panel(
                    "External API Health",
                    "stat",
                    'portfolio_external_api_health{job="portfolio_server"}',
                    [("red", None), ("green", 1)],
                ),
                # Deviation: the specification gives "<80% pool Green" but no pool
                # size. With an assumed capacity of 20 connections, red starts at
                # 80% of 20 = 16.
                Panel(
                    "DB Connections Active",
                    "timeseries",
                    'portfolio_db_connections_active{job="portfolio_server"}',
                    [("green", None), ("red", 16)],
                ),
            ],
        ),
    ],
)

ALPHACOPILOT_SERVER = Dashboard(
    uid=ALPHACOPILOT_UID,
    rows=[
        Row(
            "Run Volume & Success",
            [
                Panel(
                    "Runs Created (1h)",
                    "stat",
                    'sum(increase(alphacopilot_runs_total{job="alphacopilot_server",status="created"}[1h]))',
                    GREEN,
                ),
                Panel(
                    "Run Success Rate",
                    "gauge",
                    'sum(rate(alphacopilot_runs_total{job="alphacopilot_server",status="completed"}[1h])) / sum(rate(alphacopilot_runs_total{job="alphacopilot_server",status=~"completed|failed"}[1h])) * 100',
                    [("red", None), ("yellow", 70), ("green", 90)],
                ),
                Panel(
                    "Concurrent Runs",
                    "stat",
                    'alphacopilot_concurrent_runs{job="alphacopilot_server"}',
                    [("green", None), ("yellow", 10), ("red", 20)],
                ),
                Panel(
                    "Runs by Status",
                    "piechart",
                    'sum by (status) (increase(alphacopilot_runs_total{job="alphacopilot_server"}[6h]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Latency & SLAs",
            [
                Panel(
                    "Run Duration P50",
                    "gauge",
                    'histogram_quantile(0.5, sum by (le) (rate(alphacopilot_run_duration_seconds_bucket{job="alphacopilot_server"}[1h])))',
                    GREEN,
                ),
                Panel(
                    "Run Duration P95",
                    "gauge",
                    'histogram_quantile(0.95, sum by (le) (rate(alphacopilot_run_duration_seconds_bucket{job="alphacopilot_server"}[1h])))',
                    [("green", None), ("yellow", 600), ("red", 1200)],
                ),
                Panel(
                    "Iteration Duration by Type",
                    "timeseries",
                    'histogram_quantile(0.95, sum by (iteration_type, le) (rate(alphacopilot_iteration_duration_seconds_bucket{job="alphacopilot_server"}[1h])))',
                    GREEN,
                ),
                Panel(
                    "Iterations per Run",
                    "stat",
                    'sum(rate(alphacopilot_iterations_total{job="alphacopilot_server"}[1h])) / sum(rate(alphacopilot_runs_total{job="alphacopilot_server",status="created"}[1h]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "LLM Usage & Errors",
            [
                Panel(
                    "LLM Requests/min",
                    "timeseries",
                    'sum(rate(alphacopilot_llm_requests_total{job="alphacopilot_server"}[5m])) * 60',
                    GREEN,
                ),
                Panel(
                    "LLM Error Rate",
                    "gauge",
                    'sum(rate(alphacopilot_llm_requests_total{job="alphacopilot_server",status="error"}[5m])) / sum(rate(alphacopilot_llm_requests_total{job="alphacopilot_server"}[5m])) * 100',
                    [("green", None), ("yellow", 1), ("red", 5)],
                ),
                Panel(
                    "LLM Latency P95",
                    "gauge",
                    'histogram_quantile(0.95, sum by (le) (rate(alphacopilot_llm_latency_seconds_bucket{job="alphacopilot_server"}[5m])))',
                    [("green", None), ("yellow", 10), ("red", 30)],
                ),
                Panel(
                    "Token Usage (Input/Output)",
                    "timeseries",
                    'sum by (token_type) (rate(alphacopilot_llm_tokens_total{job="alphacopilot_server"}[1h]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Factor Generation",
            [
                Panel(
                    "Factor Validations",
                    "piechart",
                    'sum by (status) (rate(alphacopilot_factor_validations_total{job="alphacopilot_server"}[1h]))',
                    GREEN,
                ),
                Panel(
                    "Factors Generated",
                    "stat",
                    'sum(increase(alphacopilot_factors_generated_total{job="alphacopilot_server"}[24h]))',
                    GREEN,
                ),
            ],
        ),
        Row(
            "Backtests (if enabled)",
            [
                Panel(
                    "Backtest Jobs by Status",
                    "timeseries",
                    'sum by (status) (rate(alphacopilot_backtest_jobs_total{job="alphacopilot_server"}[1h]))',
                    GREEN,
                ),
                Panel(
                    "Backtest Duration P95",
                    "gauge",
                    'histogram_quantile(0.95, sum by (le) (rate(alphacopilot_backtest_duration_seconds_bucket{job="alphacopilot_server"}[1h])))',
                    [("green", None), ("yellow", 600), ("red", 1200)],
                ),
            ],
        ),
    ],
)

# Keyed by service name, in the specification's order.
DASHBOARDS: dict[str, Dashboard] = {
    "auth_server": AUTH_SERVER,
    "notification_server": NOTIFICATION_SERVER,
    "portfolio_server": PORTFOLIO_SERVER,
    "alphacopilot_server": ALPHACOPILOT_SERVER,
}

# Per-series threshold overrides, keyed by (dashboard uid, panel title), then by
# the series' display name. Each text names only the good band ("<300s"), so each
# series is red from its bound.
SERIES_STEPS: dict[tuple[str, str], dict[str, Steps]] = {
    (PORTFOLIO_UID, "Pipeline Duration P95"): {
        "nse_pipeline": [("green", None), ("red", 300)],
        "news_pipeline": [("green", None), ("red", 120)],
    },
    (PORTFOLIO_UID, "Market Data Latency P95"): {
        "AngelOne": [("green", None), ("red", 2)],
        "News": [("green", None), ("red", 5)],
    },
}

# Value mappings from value to colour, keyed by (dashboard uid, panel title). The
# specification gives no display text for the mapped values.
VALUE_MAPPINGS: dict[tuple[str, str], dict[float, str]] = {
    (PORTFOLIO_UID, "External API Health"): {1: "green", 0: "red"},
}

# Panels whose type column reads "Timeseries (stacked)": timeseries with stacking.
STACKED_PANELS: set[tuple[str, str]] = {
    (AUTH_UID, "Login Success vs Failure"),
    (NOTIFICATION_UID, "Deliveries by Channel"),
    (PORTFOLIO_UID, "Trade Success vs Failure"),
    (PORTFOLIO_UID, "Pipeline Runs (Success/Failure)"),
}

# Panels whose type column reads "Stat (colored)": stat panels that colour their
# background by the thresholds.
BACKGROUND_COLORED_PANELS: set[tuple[str, str]] = {
    (PORTFOLIO_UID, "External API Health"),
}
