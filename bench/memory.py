"""Sample the memory of a build and all its worker processes together.

`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, which `bench/run.py` reports, is the
peak of the largest single process. A build with workers runs several processes at
once, so this script samples the proportional set size (PSS) of the build and its
descendants from `/proc/<pid>/smaps_rollup` every half second and prints the largest
sum. PSS shares each page among the processes that map it, so forked workers are not
counted twice for the pages they share with the build. Linux only.

    python bench/memory.py PROJECT [obscompile build options...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

INTERVAL = 0.5


def descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found.extend(descendants(int(child)))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """Return the PSS and RSS of one process in KiB, or zeros once it is gone."""
    pss = rss = 0
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
    return pss, rss


def main(arguments: list[str]) -> int:
    if arguments[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if not arguments or arguments[0].startswith("-"):
        print("usage: " + __doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    project, options = arguments[0], arguments[1:]
    command = [sys.executable, "-m", "obscompile", "build", "--project", project]
    environment = {**os.environ, "CI": "1"}
    process = subprocess.Popen(
        [*command, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )
    peak = (0, 0, 0)
    while process.poll() is None:
        pids = descendants(process.pid)
        samples = [memory_kib(pid) for pid in pids]
        total = (sum(s[0] for s in samples), sum(s[1] for s in samples), len(pids))
        if total[0] > peak[0]:
            peak = total
        time.sleep(INTERVAL)
    pss, rss, count = peak
    print(
        f"peak PSS of the build and its workers: {pss / 1024:.0f} MiB "
        f"({count} processes; their RSS added up: {rss / 1024:.0f} MiB); "
        f"exit code {process.returncode}"
    )
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
