"""Uploads and downloads through pdip's data endpoints against copying the same file on disk,
in the same run, with peak memory.

    python bench/bench_storage.py [--mib 50] [--rounds 3] [--postgres URL]

For each store (a folder; chunks in SQLite; chunks in PostgreSQL when --postgres is given) a
file of --mib MiB is PUT through the API (Flask's test client, the body streamed from disk) and
GOT back, streamed into a hash. The baseline is `shutil.copyfile` of the same file, both ways,
on the same disk. Printed: seconds of the fastest round, the ratio to the baseline, and the
peak of Python's allocations (tracemalloc) during the upload and the download.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

from pdip import Pdi
from pdip.api import ApiApp

MIB = 1_048_576


def make_file(path: Path, size: int) -> None:
    block = bytes(range(256)) * 4096
    with open(path, "wb") as file:
        for start in range(0, size, len(block)):
            file.write(block[: min(len(block), size - start)])


def baseline(source: Path, folder: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, folder / "copy.bin")
    shutil.copyfile(folder / "copy.bin", folder / "back.bin")
    return time.perf_counter() - started


def through_api(client, store: str, source: Path) -> tuple[float, int, int]:
    tracemalloc.start()
    started = time.perf_counter()
    with open(source, "rb") as body:
        uploaded = client.put(f"/api/data/{store}/bench.bin", input_stream=body)
    assert uploaded.status_code in (200, 201), uploaded.get_data(as_text=True)
    _, peak_in = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    response = client.get(f"/api/data/{store}/bench.bin", buffered=False)
    hasher = hashlib.sha256()
    for chunk in response.response:
        hasher.update(chunk)
    response.close()
    seconds = time.perf_counter() - started
    _, peak_out = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak_in, peak_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="a SQLAlchemy URL of a PostgreSQL database to bench too")
    options = parser.parse_args()
    size = options.mib * MIB
    with tempfile.TemporaryDirectory(prefix="pdip-bench-storage-") as folder:
        root = Path(folder)
        source = root / "source.bin"
        make_file(source, size)
        stores = {
            "folder": {"KIND": "directory", "PATH": "items"},
            "sqlite": {"KIND": "chunks", "URL": f"sqlite:///{root}/items.db"},
        }
        if options.postgres:
            stores["postgres"] = {"KIND": "chunks", "URL": options.postgres}
        configuration = {"CQRS": {"LOGGING": False}, "STORAGE": {"MAX_ITEM_BYTES": size, "STORES": stores}}
        with Pdi(root_directory=root, configurations=configuration) as pdi:
            client = pdi.get(ApiApp).test_client()
            for store in stores:  # lazy imports and first connections happen before measuring
                client.put(f"/api/data/{store}/warm-up.txt", data=b"warm-up")
                client.get(f"/api/data/{store}/warm-up.txt")
            copy = min(baseline(source, root) for _ in range(options.rounds))
            print(f"{options.mib} MiB up and down; baseline (copy on disk, both ways): {copy:.3f} s")
            for store in stores:
                runs = [through_api(client, store, source) for _ in range(options.rounds)]
                seconds = min(run[0] for run in runs)
                peak_in = max(run[1] for run in runs) / MIB
                peak_out = max(run[2] for run in runs) / MIB
                print(
                    f"{store:>9}: {seconds:.3f} s ({seconds / copy:.1f}x the copy, "
                    f"{2 * options.mib / seconds:.0f} MiB/s); peak {peak_in:.1f} MiB up, {peak_out:.1f} MiB down"
                )


if __name__ == "__main__":
    main()
