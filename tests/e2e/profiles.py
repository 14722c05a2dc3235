"""Synthetic traffic for the four services of the end-to-end test.

A profile lists what a traffic process records on every tick: `inc` adds to a
counter, `set` sets a gauge, `observe` records each value on a histogram, and `info`
sets an info metric. The entries under `fault` are recorded after the normal ones
once the process receives SIGUSR2, so a fault adds traffic or sets a gauge anew.

The normal traffic keeps every panel out of its red band, so no derived alert fires
before a fault: error ratios stay near 1 %, latencies sit in buckets below the red
boundaries, gauges stay low. Label values are the ones that the panel queries and
per-series thresholds match (`status="created"`, `pipeline_type="nse_pipeline"`,
`source="AngelOne"` and so on), and histogram values fall into several buckets.
"""

# The tables keep one entry per line, so some lines are longer than 88 characters.
# ruff: noqa: E501

from __future__ import annotations

from typing import Any

Entry = dict[str, Any]

# Seconds between two ticks of a traffic process.
TICK_SECONDS = 0.25


def inc(metric: str, amount: float, **labels: str) -> Entry:
    return {"metric": metric, "labels": labels, "inc": amount}


def set_(metric: str, value: float, **labels: str) -> Entry:
    return {"metric": metric, "labels": labels, "set": value}


def observe(metric: str, values: list[float], **labels: str) -> Entry:
    return {"metric": metric, "labels": labels, "observe": values}


def info(metric: str, values: dict[str, str]) -> Entry:
    return {"metric": metric, "labels": {}, "info": values}


def _http(
    method: str, endpoint: str, status_code: str, count: int, durations: list[float]
) -> list[Entry]:
    labels = {"method": method, "endpoint": endpoint, "status_code": status_code}
    return [
        inc("http_requests_total", count, **labels),
        observe("http_request_duration_seconds", durations, **labels),
    ]


LOGIN = "/api/auth/login"
VALIDATE_TOKEN = "/api/internal/validate-token"
PASSWORD_MAIL = "/api/auth/request-password-mail"

AUTH_SERVER: dict[str, list[Entry]] = {
    # 1 of 99 requests per tick is a 4xx, so the error rate stays near 1 %.
    "normal": [
        *_http("POST", LOGIN, "200", 20, [0.012, 0.04, 0.09, 0.14]),
        *_http("POST", LOGIN, "401", 1, [0.008]),
        *_http("POST", VALIDATE_TOKEN, "200", 60, [0.003, 0.007, 0.02, 0.03]),
        *_http("POST", PASSWORD_MAIL, "200", 4, [0.06, 0.11]),
        *_http("GET", "/api/auth/me", "200", 14, [0.004, 0.015]),
        set_("http_requests_in_progress", 3),
        inc("auth_password_emails_total", 3, status="queued"),
        inc("auth_password_emails_total", 3, status="sent"),
        inc("auth_password_emails_total", 1, status="failed"),
    ],
    # 400 failed logins per tick: about 80 % of all requests are 5xx.
    "fault": _http("POST", LOGIN, "500", 400, [0.004]),
}

NOTIFICATION_SERVER: dict[str, list[Entry]] = {
    "normal": [
        inc("notification_kafka_messages_total", 20, topic="trade-events", status="processed"),
        inc("notification_kafka_messages_total", 12, topic="risk-alerts", status="processed"),
        inc("notification_kafka_messages_total", 1, topic="trade-events", status="failed"),
        inc("notification_kafka_messages_total", 1, topic="risk-alerts", status="skipped"),
        set_("notification_kafka_lag", 120, topic="trade-events", partition="0"),
        set_("notification_kafka_lag", 80, topic="trade-events", partition="1"),
        set_("notification_kafka_lag", 40, topic="risk-alerts", partition="0"),
        observe("notification_processing_duration_seconds", [0.008, 0.03, 0.07, 0.2], topic="trade-events"),
        observe("notification_processing_duration_seconds", [0.02, 0.12], topic="risk-alerts"),
        inc("notification_delivery_total", 30, channel="redis", status="success"),
        inc("notification_delivery_total", 30, channel="postgres", status="success"),
        inc("notification_delivery_total", 1, channel="postgres", status="failed"),
        inc("notification_errors_total", 1, topic="trade-events", error_type="parse_error"),
        inc("notification_errors_total", 1, topic="risk-alerts", error_type="db_error"),
        inc("notification_errors_total", 1, topic="trade-events", error_type="redis_error"),
        inc("notification_low_risk_events_total", 5, event_type="price_drift", status="processed"),
        inc("notification_low_risk_events_total", 3, event_type="volume_spike", status="processed"),
        inc("notification_low_risk_events_total", 1, event_type="news_mention", status="skipped"),
        observe("notification_batch_size", [3, 8, 20, 60], topic="trade-events"),
        observe("notification_batch_size", [1, 4], topic="risk-alerts"),
    ],
    "fault": [],
}  # fmt: skip

