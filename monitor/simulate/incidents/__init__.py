"""Replays of real outages on a compressed timeline, one module per incident.

Each module registers its scenario with `@scenario(name, description, expected=Expected(...))`
(monitor/simulate/scenarios.py); importing this package imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
