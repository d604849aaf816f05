"""The template's outcome trackers, and the check interval `make demo` and `make serve` give them.

A tracker is any function whose template environment declares the tracker settings' interval
variable (OUTCOME_CHECK_INTERVAL_SECONDS), whatever its name or provider. Locally a sandbox
settles a deal the moment someone asks it to; with the template's interval (900 s, doubling
while the deal stays the same) its outcome would show a quarter of an hour later or more.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dispute_gateway.config import TrackerSettings
from local.aws.template import TEMPLATE, StackModel, load_model

_alias = TrackerSettings.model_fields["check_interval_seconds"].alias
assert _alias is not None  # the field is read from the environment under its alias
CHECK_INTERVAL_VARIABLE: str = _alias


def tracker_functions(model: StackModel) -> list[str]:
    """Logical ids of the functions that follow submitted disputes to their outcome."""
    return [logical_id for logical_id, spec in model.functions.items() if CHECK_INTERVAL_VARIABLE in spec.environment]


def check_interval_overrides(
    seconds: int, template: Path = TEMPLATE, parameter_overrides: Mapping[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """Environment overrides (by function logical id, as `LocalStack` takes them) giving every
    tracker of `template` the interval `seconds` (0: every open dispute on every run)."""
    model = load_model(template, parameter_overrides)
    return {logical_id: {CHECK_INTERVAL_VARIABLE: str(seconds)} for logical_id in tracker_functions(model)}
