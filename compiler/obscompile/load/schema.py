"""The JSON Schema of a service manifest.

The same schema validates manifests in the loader and is what `obscompile schema`
prints for editors (for example the YAML language server's `$schema` comment).
"""

from __future__ import annotations

from typing import Any

from obscompile.load.durations import MAX_DURATION_MS
from obscompile.load.patterns import END
from obscompile.model.metric import MetricType
from obscompile.model.panel import PanelType

SCHEMA_ID = "https://obscompile.dev/schema/manifest.json"
# Output file names start with the service's name, and a file name has at most 255
# bytes on the usual Linux file systems.
SERVICE_NAME_MAX = 100
SERVICE_KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]*" + END
SERVICE_KEY_HINT = (
    "use lowercase ASCII letters, digits, _ and -, starting with a letter or digit"
)
# Grafana's dashboard uid: its uid columns keep 40 characters.
UID_MAX = 40
UID_PATTERN = r"^[A-Za-z0-9_-]*" + END
UID_HINT = f"Grafana allows at most {UID_MAX} characters from [A-Za-z0-9_-]"
# A dashboard tag: Grafana's dashboard_tag.term column keeps 50 characters, and a
# longer tag fails to save on MySQL and PostgreSQL.
TAG_MAX = 50
METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*" + END
METRIC_NAME_HINT = (
    "a metric name uses ASCII letters, digits, _ and :, not starting with a digit"
)
# A label name that Prometheus accepts: names that start with "__" are its own.
LABEL_NAME_PATTERN = r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]*" + END
LABEL_NAME_HINT = (
    'use ASCII letters, digits and _, not starting with a digit or "__", which '
    "Prometheus reserves"
)
# Labels that the client libraries add to every sample of these metric types.
RESERVED_METRIC_LABELS = {MetricType.HISTOGRAM: "le", MetricType.SUMMARY: "quantile"}
ALERT_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9]*" + END
ALERT_NAME_HINT = "use ASCII letters and digits, starting with a letter"
# Alert labels that the generated rules set, with where their values come from.
DERIVED_ALERT_LABELS = {
    "severity": "the colour of the band (critical for red, warning for yellow)",
    "service": "the service key",
}
# The annotations of every derived alert, and what sets each.
DERIVED_ANNOTATIONS = {
    "summary": "the summary: key of the panel's alert",
    "description": "the description: key of the panel's alert",
    "dashboard_uid": "the dashboard's uid",
    "panel_id": "the panel's id",
    "dashboard_url": "grafana_url, the dashboard's uid and the panel's id",
}
PORT_MIN = 1
PORT_MAX = 65535
# A metrics path. Prometheus escapes a query or fragment into the path, so the
# target would return 404 for it.
METRICS_PATH_PATTERN = r"^/[^?#\x00-\x1f\x7f]*" + END
METRICS_PATH_HINT = (
    'start it with "/", such as /metrics, and give the path alone, without a query, '
    "fragment or control character"
)
# The largest integer that JSON and Prometheus keep exactly as a double, 2**53 - 1.
# Python's float() raises OverflowError for an integer above about 1.8e308. A
# panel's height in grid rows has no other maximum in Grafana.
MAX_INTEGER = 2**53 - 1

# The loader's own keyword, which editors ignore. It marks a node whose value rules
# (minimum, maximum, pattern, not, uniqueItems, minLength, maxLength) the model and
# the checks accept whatever the value. A manifest whose schema errors all break
# marked rules still loads, so its other checks run too. No type, enum, required or
# unknown key is marked, because later code relies on them.
LOADS = {"x-loads": True}

