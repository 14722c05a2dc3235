"""Record synthetic traffic on a generated metrics.py and serve it on 127.0.0.1.

Usage: python python_traffic.py METRICS_PY PROFILE_JSON PORT

The profile is a JSON object with the entries `normal` and `fault` and the tick
length `tick_seconds`. Each entry names a metric by the Python identifier of the
generated module (`identifier`), its label values (`labels`) and one action: `inc`,
`set`, `observe` (a list of values) or `info` (a mapping). Every tick records the
normal entries, then the fault entries once the process has received SIGUSR2.
The process serves /metrics with the module's own start_metrics_server and runs
until it is terminated.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("generated_metrics", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(module: ModuleType, entry: dict[str, Any]) -> None:
    metric = getattr(module, entry["identifier"])
    if entry["labels"]:
        metric = metric.labels(**entry["labels"])
    if "inc" in entry:
        metric.inc(entry["inc"])
    elif "set" in entry:
        metric.set(entry["set"])
    elif "observe" in entry:
        for value in entry["observe"]:
            metric.observe(value)
    elif "info" in entry:
        metric.info(entry["info"])
    else:
        raise ValueError(f"entry for {entry['identifier']} has no action: {entry}")


def main() -> None:
    metrics_py, profile_json, port = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    module = load_module(metrics_py)
    profile = json.loads(profile_json.read_text(encoding="utf-8"))
    fault = threading.Event()

    def start_fault(signum: int, frame: FrameType | None) -> None:
        fault.set()

    signal.signal(signal.SIGUSR2, start_fault)
    # Record one tick before serving, so that the first scrape returns every series.
    for entry in profile["normal"]:
        record(module, entry)
    module.start_metrics_server(int(port), addr="127.0.0.1")
    print(f"READY {port}", flush=True)
    faulted = False
    while True:
        time.sleep(profile["tick_seconds"])
        entries = profile["normal"] + (profile["fault"] if fault.is_set() else [])
        for entry in entries:
            record(module, entry)
        if fault.is_set() and not faulted:
            faulted = True
            print("FAULT recorded", flush=True)


if __name__ == "__main__":
    main()