PORTFOLIO_SERVER: dict[str, list[Entry]] = {
    # 1 of 61 requests per tick is a 5xx, so the error rate stays near 1.6 %.
    "normal": [
        *_http("GET", "/api/portfolio", "200", 30, [0.02, 0.08, 0.2, 0.4]),
        *_http("POST", "/api/trades", "201", 10, [0.03, 0.15]),
        *_http("POST", "/api/trades", "500", 1, [0.3]),
        *_http("GET", "/api/positions", "200", 20, [0.01, 0.06]),
        set_("http_requests_in_progress", 4),
        inc("portfolio_trade_executions_total", 3, strategy="momentum", status="success"),
        inc("portfolio_trade_executions_total", 1, strategy="momentum", status="failed"),
        inc("portfolio_trade_executions_total", 2, strategy="mean_reversion", status="success"),
        observe("portfolio_trade_execution_latency_seconds", [0.3, 0.8, 2.0, 4.0], strategy="momentum"),
        observe("portfolio_trade_execution_latency_seconds", [0.2, 1.5, 6.0], strategy="mean_reversion"),
        set_("portfolio_active_trades", 3, queue="execution"),
        set_("portfolio_active_trades", 2, queue="settlement"),
        inc("portfolio_trade_errors_total", 1, error_type="timeout"),
        inc("portfolio_trade_errors_total", 1, error_type="rejected"),
        inc("portfolio_pipeline_runs_total", 1, pipeline_type="nse_pipeline", status="success"),
        inc("portfolio_pipeline_runs_total", 1, pipeline_type="nse_pipeline", status="failed"),
        inc("portfolio_pipeline_runs_total", 1, pipeline_type="news_pipeline", status="success"),
        # Below the red boundaries of 300 s (nse_pipeline) and 120 s (news_pipeline).
        observe("portfolio_pipeline_duration_seconds", [20, 45, 90, 110], pipeline_type="nse_pipeline"),
        observe("portfolio_pipeline_duration_seconds", [8, 15, 40], pipeline_type="news_pipeline"),
        inc("portfolio_pipeline_errors_total", 1, pipeline_type="nse_pipeline", error_type="data_fetch"),
        inc("portfolio_pipeline_errors_total", 1, pipeline_type="news_pipeline", error_type="parse"),
        set_("portfolio_queue_depth", 40, queue="execution"),
        set_("portfolio_queue_depth", 25, queue="risk"),
        set_("portfolio_risk_alerts_pending", 1, alert_type="drawdown", severity="warning"),
        set_("portfolio_risk_alerts_pending", 2, alert_type="exposure", severity="info"),
        inc("portfolio_risk_alerts_sent_total", 1, alert_type="drawdown", channel="email"),
        inc("portfolio_risk_alerts_sent_total", 1, alert_type="exposure", channel="slack"),
        observe("portfolio_risk_alert_processing_seconds", [0.7, 3, 8, 20]),
        inc("portfolio_risk_check_failures_total", 1, check_type="exposure_limit"),
        inc("portfolio_risk_check_failures_total", 1, check_type="margin"),
        inc("portfolio_allocations_total", 1),
        observe("portfolio_allocation_duration_seconds", [2, 7, 20, 45]),
        inc("portfolio_regime_changes_total", 1, from_regime="bull", to_regime="sideways"),
        inc("portfolio_rebalances_total", 1, trigger="scheduled", status="success"),
        inc("portfolio_rebalances_total", 1, trigger="drift", status="success"),
        inc("portfolio_alpha_signals_total", 2, alpha_type="momentum", direction="long"),
        inc("portfolio_alpha_signals_total", 1, alpha_type="value", direction="short"),
        observe("portfolio_alpha_signal_strength", [0.15, 0.45, 0.72, 0.93], alpha_type="momentum"),
        observe("portfolio_alpha_signal_strength", [0.25, 0.55], alpha_type="value"),
        # Below the red boundaries of 2 s (AngelOne) and 5 s (News).
        observe("portfolio_market_data_latency_seconds", [0.06, 0.2, 0.4, 0.8], source="AngelOne"),
        observe("portfolio_market_data_latency_seconds", [0.3, 0.9, 1.5, 1.8], source="News"),
        inc("portfolio_market_data_errors_total", 1, source="AngelOne", error_type="timeout"),
        inc("portfolio_market_data_errors_total", 1, source="News", error_type="http_error"),
        set_("portfolio_external_api_health", 1, api="angelone"),
        set_("portfolio_external_api_health", 1, api="news"),
        set_("portfolio_db_connections_active", 6),
    ],
    # The red band of Queue Depth starts at 500.
    "fault": [set_("portfolio_queue_depth", 800, queue="execution")],
}  # fmt: skip

