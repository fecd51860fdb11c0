"""Inventory example: `python examples/inventory/app.py` (PDIP_ENVIRONMENT=production for the overlay)."""

from inventory.stock import StockReport, StockStore

from pdip import Pdi

with Pdi() as pdi:
    store = pdi.get(StockStore)
    for sku, quantity in {"bolt": 3, "nut": 12, "washer": 40}.items():
        store.put(sku, quantity)
    with pdi.scope():
        report = pdi.get(StockReport)
        print(f"{report.config.warehouse}: low stock {', '.join(report.low_stock())}")
