"""pdip: a framework for data-integration services.

`Pdi` is imported lazily so that `import pdip` (for `__version__`, say) stays cheap.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["Pdi", "__version__"]

if TYPE_CHECKING:  # pragma: no cover - only read by type checkers
    from pdip.base.pdi import Pdi


def __getattr__(name: str):
    if name == "Pdi":
        from pdip.base.pdi import Pdi

        return Pdi
    raise AttributeError(f"module 'pdip' has no attribute {name!r}")