# A Go duration, as Go's time.ParseDuration reads it: an optional sign, then "0" or
# numbers with units in any order, such as 1m30s, 1.5h or 500ms.
GO_DURATION_PATTERN = (
    r"[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)"
)
# A dashboard's refresh, as Grafana saves it: "" for no refresh, "auto", a Go duration,
# or a count of days, weeks, months or years (gtime.ParseDuration in
# grafana-plugin-sdk-go). The check dashboard/refresh judges how long it is.
REFRESH_PATTERN = rf"^(|auto|{GO_DURATION_PATTERN}|[0-9]+[dwMy])" + END
REFRESH_HINT = 'write an interval such as 30s, 1m or 1h, "auto", or "" for no refresh'
# The start of a dashboard's default time range, relative to now.
TIME_PATTERN = r"^now(-[0-9]+[smhdwMy])?(/[smhdwMy])?" + END
TIME_HINT = "write a relative time such as now-6h, now-7d or now-1d/d"
TIMEZONE_HINT = (
    'write "browser", "utc", an IANA time zone such as Europe/Berlin, or "" for '
    "the viewer's own preference"
)

# Prometheus' grammar (model.ParseDuration): units in descending order, each at most
# once, so 1m1m and 30m1h are not durations.
DURATION_PATTERN = (
    r"^(?=[0-9])([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?"
    r"([0-9]+ms)?" + END
)
# A duration of 0s, such as 0, 0s or 0m0s. Prometheus rejects a zero scrape interval,
# scrape timeout or evaluation interval.
ZERO_DURATION_PATTERN = r"^(0|(0+(ms|s|m|h|d|w|y))+)" + END
DURATION = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "description": "A Prometheus duration such as 15s, 5m or 1h30m.",
    "x-hint": "write a Prometheus duration such as 15s, 5m or 1h30m",
    # The loader's own keyword, which editors ignore: the longest duration Prometheus
    # accepts, in milliseconds.
    "x-max-milliseconds": MAX_DURATION_MS,
}
SCRAPE_DURATION = {
    **DURATION,
    "allOf": [
        {
            "not": {"type": "string", "pattern": ZERO_DURATION_PATTERN},
            "x-hint": "it must be longer than 0s; leave it out to use the global "
            "setting",
            **LOADS,
        }
    ],
}
# A scrape job's name: Prometheus takes any text, and these characters keep it a
# plain word in URLs, host names and file names.
JOB_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_.-]*" + END
# A metric's label name. Only the "__" prefix rule is marked LOADS, because the
# instrumentation code generators rely on the characters. The prefix rule matches
# only names of valid characters, so a name such as "__a-b" gets one error.
METRIC_LABEL_NAME = {
    "type": "string",
    "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*" + END,
    "x-hint": LABEL_NAME_HINT,
    "allOf": [
        {
            "not": {"pattern": r"^__[a-zA-Z0-9_]*" + END},
            "x-hint": LABEL_NAME_HINT,
            **LOADS,
        }
    ],
}
STRING_LIST = {"type": "array", "items": {"type": "string"}}
COLOR = {
    "type": "string",
    "description": "A Grafana colour name, with or without a shade (red, dark-red, light-yellow, ...), a hex colour (#RGB, #RRGGBB, #RRGGBBAA) or rgb()/rgba().",
}


def _reserved_name(name: str, hint: str) -> dict[str, Any]:
    """Return the schema that rejects the key `name` with `hint`."""
    return {"not": {"const": name}, "x-hint": hint, **LOADS}


# Static labels of a scrape job that replace what Prometheus sets, and what that is.
# A `job` label replaces the scrape job's name, so every query that selects the job
# by name finds nothing.
RESERVED_TARGET_LABELS = {"job": "the scrape job's name"}
# A module name of a prober such as blackbox_exporter: no blank or control character.
PROBE_MODULE_PATTERN = r"^[^\s\x00-\x1f\x7f\x85\ufeff]+" + END

