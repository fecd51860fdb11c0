"""Dependency-injection costs, as ratios to doing the same work by hand in the same run.

    python bench/bench_di.py [--modules 400] [--runs 7]

1. `pdi.get` of a singleton, against constructing the object directly (target <= 0.5 us).
2. `pdi.get` of a six-object transient graph, against writing the constructors out (target <= 3x).
3. `Pdi()` cold start for a generated application of N modules, each in a fresh process, against
   importing the same modules by hand in a fresh process (target <= 80 ms).
Peak memory: tracemalloc peak for 1 and 2, max RSS of the fresh processes for 3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import timeit
import tracemalloc
from pathlib import Path

from pdip import Pdi
from pdip.dependency import ISingleton


class Settings(ISingleton):
    pass


class Clock:
    pass


class Ledger:
    def __init__(self, clock: Clock):
        self.clock = clock


class Pricing:
    def __init__(self, settings: Settings, clock: Clock):
        self.settings, self.clock = settings, clock


class Inventory:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger


class Checkout:
    def __init__(self, pricing: Pricing, inventory: Inventory, clock: Clock):
        self.pricing, self.inventory, self.clock = pricing, inventory, clock


def by_hand(settings: Settings) -> Checkout:
    """The same six objects Checkout's graph makes, written out."""
    return Checkout(Pricing(settings, Clock()), Inventory(Ledger(Clock())), Clock())


def per_call_us(function, number: int) -> float:
    best = min(timeit.repeat(function, number=number, repeat=5))
    return best / number * 1e6


def in_process(number: int) -> dict:
    with Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-bench-")) as pdi:
        settings = pdi.get(Settings)
        get = pdi.get
        figures = {
            "construct_singleton_us": per_call_us(Settings, number),
            "get_singleton_us": per_call_us(lambda: get(Settings), number),
            "graph_by_hand_us": per_call_us(lambda: by_hand(settings), number),
            "graph_get_us": per_call_us(lambda: get(Checkout), number),
        }
        tracemalloc.start()  # after timing: tracing slows every allocation
        for _ in range(10_000):
            get(Checkout)
        figures["peak_kib"] = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
    return figures


def generate_application(root: Path, modules: int) -> list[str]:
    """An application of `modules` modules: services with dependencies, configs, plain modules
    and scripts, in packages of 20 modules; returns the dotted names of the modules that declare
    services or sections (the ones discovery must import)."""
    (root / "application.yml").write_text("".join(f"SECTION{i}:\n  VALUE: {i}\n" for i in range(0, modules, 10)))
    names = []
    for index in range(modules):
        package = root / "shop" / f"area{index // 20}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
        name = f"module{index}"
        kind = index % 10
        if kind == 0:
            source = (
                "from pdip.configuration import BaseConfig\n\n"
                f"class Section{index}Config(BaseConfig):\n    value: int = 0\n"
            )
        elif kind in (1, 2, 3, 4, 5):
            base = "ISingleton" if kind % 2 else "IScoped"
            source = (
                f"from pdip.dependency import {base}\n\n"
                f"class Service{index}({base}):\n    def run(self):\n        return {index}\n"
            )
            if kind == 3 and index > 10:
                dependency = index - 2
                source = (
                    f"from pdip.dependency import ISingleton\nfrom shop.area{dependency // 20}.module{dependency} "
                    f"import Service{dependency}\n\nclass Service{index}(ISingleton):\n"
                    f"    def __init__(self, other: Service{dependency}):\n        self.other = other\n"
                )
        elif kind in (6, 7, 8):
            source = f"def helper{index}(value):\n    return value * {index}\n\nCONSTANT_{index} = {index}\n"
        else:
            source = f"import sys\nprint('script {index} must not run')\nsys.exit(3)\n"
        (package / f"{name}.py").write_text(source)
        if kind <= 5:
            names.append(f"shop.area{index // 20}.{name}")
    return names


_COLD_START = """
import json, resource, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
print(json.dumps({{"ms": elapsed * 1000, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def _environment(root: Path) -> dict:
    """Bytecode caching on, as in a deployment (some shells set PYTHONDONTWRITEBYTECODE)."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPATH"] = str(root)
    return environment


def fresh_process(body: str, root: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _COLD_START.format(body=body)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env=_environment(root),
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def cold_start(modules: int, runs: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="pdip-bench-app-"))
    try:
        names = generate_application(root, modules)
        imports = "import importlib\n" + "".join(f"importlib.import_module({name!r})\n" for name in names)
        pdi = f"from pdip import Pdi\npdi = Pdi(root_directory={str(root)!r})"
        fresh_process(pdi, root)  # warm the file-system cache and write .pyc files once
        by_hand = [fresh_process(imports, root) for _ in range(runs)]
        with_pdi = [fresh_process(pdi, root) for _ in range(runs)]
        pdip_alone = [fresh_process("from pdip import Pdi", root) for _ in range(runs)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "imports_by_hand_ms": statistics.median(run["ms"] for run in by_hand),
        "pdi_ms": statistics.median(run["ms"] for run in with_pdi),
        "import_pdip_ms": statistics.median(run["ms"] for run in pdip_alone),
        "application_modules": len(names),
        "pdi_rss_kib": max(run["rss_kib"] for run in with_pdi),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=400)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--number", type=int, default=200_000)
    arguments = parser.parse_args()

    hot = in_process(arguments.number)
    cold = cold_start(arguments.modules, arguments.runs)
    singleton_ratio = hot["get_singleton_us"] / hot["construct_singleton_us"]
    graph_ratio = hot["graph_get_us"] / hot["graph_by_hand_us"]
    cold_ratio = cold["pdi_ms"] / cold["imports_by_hand_ms"]
    report(
        "pdi.get(singleton)",
        f"{hot['get_singleton_us']:.3f} us",
        f"{singleton_ratio:.2f}x direct construction ({hot['construct_singleton_us']:.3f} us)",
        "target <= 0.5 us",
    )
    report(
        "pdi.get(6-object graph)",
        f"{hot['graph_get_us']:.3f} us",
        f"{graph_ratio:.2f}x by hand ({hot['graph_by_hand_us']:.3f} us)",
        "target <= 3x",
    )
    report(
        f"Pdi() cold, {arguments.modules} modules",
        f"{cold['pdi_ms']:.1f} ms",
        f"{cold_ratio:.2f}x importing its {cold['application_modules']} service modules by hand "
        f"({cold['imports_by_hand_ms']:.1f} ms)",
        "target <= 80 ms",
    )
    report("  `from pdip import Pdi` alone", f"{cold['import_pdip_ms']:.1f} ms", "", "")
    report(
        "peak memory",
        f"{hot['peak_kib']:.0f} KiB",
        f"traced while resolving; {cold['pdi_rss_kib'] / 1024:.1f} MiB max RSS of a cold-start process",
        "",
    )


def report(what: str, figure: str, ratio: str, target: str) -> None:
    print(f"{what:<32} {figure:>10}   {ratio}   {target}".rstrip())


if __name__ == "__main__":
    main()
