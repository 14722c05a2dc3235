"""Import a generated metrics.py, observe a value on each metric and report the result.

Usage: python python_driver.py METRICS_PY PLAN_JSON

The plan is a JSON list with one entry per metric: its constant name (`identifier`),
its `type`, the label values to use (`labels`) and, for info metrics, the info values
(`info`). Counters get inc(2), gauges set(3), histograms observe(0.07), summaries
observe(0.3). The script prints one JSON object: the registry's exposition from
generate_latest, the exposition that start_metrics_server serves on 127.0.0.1, that
response's Content-Type, and the names that the module defines.
"""

import importlib.util
import json
import sys
import urllib.request

import prometheus_client


def main() -> None:
    path, plan = sys.argv[1], json.loads(sys.argv[2])
    spec = importlib.util.spec_from_file_location("generated_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    for entry in plan:
        metric = getattr(module, entry["identifier"])
        if entry["labels"]:
            metric = metric.labels(**entry["labels"])
        kind = entry["type"]
        if kind == "counter":
            metric.inc(2)
        elif kind == "gauge":
            metric.set(3)
        elif kind == "histogram":
            metric.observe(0.07)
        elif kind == "summary":
            metric.observe(0.3)
        elif kind == "info":
            metric.info(entry["info"])
        else:
            raise ValueError(f"unknown metric type {kind!r} in the plan")

    latest = prometheus_client.generate_latest(module.registry).decode()

    server, _thread = module.start_metrics_server(0, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            served = response.read().decode()
            content_type = response.headers["Content-Type"]
    finally:
        server.shutdown()
        server.server_close()

    report = {
        "latest": latest,
        "served": served,
        "content_type": content_type,
        "names": sorted(vars(module)),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