SCRAPE_JOB = {
    "type": "object",
    "additionalProperties": False,
    "required": ["job"],
    "properties": {
        "job": {
            "type": "string",
            "pattern": JOB_PATTERN,
            "x-hint": "use ASCII letters, digits, _, - and ., starting with a letter or _",
            "description": 'The scrape job_name; queries match it as job="...".',
        },
        "targets": {
            **STRING_LIST,
            "description": "host:port pairs; default <job>:<port>. Of a probe job, "
            "what the exporter probes, such as URLs.",
        },
        "probe": {
            "type": "object",
            "additionalProperties": False,
            "required": ["exporter", "module"],
            "properties": {
                "exporter": {
                    "type": "string",
                    "description": "host:port of the exporter that probes the "
                    "targets, such as blackbox_exporter.",
                },
                "module": {
                    "type": "string",
                    "pattern": PROBE_MODULE_PATTERN,
                    "description": "The exporter's module, such as http_2xx.",
                    "x-hint": "write a module name of the exporter, such as http_2xx, "
                    "without blanks or control characters",
                    **LOADS,
                },
            },
            "description": "Scrape an exporter's /probe once per target.",
        },
        "port": {
            "type": "integer",
            "minimum": PORT_MIN,
            "maximum": PORT_MAX,
            "description": "The port of the default target.",
            **LOADS,
        },
        "path": {
            "type": "string",
            "pattern": METRICS_PATH_PATTERN,
            "description": "The metrics path, default /metrics, or /probe for a "
            "probe job.",
            "x-hint": METRICS_PATH_HINT,
            **LOADS,
        },
        "interval": {
            **SCRAPE_DURATION,
            "description": "scrape_interval; default the global one.",
        },
        "timeout": {
            **SCRAPE_DURATION,
            "description": "scrape_timeout; at most the interval.",
        },
        "scheme": {"enum": ["http", "https"]},
        "honor_labels": {
            "type": "boolean",
            "description": "Keep the job and instance labels of the scraped series, "
            "as for a Pushgateway; default false.",
        },
        "labels": {
            "type": "object",
            "propertyNames": {
                "allOf": [
                    {"pattern": LABEL_NAME_PATTERN, "x-hint": LABEL_NAME_HINT, **LOADS},
                    *(
                        _reserved_name(
                            name,
                            f"it replaces {value}, so queries that select "
                            'job="..." find nothing; use another label name',
                        )
                        for name, value in RESERVED_TARGET_LABELS.items()
                    ),
                ]
            },
            "additionalProperties": {"type": "string"},
            "description": "Labels added to every target of the job.",
        },
    },
}

# A histogram's bucket upper bounds. A histogram without them gets its client
# library's default buckets.
BUCKETS = {"type": "array", "items": {"type": "number"}, "minItems": 1}

METRIC = {
    "anyOf": [
        {"enum": ["counter", "gauge", "histogram", "summary", "info"]},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {"enum": ["counter", "gauge", "histogram", "summary", "info"]},
                "help": {"type": "string"},
                "labels": {
                    "type": "array",
                    "items": METRIC_LABEL_NAME,
                    "uniqueItems": True,
                    **LOADS,
                },
                "buckets": BUCKETS,
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": str(kind)}}},
                    "then": {
                        "properties": {
                            "labels": {
                                "items": {
                                    "not": {"const": label},
                                    "x-hint": f"the client library adds {label} to "
                                    f"every {kind} sample",
                                    **LOADS,
                                }
                            }
                        }
                    },
                }
                for kind, label in RESERVED_METRIC_LABELS.items()
            ],
        },
    ],
    "description": "A metric type, or a mapping with type, help, labels and buckets.",
}

STEP = {
    "anyOf": [
        COLOR,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["color"],
            "properties": {"value": {"type": ["number", "string"]}, "color": COLOR},
        },
    ]
}

THRESHOLDS = {
    "anyOf": [
        {
            "type": "string",
            "description": 'Shorthand such as "<1% Green, 1-5% Yellow, >5% Red".',
        },
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "text": {
                    "type": "string",
                    "description": "Shorthand, as a string form.",
                },
                "unit": {
                    "type": "string",
                    "description": "Unit of bare numbers in steps (ms, s, %).",
                },
                "steps": {
                    "type": "array",
                    "items": STEP,
                    "minItems": 1,
                    "description": "Ascending steps; the first is the base and has no value.",
                },
                "series": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Per-series shorthand keyed by the series' display name.",
                },
                "mappings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["value", "color"],
                        "properties": {
                            "value": {"type": "number"},
                            "text": {"type": "string"},
                            "color": COLOR,
                        },
                    },
                },
            },
        },
    ]
}

