"""Field-policy costs on a columnar batch, as ratios to copying the same batch in the same run.

    python bench/bench_policy.py [--rows 1000000] [--customers 20000]

A batch of N rows and 8 columns (a dict of column name -> list, and the same as a pyarrow Table)
goes through two 5-rule policy files, each after the built-in secret rule (which redacts
`api_token`). The baseline is a copy of the batch: `{name: list(column)}` for the dict,
`Table.take(all rows)` for Arrow (target: the policy <= 1.2x the copy).

- per column: redact `email`, drop `notes`, allow `country`, redact `key: *_token`, allow
  `field: amount`; one decision per column, no row looked at.
- with hash and drop_record: redact `email`, hash `customer_id` (`--customers` distinct
  values), drop `notes`, allow `country`, drop the rows whose `status` is "test" (1%); hashing
  costs a dictionary lookup per row and an HMAC per distinct value, dropping rows a copy of
  the rows kept.

One record at a time (`policy.apply`) is measured too, for scale. Peak memory is the
tracemalloc peak of one application to the dict batch.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from pdip.policy import Policy

RULES = """\
rules:
  - table: orders
    column: email
    action: redact
  - table: orders
    column: customer_id
    action: hash
  - table: orders
    column: notes
    action: drop
  - table: orders
    column: country
    action: allow
  - table: orders
    column: status
    action: drop_record
    equals: test
"""

STRUCTURAL = """\
rules:
  - table: orders
    column: email
    action: redact
  - table: orders
    column: notes
    action: drop
  - table: orders
    column: country
    action: allow
  - table: orders
    key: "*_token"
    action: redact
  - table: orders
    field: amount
    action: allow
"""


def make_batch(rows: int, customers: int) -> dict[str, list]:
    generator = random.Random(7)
    countries = ["FR", "DE", "NL", "US", "JP", "BR", "IN", "ZA"]
    return {
        "id": list(range(rows)),
        "customer_id": [generator.randrange(customers) for _ in range(rows)],
        "email": [f"user{index}@example.com" for index in range(rows)],
        "country": [countries[index % 8] for index in range(rows)],
        "amount": [index * 0.25 for index in range(rows)],
        "notes": [f"note {index % 1000}" for index in range(rows)],
        "status": ["test" if index % 100 == 0 else "live" for index in range(rows)],
        "api_token": [f"tok-{index % 5000}" for index in range(rows)],
    }


def best_ms(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times) * 1000


def policy_from(text: str, folder: Path, name: str) -> Policy:
    path = folder / name
    path.write_text(text)
    return Policy.load(path, salt="bench-salt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        policy = policy_from(RULES, Path(folder), "policy.yml")
        structural = policy_from(STRUCTURAL, Path(folder), "structural.yml")

    batch = make_batch(arguments.rows, arguments.customers)
    scope = "table:orders"
    kept = policy.apply_batch(batch, scope)
    assert len(kept["id"]) == arguments.rows - (arguments.rows + 99) // 100 and "notes" not in kept

    copy_ms = best_ms(lambda: {name: list(column) for name, column in batch.items()})
    full_ms = best_ms(lambda: policy.apply_batch(batch, scope))
    structural_ms = best_ms(lambda: structural.apply_batch(batch, scope))
    report(f"copy {arguments.rows:,} x 8 dict batch", f"{copy_ms:.1f} ms", "baseline", "")
    report(
        "  5 rules, per column", f"{structural_ms:.1f} ms", f"{structural_ms / copy_ms:.2f}x the copy", "target <= 1.2x"
    )
    report("  5 rules, hash + drop_record", f"{full_ms:.1f} ms", f"{full_ms / copy_ms:.2f}x the copy", "")

    import pyarrow as pa

    table = pa.table(batch)
    every_row = pa.array(range(table.num_rows))
    arrow_copy_ms = best_ms(lambda: table.take(every_row))
    arrow_full_ms = best_ms(lambda: policy.apply_batch(table, scope))
    arrow_structural_ms = best_ms(lambda: structural.apply_batch(table, scope))
    report("copy the same pyarrow.Table", f"{arrow_copy_ms:.1f} ms", "baseline", "")
    report(
        "  5 rules, per column",
        f"{arrow_structural_ms:.1f} ms",
        f"{arrow_structural_ms / arrow_copy_ms:.2f}x the copy",
        "target <= 1.2x",
    )
    report(
        "  5 rules, hash + drop_record", f"{arrow_full_ms:.1f} ms", f"{arrow_full_ms / arrow_copy_ms:.2f}x the copy", ""
    )

    records = [{name: column[index] for name, column in batch.items()} for index in range(10_000)]
    record_ms = best_ms(lambda: [policy.apply(record, scope) for record in records])
    report(
        "one record at a time",
        f"{record_ms * 100:.0f} ms",
        f"per {arguments.rows:,} rows (measured on 10,000): {record_ms * 100 / copy_ms:.1f}x the column copy",
        "",
    )

    tracemalloc.start()
    policy.apply_batch(batch, scope)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    report("peak memory", f"{peak / 2**20:.1f} MiB", "traced while applying the 5-rule policy to the dict batch", "")


def report(what: str, figure: str, ratio: str, target: str) -> None:
    print(f"{what:<34} {figure:>10}   {ratio}   {target}".rstrip())


if __name__ == "__main__":
    main()
