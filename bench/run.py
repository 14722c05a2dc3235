"""Measure obscompile builds and a grafanalib baseline, and check the targets.

Every measurement is a fresh process: `python bench/run.py measure CMD...` starts the
command, takes its wall time with `time.perf_counter` (interpreter start included)
and its peak memory from `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`, which holds
only that command because the measuring process has no other child. The same call
gives its processor time, user and system, with that of the workers it waited for:
a build with workers takes more processor time than wall time, while grafanalib
runs in one process. Each figure is the median of several runs. The targets read
the wall times. The table goes to stdout and the figures, with the
machine they were taken on, to `bench/results.json`.

    python bench/run.py            # the four real services, N = 10, 100, 1000, and
                                   # `obscompile test` of one 200-panel service
    python bench/run.py --quick    # N = 10 only, one run each
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import workload  # noqa: E402

PANELS = 30
SIZES = (10, 100, 1000)
# Panels of the one service whose `obscompile test` is measured, about 120 alerts.
TEST_PANELS = 200
# Two figures that put the others in proportion to the machine: starting Python, and
# importing every module that a build from scratch needs.
PYTHON = [sys.executable, "-c", "pass"]
IMPORT = [
    sys.executable,
    "-c",
    "import obscompile.pipeline, obscompile.load.project, obscompile.derive.local, "
    "obscompile.dsl",
]
QUICK_SIZES = (10,)
# From this many services on, a measurement takes `--runs-large` runs.
LARGE = 1000
# A measurement that runs longer than this is stopped and reported as timed out.
TIMEOUT = 900.0
GIB = 1024**3


@dataclass
class Measurement:
    name: str
    command: list[str]
    runs_s: list[float] = field(default_factory=list)
    # The processor time of each run, user and system, its workers included.
    processor_s: list[float] = field(default_factory=list)
    max_rss_bytes: int = 0
    timed_out: bool = False
    failed: str | None = None

    @property
    def median_s(self) -> float | None:
        return (
            statistics.median(self.runs_s) if self.runs_s and not self.failed else None
        )

    @property
    def median_processor_s(self) -> float | None:
        if not self.processor_s or self.failed:
            return None
        return statistics.median(self.processor_s)


@dataclass
class Target:
    name: str
    value: float | None
    limit: float
    unit: str

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit


def measure_child(command: list[str], timeout: float) -> None:
    """Run `command` as this process's only child; print its time and peak RSS."""
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout
        )
        error = (
            completed.stderr.decode("utf-8", "replace")[-2000:]
            if completed.returncode
            else None
        )
        timed_out = False
    except subprocess.TimeoutExpired:
        error, timed_out = None, True
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Linux reports ru_maxrss in KiB. The times include the processes that the child
    # waited for, such as a build's workers.
    peak = usage.ru_maxrss * 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "processor_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss": peak,
                "timed_out": timed_out,
                "error": error,
            }
        )
    )


def run_once(command: list[str], timeout: float) -> dict:
    measurer = [
        sys.executable,
        str(Path(__file__).resolve()),
        "measure",
        str(timeout),
        "--",
    ]
    completed = subprocess.run(
        measurer + command, capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def measure(
    name: str,
    command: list[str],
    runs: int,
    timeout: float,
    before: Callable[[], None] | None = None,
) -> Measurement:
    """Run `command` `runs` times, calling `before()` ahead of each run."""
    result = Measurement(name, command)
    for _ in range(runs):
        if before is not None:
            before()
        outcome = run_once(command, timeout)
        result.max_rss_bytes = max(result.max_rss_bytes, outcome["max_rss"])
        if outcome["timed_out"]:
            result.timed_out = True
            result.failed = f"timed out after {timeout:.0f} s"
            break
        if outcome["error"]:
            result.failed = outcome["error"].strip().splitlines()[-1]
            break
        result.runs_s.append(outcome["seconds"])
        result.processor_s.append(outcome["processor_seconds"])
    status = result.failed or f"{result.median_s:.3f} s"
    print(f"  {name}: {status}", file=sys.stderr, flush=True)
    return result


def snapshot_compiler(work: Path) -> Path:
    """Copy the compiler and its templates into `work/src` and run every build from it.

    Edits to the checkout during a run then change neither the measured code nor the
    compiler digest that keys the build cache. The copy is byte-compiled, as pip
    does when it installs a wheel, so that no build compiles the modules from their
    source, even where PYTHONDONTWRITEBYTECODE keeps Python from saving bytecode.
    Every build keeps its compiled templates in `work/user-cache`, not in the
    user's own cache folder.
    """
    source = work / "src"
    shutil.rmtree(source, ignore_errors=True)
    package = source / "obscompile"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "compiler" / "obscompile", package, ignore=ignore)
    shutil.copytree(REPO / "templates", package / "templates", ignore=ignore)
    if not compileall.compile_dir(package, quiet=1):
        raise SystemExit(f"cannot byte-compile the compiler copied to {package}")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(source), os.environ.get("PYTHONPATH")])
    )
    os.environ["XDG_CACHE_HOME"] = str(work / "user-cache")
    return source