ALERT_LABELS = {
    "type": "object",
    "propertyNames": {
        "allOf": [
            {"pattern": LABEL_NAME_PATTERN, "x-hint": LABEL_NAME_HINT, **LOADS},
            _reserved_name(
                "alertname",
                "Prometheus replaces it with the name of the alert; remove it",
            ),
            *(
                _reserved_name(
                    name,
                    f"it is set from {source}, so this value would be lost; route on "
                    'another label, such as "priority"',
                )
                for name, source in DERIVED_ALERT_LABELS.items()
            ),
        ]
    },
    "additionalProperties": {
        "type": "string",
        "minLength": 1,
        "x-hint": "Prometheus drops empty labels, so give it a value or remove it",
        **LOADS,
    },
}

ANNOTATIONS = {
    "type": "object",
    "propertyNames": {
        "allOf": [
            {"pattern": LABEL_NAME_PATTERN, "x-hint": LABEL_NAME_HINT, **LOADS},
            *(
                _reserved_name(
                    name,
                    f"it is set from {source}, so this value would be lost; "
                    + (
                        f"write it as {name}: under the panel's alert:"
                        if name in ("summary", "description")
                        else "use another name"
                    ),
                )
                for name, source in DERIVED_ANNOTATIONS.items()
            ),
        ]
    },
    "additionalProperties": {"type": "string"},
    "description": "More annotations of the alerts, such as runbook_url: Go templates "
    "like the summary.",
}

PANEL_ALERT = {
    "anyOf": [
        {"type": "boolean", "description": "false turns off alerts for this panel."},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "string",
                    "pattern": ALERT_NAME_PATTERN,
                    "x-hint": ALERT_NAME_HINT,
                },
                "for": DURATION,
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "warning": {
                    "type": "boolean",
                    "description": "Also alert on the yellow band, with severity warning.",
                },
                "labels": ALERT_LABELS,
                "annotations": ANNOTATIONS,
            },
        },
    ]
}

PANEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "query"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "type": {
            "enum": [t.value for t in PanelType],
            "description": "Default timeseries.",
            # Grafana's names of other panels, with what to write in their place.
            "x-aliases": {
                "graph": "timeseries",
                "singlestat": "stat",
                "bargauge": "gauge, or barchart for bars side by side",
                "table-old": "table",
                "grafana-piechart-panel": "piechart",
                "heatmap-new": "heatmap",
            },
        },
        "query": {
            "type": "string",
            "minLength": 1,
            "description": "PromQL, kept unchanged.",
        },
        "unit": {
            "type": "string",
            "description": "A Grafana unit id; derived when absent.",
        },
        "legend": {
            "type": "string",
            "description": "legendFormat; derived when absent.",
        },
        "thresholds": THRESHOLDS,
        "capacity": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": 'The 100% of a percentage-of-capacity threshold ("<80% pool").',
        },
        "stack": {"type": "boolean", "description": "Stack the series (timeseries)."},
        "color_mode": {
            "enum": ["value", "background", "background_solid", "none"],
            "description": "How a stat panel colours its value; background fills it.",
        },
        # Grafana pads a value to its decimals with the digits of String(10 ** n),
        # which JavaScript writes in exponent form from 10 ** 21 on.
        "decimals": {
            "type": "integer",
            "minimum": 0,
            "maximum": 20,
            "description": "Digits after the decimal point, at most 20.",
        },
        "min": {"type": "number"},
        "max": {"type": "number"},
        "width": {"type": "integer", "minimum": 1, "maximum": 24},
        "height": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_INTEGER,
            "x-hint": f"{MAX_INTEGER} is the largest integer that dashboards keep "
            "exactly",
        },
        "instant": {
            "type": "boolean",
            "description": "Query one instant, not a range.",
        },
        "record": {
            "type": "boolean",
            "description": "Record the query as a recording rule (true), or never (false).",
        },
        "alert": PANEL_ALERT,
    },
}