ALPHACOPILOT_SERVER: dict[str, list[Entry]] = {
    "normal": [
        inc("alphacopilot_runs_total", 5, status="created"),
        inc("alphacopilot_runs_total", 1, status="running"),
        inc("alphacopilot_runs_total", 9, status="completed"),
        inc("alphacopilot_runs_total", 1, status="failed"),
        inc("alphacopilot_runs_total", 1, status="cancelled"),
        observe("alphacopilot_run_duration_seconds", [45, 110, 280], workflow_type="full"),
        observe("alphacopilot_run_duration_seconds", [15, 25], workflow_type="validation_only"),
        observe("alphacopilot_run_duration_seconds", [200, 550], workflow_type="backtest_only"),
        set_("alphacopilot_concurrent_runs", 3),
        inc("alphacopilot_iterations_total", 3, iteration_type="factor_gen", status="success"),
        inc("alphacopilot_iterations_total", 2, iteration_type="validation", status="success"),
        inc("alphacopilot_iterations_total", 1, iteration_type="refinement", status="failed"),
        observe("alphacopilot_iteration_duration_seconds", [8, 25], iteration_type="factor_gen"),
        observe("alphacopilot_iteration_duration_seconds", [4, 12], iteration_type="validation"),
        observe("alphacopilot_iteration_duration_seconds", [40, 90], iteration_type="refinement"),
        # 1 error in 50 requests per tick: a 2 % LLM error rate.
        inc("alphacopilot_llm_requests_total", 30, model="gpt-4o", endpoint="/v1/chat/completions", status="success"),
        inc("alphacopilot_llm_requests_total", 18, model="gpt-4o-mini", endpoint="/v1/chat/completions", status="success"),
        inc("alphacopilot_llm_requests_total", 1, model="gpt-4o", endpoint="/v1/chat/completions", status="error"),
        inc("alphacopilot_llm_requests_total", 1, model="gpt-4o-mini", endpoint="/v1/chat/completions", status="timeout"),
        observe("alphacopilot_llm_latency_seconds", [0.8, 1.6, 4.0, 8.0], model="gpt-4o", endpoint="/v1/chat/completions"),
        observe("alphacopilot_llm_latency_seconds", [0.4, 0.9], model="gpt-4o-mini", endpoint="/v1/chat/completions"),
        inc("alphacopilot_llm_tokens_total", 1200, model="gpt-4o", token_type="input"),
        inc("alphacopilot_llm_tokens_total", 300, model="gpt-4o", token_type="output"),
        inc("alphacopilot_llm_tokens_total", 800, model="gpt-4o-mini", token_type="input"),
        inc("alphacopilot_llm_tokens_total", 150, model="gpt-4o-mini", token_type="output"),
        inc("alphacopilot_factor_validations_total", 3, status="valid"),
        inc("alphacopilot_factor_validations_total", 1, status="invalid"),
        inc("alphacopilot_factor_validations_total", 1, status="error"),
        inc("alphacopilot_factors_generated_total", 2, factor_type="momentum"),
        inc("alphacopilot_factors_generated_total", 1, factor_type="volatility"),
        inc("alphacopilot_backtest_jobs_total", 1, status="queued"),
        inc("alphacopilot_backtest_jobs_total", 1, status="running"),
        inc("alphacopilot_backtest_jobs_total", 1, status="completed"),
        inc("alphacopilot_backtest_jobs_total", 1, status="failed"),
        observe("alphacopilot_backtest_duration_seconds", [45, 150, 400]),
        inc("alphacopilot_db_queries_total", 10, operation="select", table="runs"),
        inc("alphacopilot_db_queries_total", 2, operation="insert", table="runs"),
        inc("alphacopilot_db_queries_total", 1, operation="update", table="factors"),
        info("alphacopilot_service", {"version": "0.1.0", "environment": "e2e"}),
    ],
    "fault": [],
}  # fmt: skip

PROFILES: dict[str, dict[str, list[Entry]]] = {
    "auth_server": AUTH_SERVER,
    "notification_server": NOTIFICATION_SERVER,
    "portfolio_server": PORTFOLIO_SERVER,
    "alphacopilot_server": ALPHACOPILOT_SERVER,
}
