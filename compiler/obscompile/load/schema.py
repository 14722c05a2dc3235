"""The JSON Schema of a service manifest.

The same schema validates manifests in the loader and is what `obscompile schema`
prints for editors (for example the YAML language server's `$schema` comment).
"""

from __future__ import annotations

from typing import Any

from obscompile.load.durations import MAX_DURATION_MS
from obscompile.load.patterns import END
from obscompile.model.panel import PanelType

SCHEMA_ID = "https://obscompile.dev/schema/manifest.json"
# Output file names start with the service's name, and a file name has at most 255
# bytes on the usual Linux file systems.
SERVICE_NAME_MAX = 100

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

DURATION = {
    "type": "string",
    # Prometheus' grammar (model.ParseDuration): units in descending order, each at
    # most once, so 1m1m and 30m1h are not durations.
    "pattern": (
        r"^(?=[0-9])([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?"
        r"([0-9]+ms)?" + END
    ),
    "description": "A Prometheus duration such as 15s, 5m or 1h30m.",
    "x-hint": "write a Prometheus duration such as 15s, 5m or 1h30m",
    # The loader's own keyword, which editors ignore: the longest duration Prometheus
    # accepts, in milliseconds.
    "x-max-milliseconds": MAX_DURATION_MS,
}
# A scrape job's name: Prometheus takes any text, and these characters keep it a
# plain word in URLs, host names and file names.
JOB_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_.-]*" + END
NAME = {
    "type": "string",
    "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*" + END,
    "x-hint": "use ASCII letters, digits and _, not starting with a digit",
}
STRING_LIST = {"type": "array", "items": {"type": "string"}}
COLOR = {
    "type": "string",
    "description": "A Grafana colour name, with or without a shade (red, dark-red, light-yellow, ...), a hex colour (#RGB, #RRGGBB, #RRGGBBAA) or rgb()/rgba().",
}

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
                    "description": "The exporter's module, such as http_2xx.",
                },
            },
            "description": "Scrape an exporter's /probe once per target.",
        },
        "port": {"type": "integer", "description": "The port of the default target."},
        "path": {
            "type": "string",
            "description": "The metrics path, default /metrics, or /probe for a "
            "probe job.",
        },
        "interval": {
            **DURATION,
            "description": "scrape_interval; default the global one.",
        },
        "timeout": {**DURATION, "description": "scrape_timeout; at most the interval."},
        "scheme": {"enum": ["http", "https"]},
        "honor_labels": {
            "type": "boolean",
            "description": "Keep the job and instance labels of the scraped series, "
            "as for a Pushgateway; default false.",
        },
        "labels": {
            "type": "object",
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
                "labels": {"type": "array", "items": NAME},
                "buckets": BUCKETS,
            },
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

ANNOTATIONS = {
    "type": "object",
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
                    "pattern": r"^[A-Za-z][A-Za-z0-9]*" + END,
                    "x-hint": "use ASCII letters and digits, starting with a letter",
                },
                "for": DURATION,
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "warning": {
                    "type": "boolean",
                    "description": "Also alert on the yellow band, with severity warning.",
                },
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
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
        "height": {"type": "integer", "minimum": 1},
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
            "description": "At most 40 characters of [A-Za-z0-9_-].",
        },
        "title": {"type": "string"},
        "description": {"type": "string"},
        "tags": STRING_LIST,
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
            "pattern": r"^[a-z0-9][a-z0-9_-]*" + END,
            "x-hint": "use lowercase ASCII letters, digits, _ and -, starting with a letter or digit",
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
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "annotations": ANNOTATIONS,
            },
        },
        "metrics": {
            "type": "object",
            "propertyNames": {
                "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*" + END,
                "x-hint": "a metric name uses ASCII letters, digits, _ and :, not starting with a digit",
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