PANEL_OVERRIDE = {
    **PANEL,
    "required": ["title"],
    "description": "Changes the block's panel with this title, or adds a new panel.",
}

USE_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["use"],
    "properties": {
        "use": {"type": "string", "description": "The name of a building block."},
        "with": {"type": "object", "description": "The block's parameters."},
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array", "items": PANEL_OVERRIDE},
    },
}

BLOCK_USE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["use"],
    "properties": {
        "use": {"type": "string", "description": "The name of a metric-catalog block."},
        "with": {"type": "object"},
    },
}

ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array", "items": PANEL},
    },
}

DASHBOARD = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "uid": {
            "type": "string",
            "minLength": 1,
            "maxLength": UID_MAX,
            "pattern": UID_PATTERN,
            "description": f"At most {UID_MAX} characters of [A-Za-z0-9_-].",
            "x-hint": UID_HINT,
            **LOADS,
        },
        "title": {"type": "string"},
        "description": {"type": "string"},
        "tags": {
            "type": "array",
            "items": {
                "type": "string",
                "maxLength": TAG_MAX,
                "x-hint": f"Grafana's database keeps at most {TAG_MAX} characters of "
                "a tag, so saving the dashboard fails on MySQL and PostgreSQL",
                **LOADS,
            },
        },
        "folder": {"type": "string", "description": "Grafana folder title."},
        "refresh": {
            "type": "string",
            "pattern": REFRESH_PATTERN,
            "description": "How often Grafana reloads the dashboard: 30s, 1m, auto; "
            "empty for never.",
            "x-hint": REFRESH_HINT,
        },
        "time": {
            "type": "string",
            "pattern": TIME_PATTERN,
            "description": "Start of the default time range: now-6h.",
            "x-hint": TIME_HINT,
        },
        # The check dashboard/timezone looks the name up in the IANA time zone
        # database, which a pattern cannot do.
        "timezone": {
            "type": "string",
            "description": (
                "browser, utc, an IANA time zone such as Europe/Berlin, or empty for "
                "the viewer's time zone preference."
            ),
            "x-hint": TIMEZONE_HINT,
        },
        "id": {"description": "Ignored: Grafana assigns dashboard ids per instance."},
        "version": {"description": "Ignored: Grafana assigns versions on save."},
    },
}

MANIFEST: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "obscompile service manifest",
    "type": "object",
    "additionalProperties": False,
    "required": ["service"],
    "properties": {
        "service": {
            "type": "string",
            "minLength": 1,
            "maxLength": SERVICE_NAME_MAX,
            "description": "The service's name; output files are named after it, "
            f"so it has at most {SERVICE_NAME_MAX} characters.",
        },
        "service_key": {
            "type": "string",
            "maxLength": SERVICE_NAME_MAX,
            "pattern": SERVICE_KEY_PATTERN,
            "x-hint": SERVICE_KEY_HINT,
            "description": "ASCII key for file and group names when the name has none.",
        },
        "title": {"type": "string"},
        "description": {"type": "string"},
        "runtime": {"enum": ["python", "nodejs"], "description": "The client library."},
        "dashboard": DASHBOARD,
        "scrape": {"anyOf": [SCRAPE_JOB, {"type": "array", "items": SCRAPE_JOB}]},
        "alerts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "for": DURATION,
                "labels": ALERT_LABELS,
                "annotations": ANNOTATIONS,
            },
        },
        "metrics": {
            "type": "object",
            "propertyNames": {
                "pattern": METRIC_NAME_PATTERN,
                "x-hint": METRIC_NAME_HINT,
            },
            "additionalProperties": METRIC,
        },
        "metric_blocks": {
            "type": "array",
            "items": BLOCK_USE,
            "description": "Metric-catalog blocks whose metrics join the catalog.",
        },
        "rows": {
            "type": "array",
            "items": {"anyOf": [ROW, USE_ROW]},
            "description": "Rows, written out or produced by a building block (use:).",
        },
    },
}
