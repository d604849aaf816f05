"""samconfig.toml's environments: each names template parameters with values the template accepts."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
ENVIRONMENTS = ("default", "dev", "staging", "prod")
STAGE = {"default": "dev", "dev": "dev", "staging": "staging", "prod": "prod"}
IIMMPACT_PRODUCTION = "https://api.iimmpact.com"
# The longest suffix a function name gets (template.yaml FunctionName), and Lambda's limit.
FUNCTION_SUFFIX = "-iimmpact-report"
MAX_FUNCTION_NAME = 64
# A value deployers must fill in; the template must refuse it as written.
PLACEHOLDER = "REPLACE"


def _deploy(environment: str) -> dict[str, Any]:
    parameters: dict[str, Any] = CONFIG[environment]["deploy"]["parameters"]
    return parameters


def _overrides(environment: str) -> dict[str, str]:
    """parameter_overrides as SAM reads it: Key="value" pairs separated by spaces."""
    pairs = (token.split("=", 1) for token in shlex.split(_deploy(environment)["parameter_overrides"]))
    return {key: value for key, value in pairs}


def _accepted(spec: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation accepts `value` for a parameter declared as `spec`."""
    if "AllowedValues" in spec and value not in [str(allowed) for allowed in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return False
        if number < spec.get("MinValue", float("-inf")) or number > spec.get("MaxValue", float("inf")):
            return False
    return True


def test_there_is_a_dev_staging_and_prod_environment():
    assert set(ENVIRONMENTS) <= set(CONFIG)
    assert {CONFIG[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS} == {
        "dispute-gateway-dev",
        "dispute-gateway-staging",
        "dispute-gateway-prod",
    }
    assert {CONFIG[env]["global"]["parameters"]["region"] for env in ENVIRONMENTS} == {"ap-southeast-1"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_name_template_parameters_with_accepted_values(sam_template, environment):
    parameters = sam_template["Parameters"]
    overrides = _overrides(environment)
    assert set(overrides) <= set(parameters)
    for name, value in overrides.items():
        if value.startswith(PLACEHOLDER):
            # Deploying before filling it in fails at once instead of deploying a placeholder.
            assert not _accepted(parameters[name], value), f"{environment}: {name} placeholder is deployable"
        else:
            assert _accepted(parameters[name], value), f"{environment}: {name}={value!r}"


def _provider_parameters() -> list[str]:
    """Template parameters of a provider's own: named after it (e.g. IimmpactBaseUrl)."""
    from dispute_gateway.providers import provider_names
    from local.aws.template import TEMPLATE, read_template

    parameters = read_template(TEMPLATE)["Parameters"]
    return [name for name in parameters for provider in provider_names() if name.startswith(provider.capitalize())]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_sets_its_stage_limits_and_alarms(environment):
    overrides = _overrides(environment)
    assert overrides["Stage"] == STAGE[environment]
    for name in (
        "LogRetentionDays",
        "AlarmEmail",
        "ApiThrottleBurst",
        "ApiThrottleRate",
        "EvidenceRetentionDays",
        "RecordRetentionDays",
    ):
        assert name in overrides, f"{environment} leaves {name} to the template default"
    # A provider's own parameters (its host, its concurrency) are set per environment too.
    for name in _provider_parameters():
        assert name in overrides, f"{environment} leaves {name} to the template default"


@pytest.mark.parametrize("environment", ["default", "dev", "staging"])
def test_test_environments_never_reach_iimmpact_production(environment):
    assert _overrides(environment)["IimmpactBaseUrl"] != IIMMPACT_PRODUCTION


def test_prod_is_reviewed_alarmed_and_keeps_a_year_of_logs(sam_template):
    overrides = _overrides("prod")
    assert overrides["IimmpactBaseUrl"] == IIMMPACT_PRODUCTION
    assert overrides["AlarmEmail"] != ""
    assert int(overrides["LogRetentionDays"]) >= 365
    assert _deploy("prod")["confirm_changeset"] is True
    # The template refuses a prod stack nobody is alarmed for, whatever samconfig says.
    (assertion,) = sam_template["Rules"]["ProdAlarmsReachSomeone"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_stack_name_leaves_room_for_function_names(environment):
    stack_name = CONFIG[environment]["global"]["parameters"]["stack_name"]
    assert len(stack_name + FUNCTION_SUFFIX) <= MAX_FUNCTION_NAME


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_deploys_need_no_named_iam(environment):
    # The roles are unnamed (CloudFormation names them), so CAPABILITY_IAM is enough.
    assert _deploy(environment)["capabilities"] == "CAPABILITY_IAM"


# -- retries (CONTRACT section 11): a day of a provider being down before a dispute fails ----------
DAY_SECONDS = 86400


def _covered_seconds(parameters: dict[str, str]) -> int:
    """The time a provider may be down before a dispute fails, when every delay's jitter falls
    on the short side."""
    from dispute_gateway.retries import RetrySchedule

    schedule = RetrySchedule(int(parameters["RetryBaseDelaySeconds"]), int(parameters["RetryMaxDelaySeconds"]))
    return sum(schedule.shortest_delays(int(parameters["MaxReceiveCount"])))


@pytest.mark.parametrize("environment", [None, *ENVIRONMENTS])
def test_the_retry_schedule_rides_out_a_day_of_outage(sam_template, environment):
    defaults = {name: str(spec.get("Default")) for name, spec in sam_template["Parameters"].items()}
    parameters = defaults if environment is None else {**defaults, **_overrides(environment)}
    assert _covered_seconds(parameters) >= DAY_SECONDS, environment
