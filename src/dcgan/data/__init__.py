"""Data: sources (readers of every supported format), `prepare` (-> packed uint8 array on
disk) and the packed dataset that training reads batches from.

`prepare` is imported from `dcgan.data.prepare`: re-exporting it here would hide that module.
"""

from dcgan.data.packed import PackedDataset, is_packed, resolve_data, to_unit_range
from dcgan.data.sources import READERS, detect_format, open_source

__all__ = [
    "READERS",
    "PackedDataset",
    "detect_format",
    "is_packed",
    "open_source",
    "resolve_data",
    "to_unit_range",
]