def obscompile(project: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "obscompile",
        "build",
        "--project",
        str(project),
        *extra,
    ]


def obscompile_test(project: Path) -> list[str]:
    return [sys.executable, "-m", "obscompile", "test", "--project", str(project)]


def clean(project: Path) -> Callable[[], None]:
    """Return a function that removes a project's output and cache, for a cold build."""

    def remove() -> None:
        shutil.rmtree(project / "out", ignore_errors=True)
        shutil.rmtree(project / ".obscompile-cache", ignore_errors=True)

    return remove


def first_build(project: Path, work: Path) -> list[str]:
    """Return a cold build of `project` that also starts without compiled templates.

    The build keeps its compiled templates in a user cache folder of its own, which
    the function from `clean_all` empties before each run.
    """
    folder = work / "first-user-cache"
    return ["env", f"XDG_CACHE_HOME={folder}", *obscompile(project)]


def clean_all(project: Path, work: Path) -> Callable[[], None]:
    """Return a function that also removes the compiled templates of `first_build`."""
    remove = clean(project)

    def remove_all() -> None:
        remove()
        shutil.rmtree(work / "first-user-cache", ignore_errors=True)

    return remove_all


def real_project(work: Path) -> Path:
    """Copy the repository's services and configuration into a scratch project."""
    project = work / "real"
    # A folder kept by `--work` from an earlier run is replaced.
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(REPO / "services", project / "services")
    for name in ("obscompile.yaml", "blocks", "templates"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        elif source.is_file():
            shutil.copy2(source, project / name)
    return project


def synthetic_project(work: Path, services: int, panels: int) -> Path:
    return workload.write_project(work / f"n{services}", services, panels)


def editor(project: Path, services: int) -> Callable[[], None]:
    """Return a function that changes one panel description of one service per call."""
    counter = {"value": 0}
    path = project / "services" / f"{workload.service_name(services // 2 or 1)}.yaml"
    original = path.read_text(encoding="utf-8")
    marker = "description: 'Rate of login attempts'"
    if marker not in original:
        raise SystemExit(f"{path}: cannot find {marker!r} to edit")

    def edit() -> None:
        counter["value"] += 1
        changed = original.replace(
            marker, f"description: 'Rate of login attempts, edit {counter['value']}'"
        )
        path.write_text(changed, encoding="utf-8")

    return edit


def dashboards_only_project(work: Path, source: Path) -> Path:
    """Return a project that builds only the grafana target of `source`'s services."""
    project = work / f"{source.name}-grafana"
    project.mkdir(exist_ok=True)
    (project / "obscompile.yaml").write_text("targets: [grafana]\n", encoding="utf-8")
    return project


def grafanalib_available() -> bool:
    check = [sys.executable, "-c", "import grafanalib"]
    return subprocess.run(check, capture_output=True).returncode == 0


# The figures file, relative to the repository, which each full run rewrites.
RESULTS_PATH = "bench/results.json"


def source_version() -> str:
    """Return the commit the benchmarks ran on, marked when the tree had changes.

    The figures of an earlier run in `bench/results.json` change no measurement, so
    they do not count as a change.
    """
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    status = subprocess.run(
        [*git, "status", "--porcelain", "--", ".", f":(exclude){RESULTS_PATH}"],
        capture_output=True,
        text=True,
    )
    if commit.returncode:
        return "unknown"
    return commit.stdout.strip() + (
        " with uncommitted changes" if status.stdout else ""
    )


def machine() -> dict:
    return {
        "source": source_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


def run(args: argparse.Namespace) -> dict:
    """Take every measurement; rewrite `args.json` after each one."""
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(args.sizes)
    largest = max(sizes)
    started = machine()
    measurements: dict[str, Measurement] = {}

    def runs_for(size: int) -> int:
        if args.quick:
            return 1
        return args.runs_large if size >= LARGE else args.runs

    def take(key: str, name: str, command: list[str], runs: int, before=None) -> None:
        measurements[key] = measure(name, command, runs, args.timeout, before)
        if args.json is not None:
            write_results(args.json, results_of(args, sizes, measurements, started))

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"obscompile benchmarks in {work}", file=sys.stderr)
    snapshot_compiler(work)
    try:
        take("python", "interpreter start (python -c pass)", PYTHON, runs_for(1))
        take("import", "importing every stage", IMPORT, runs_for(1))
        real = real_project(work)
        take(
            "real-first",
            "real services, cold, templates not compiled",
            first_build(real, work),
            runs_for(1),
            clean_all(real, work),
        )
        command = obscompile(real)
        take("real", "real services, cold build", command, runs_for(1), clean(real))
        if shutil.which("promtool"):
            panels = args.panels if args.quick else args.test_panels
            tested = workload.write_project(work / f"test-{panels}", 1, panels)
            subprocess.run(obscompile(tested), check=True, capture_output=True)
            name = f"1 x {panels} obscompile test"
            take("test-1", name, obscompile_test(tested), runs_for(1))
        else:
            print("  promtool is missing: apt-get install prometheus", file=sys.stderr)
        projects = {}
        for size in sizes:
            project = synthetic_project(work, size, args.panels)
            projects[size] = project
            name = f"{size} x {args.panels} full build"
            runs = runs_for(size)
            take(f"full-{size}", name, obscompile(project), runs, clean(project))
        big = projects[largest]
        prefix = f"{largest} x {args.panels}"
        incremental = args.runs_incremental or runs_for(largest)
        if not measurements[f"full-{largest}"].failed:
            name = f"{prefix} nothing changed"
            take(f"noop-{largest}", name, obscompile(big), incremental)
            take(
                f"one-{largest}",
                f"{prefix} one service changed",
                obscompile(big),
                incremental,
                editor(big, largest),
            )
        if grafanalib_available():
            dest = work / "grafanalib"
            command = [sys.executable, str(BENCH / "grafanalib_build.py"), str(dest)]
            command += ["--services", str(largest), "--panels", str(args.panels)]
            take(
                f"grafanalib-{largest}",
                f"{prefix} grafanalib, dashboards only",
                command,
                runs_for(largest),
                lambda: shutil.rmtree(dest, ignore_errors=True),
            )
        else:
            print("  grafanalib is missing: pip install -e '.[bench]'", file=sys.stderr)
        dashboards = dashboards_only_project(work, big)
        take(
            f"grafana-{largest}",
            f"{prefix} obscompile, dashboards only",
            obscompile(dashboards, "--services", str(big / "services")),
            runs_for(largest),
            clean(dashboards),
        )
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    results = results_of(args, sizes, measurements, started)
    print_table(measurements, results["targets"])
    return results


def write_results(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _ratio(
    numerator: Measurement | None, denominator: Measurement | None
) -> float | None:
    if numerator is None or denominator is None:
        return None
    if numerator.median_s is None or denominator.median_s is None:
        return None
    return numerator.median_s / denominator.median_s


def _peak_gib(measurement: Measurement | None) -> float | None:
    """Return the peak memory of a finished measurement; a stopped one has none."""
    if measurement is None or measurement.failed:
        return None
    return measurement.max_rss_bytes / GIB


def targets(
    measurements: dict[str, Measurement], sizes: tuple[int, ...]
) -> list[Target]:
    largest = max(sizes)
    get = measurements.get
    found = [
        Target(
            "real services, cold build", get("real") and get("real").median_s, 1.0, "s"
        ),
        Target(
            f"{largest} full build / grafanalib",
            _ratio(get(f"full-{largest}"), get(f"grafanalib-{largest}")),
            1.0,
            "ratio",
        ),
        Target(
            f"{largest} full build peak memory",
            _peak_gib(get(f"full-{largest}")),
            1.0,
            "GiB",
        ),
        Target(
            f"{largest} one service changed",
            get(f"one-{largest}") and get(f"one-{largest}").median_s,
            1.0,
            "s",
        ),
        Target(
            f"{largest} nothing changed",
            get(f"noop-{largest}") and get(f"noop-{largest}").median_s,
            0.5,
            "s",
        ),
    ]
    if 100 in sizes and 1000 in sizes:
        found.append(
            Target(
                "1000 / 100 full build",
                _ratio(get("full-1000"), get("full-100")),
                11.0,
                "ratio",
            )
        )
    return found


def results_of(
    args: argparse.Namespace,
    sizes: tuple[int, ...],
    measurements: dict[str, Measurement],
    started: dict,
) -> dict:
    largest = max(sizes)
    results = {
        "script": "bench/run.py",
        "arguments": sys.argv[1:],
        "machine": started | {"load_average_after": list(os.getloadavg())},
        "panels": args.panels,
        "sizes": list(sizes),
        "measurements": {
            key: asdict(m)
            | {"median_s": m.median_s, "median_processor_s": m.median_processor_s}
            for key, m in measurements.items()
        },
        "ratios": {
            "dashboards_only_over_grafanalib": _ratio(
                measurements.get(f"grafana-{largest}"),
                measurements.get(f"grafanalib-{largest}"),
            ),
        },
        "targets": [asdict(t) | {"met": t.met} for t in targets(measurements, sizes)],
    }
    return results


def print_table(measurements: dict[str, Measurement], found: list[dict]) -> None:
    print(
        f"{'measurement':<48} {'median':>10} {'processor':>10} {'runs':>5} "
        f"{'peak RSS':>10}"
    )
    for m in measurements.values():
        median = m.failed or f"{m.median_s:.3f} s"
        processor = "" if m.failed else f"{m.median_processor_s:.3f} s"
        rss = m.max_rss_bytes / 2**20
        print(
            f"{m.name:<48} {median:>10} {processor:>10} {len(m.runs_s):>5} "
            f"{rss:>7.0f} MiB"
        )
    print()
    print(f"{'target':<48} {'value':>10} {'limit':>10}  met")
    for t in found:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        met = {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        print(f"{t['name']:<48} {value:>10} {t['limit']:>7} {t['unit']:<5} {met}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "measure":
        measure_child(sys.argv[4:], float(sys.argv[2]))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="N = 10 only, one run each"
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        help="numbers of services [default: 10 100 1000]",
    )
    parser.add_argument("--panels", type=int, default=PANELS, help="panels per service")
    parser.add_argument(
        "--test-panels",
        type=int,
        default=TEST_PANELS,
        help="panels of the one service whose `obscompile test` is measured "
        "[default: %(default)s, and --panels with --quick]",
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per measurement below N = 1000"
    )
    parser.add_argument(
        "--runs-large", type=int, default=3, help="runs per measurement from N = 1000"
    )
    parser.add_argument(
        "--runs-incremental",
        type=int,
        help="runs of the nothing-changed and one-changed builds [default: as above]",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help="seconds after which a run is stopped and reported as timed out",
    )
    parser.add_argument(
        "--work",
        help="folder that keeps the generated projects [default: a temporary one]",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the figures [default: bench/results.json, and "
        "nowhere with --quick]",
    )
    args = parser.parse_args()
    if args.json is None and not args.quick:
        args.json = REPO / RESULTS_PATH

    results = run(args)
    if args.json is not None:
        write_results(args.json, results)
        print(f"\nfigures written to {args.json}", file=sys.stderr)
    failed = [key for key, found in results["measurements"].items() if found["failed"]]
    if failed:
        print(f"failed or timed out: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
