"""Property-based fuzzing of every parser that reads outside input (hypothesis).

Each property runs a bounded, derandomised number of examples inside the
normal suite, so CI sees the same inputs on every run; every finding also
lives on as a named regression example next to its property.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
"""The settings of every fuzz property: reproducible, bounded, no example database in the tree."""

FUZZ_SLOW = settings(FUZZ, max_examples=200)
"""For properties whose examples are dear (HTTP round trips, large generated files)."""
