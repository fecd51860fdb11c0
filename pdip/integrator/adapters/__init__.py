"""Adapters: one module per kind of store, each with a Source, a Target and its capabilities."""

from pdip.integrator.adapters.base import Adapter, Capabilities, Disposition, ReadRequest, Source, Target, WriteResult
from pdip.integrator.adapters.registry import AdapterRegistry

__all__ = [
    "Adapter",
    "AdapterRegistry",
    "Capabilities",
    "Disposition",
    "ReadRequest",
    "Source",
    "Target",
    "WriteResult",
]
