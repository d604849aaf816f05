"""Alarms, their topic and the dashboard: what an operator is told, and that it measures what the code emits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from dispute_gateway.models import Status
from dispute_gateway.observability import count_outcome
from dispute_gateway.providers import provider_names
from tests.infrastructure.cfn import dead_letter_queues, functions, of_type, ref, source_queues

PROVIDERS = provider_names()

OUTCOME_METRICS = {
    Status.SUBMITTED: "DisputesSubmitted",
    Status.REJECTED: "DisputesRejected",
    Status.FAILED: "DisputesFailed",
}
STACK_ALARM_ARNS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"


def _alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: alarm["Properties"] for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items()}


def _single_metric_alarms(resources: dict[str, Any], namespace: str, metric: str) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in _alarms(resources).values()
        if alarm.get("Namespace") == namespace and alarm.get("MetricName") == metric
    ]


def _dimensions(dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    return {dimension["Name"]: dimension["Value"] for dimension in dimensions}


def _globals_environment(sam_template: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    return variables


def _emitted(capsys: pytest.CaptureFixture[str], provider: str, status: Status) -> dict[str, Any]:
    """The EMF document the code prints for one dispute outcome."""
    capsys.readouterr()
    count_outcome(provider, status)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    document: dict[str, Any] = json.loads(line)
    return document


# -- the topic -----------------------------------------------------------------------------------
def test_topic_is_encrypted_with_a_key_cloudwatch_may_use(resources):
    topic = resources["AlarmTopic"]["Properties"]
    # Not alias/aws/sns: CloudWatch alarms cannot publish to a topic under the AWS managed key.
    assert topic["KmsMasterKeyId"] == ref("AlarmTopicKey")
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    cloudwatch = statements["CloudWatchAlarmsPublish"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    # Nobody else but the account itself (through IAM) is named.
    principals = [json.dumps(s["Principal"]) for s in key["KeyPolicy"]["Statement"]]
    assert "*" not in "".join(principals).replace("${AWS::", "")


def test_only_this_stacks_alarms_may_publish(resources):
    policy = resources["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [ref("AlarmTopic")]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::Sub": STACK_ALARM_ARNS}}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ref("AWS::AccountId")}


def test_every_alarm_is_named_after_the_stack_and_notifies_the_topic(resources):
    alarms = _alarms(resources)
    for name, alarm in alarms.items():
        # The topic policy admits alarms named ${AWS::StackName}-*.
        assert re.fullmatch(r"\$\{AWS::StackName\}-[a-z0-9-]+", alarm["AlarmName"]["Fn::Sub"]), name
        assert alarm["AlarmActions"] == [ref("AlarmTopic")], name
        assert alarm["OKActions"] == [ref("AlarmTopic")], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmDescription"], name
    names = [alarm["AlarmName"]["Fn::Sub"] for alarm in alarms.values()]
    assert len(set(names)) == len(names)


def test_email_subscription_only_when_an_address_is_given(sam_template, cfn, resources):
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert cfn["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}
    assert subscription["Properties"] == {
        "TopicArn": ref("AlarmTopic"),
        "Protocol": "email",
        "Endpoint": ref("AlarmEmail"),
    }
    assert sam_template["Parameters"]["AlarmEmail"]["Default"] == ""


# -- queues: every queue a function consumes, and every dead-letter queue --------------------------
def test_any_dead_letter_alarms(resources):
    assert dead_letter_queues(resources)
    for queue in dead_letter_queues(resources):
        (alarm,) = [
            a
            for a in _single_metric_alarms(resources, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            if _dimensions(a["Dimensions"]) == {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}
        ]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Maximum",
            "GreaterThanThreshold",
            0,
        )


def test_backlog_alarms_past_one_redelivery(resources):
    assert source_queues(resources)
    for queue in source_queues(resources):
        (alarm,) = [
            a
            for a in _single_metric_alarms(resources, "AWS/SQS", "ApproximateAgeOfOldestMessage")
            if _dimensions(a["Dimensions"]) == {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}
        ]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        # A message retried once waits out the visibility timeout: that alone must not alarm.
        assert alarm["Threshold"] > resources[queue]["Properties"]["VisibilityTimeout"]


# -- functions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_errors_and_throttles_alarm(resources, metric):
    for function in functions(resources):
        (alarm,) = [
            a
            for a in _single_metric_alarms(resources, "AWS/Lambda", metric)
            if _dimensions(a["Dimensions"]) == {"FunctionName": ref(function)}
        ]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanThreshold",
            0,
        )


def test_api_5xx_alarm(resources):
    (alarm,) = _single_metric_alarms(resources, "AWS/ApiGateway", "5xx")
    assert _dimensions(alarm["Dimensions"]) == {"ApiId": ref("HttpApi")}
    assert alarm["Threshold"] == 0


# -- providers: the alarms watch the metrics the code emits ---------------------------------------
def test_outcome_metrics_are_emitted_with_the_alarms_namespace_and_dimensions(sam_template, capsys):
    env = _globals_environment(sam_template)
    for status, metric in OUTCOME_METRICS.items():
        for provider in PROVIDERS:
            document = _emitted(capsys, provider, status)
            (directive,) = document["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
            assert [m["Name"] for m in directive["Metrics"]] == [metric]
            assert directive["Dimensions"] == [["provider", "service"]]
            assert document["provider"] == provider
            assert document["service"] == env["POWERTOOLS_SERVICE_NAME"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_failing_for_15_minutes_alarms_long_before_any_dispute_fails(
    sam_template, resources, provider, capsys
):
    from dispute_gateway.observability import count_retries

    env = _globals_environment(sam_template)
    (alarm,) = [
        a
        for a in _single_metric_alarms(resources, env["POWERTOOLS_METRICS_NAMESPACE"], "DeliveriesRetried")
        if _dimensions(a["Dimensions"])["provider"] == provider
    ]
    assert _dimensions(alarm["Dimensions"]) == {"provider": provider, "service": env["POWERTOOLS_SERVICE_NAME"]}
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 0)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3  # a blip is not an outage
    capsys.readouterr()
    count_retries(provider, 2)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [document["DeliveriesRetried"] for document in emitted] == [[2.0]]  # one data point per batch
    assert all(document["provider"] == provider for document in emitted)


def test_dashboard_shows_the_messages_waiting_for_their_next_delivery(resources):
    dashboard, _ = _dashboard(resources)
    searches = _searches(dashboard)
    assert any("ApproximateNumberOfMessagesNotVisible" in s for s in searches)
    assert any("DeliveriesRetried" in s for s in searches)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_any_failed_dispute_alarms(sam_template, resources, provider):
    env = _globals_environment(sam_template)
    (alarm,) = [
        a
        for a in _single_metric_alarms(resources, env["POWERTOOLS_METRICS_NAMESPACE"], "DisputesFailed")
        if _dimensions(a["Dimensions"])["provider"] == provider
    ]
    assert _dimensions(alarm["Dimensions"]) == {"provider": provider, "service": env["POWERTOOLS_SERVICE_NAME"]}
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 0)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_error_rate_alarm(sam_template, resources, provider):
    env = _globals_environment(sam_template)
    math_alarms = [a for a in _alarms(resources).values() if "Metrics" in a]
    (alarm,) = [
        a
        for a in math_alarms
        if all(
            _dimensions(m["MetricStat"]["Metric"]["Dimensions"])["provider"] == provider
            for m in a["Metrics"]
            if "MetricStat" in m
        )
    ]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    for metric_id, name in (
        ("submitted", "DisputesSubmitted"),
        ("rejected", "DisputesRejected"),
        ("failed", "DisputesFailed"),
    ):
        stat = metrics[metric_id]["MetricStat"]
        assert metrics[metric_id]["ReturnData"] is False
        assert stat["Metric"]["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        assert stat["Metric"]["MetricName"] == name
        assert _dimensions(stat["Metric"]["Dimensions"]) == {
            "provider": provider,
            "service": env["POWERTOOLS_SERVICE_NAME"],
        }
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
    rate = metrics["rate"]
    assert rate["ReturnData"] is True
    expression = " ".join(rate["Expression"].split())
    total = "FILL(submitted, 0) + FILL(rejected, 0) + FILL(failed, 0)"
    assert expression == f"IF(({total}) > 0, FILL(failed, 0) / ({total}), 0)"
    assert alarm["Threshold"] == ref("ProviderErrorRateThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
    spec = sam_template["Parameters"]["ProviderErrorRateThreshold"]
    assert (spec["MinValue"], spec["MaxValue"], spec["Default"]) == (0, 1, 0.2)


# -- dashboard -------------------------------------------------------------------------------------
def _dashboard(resources: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body as JSON, each ${reference} replaced by a placeholder, and the references."""
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    references = set(re.findall(r"\$\{([^}]+)\}", body))
    # A number where the reference is a Number parameter, a string everywhere else.
    rendered = re.sub(r"\$\{ProviderErrorRateThreshold\}", "0.2", body)
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", rendered)
    return json.loads(rendered), references


def _searches(dashboard: dict[str, Any]) -> list[str]:
    return [
        " ".join(metric[0]["expression"].split())
        for widget in dashboard["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], dict) and metric[0]["expression"].startswith("SEARCH(")
    ]


def test_dashboard_body_is_json_and_names_no_provider(resources):
    dashboard, references = _dashboard(resources)
    names = {reference.split(".")[0] for reference in references}
    assert names <= set(resources) | {"AWS::Region", "AWS::StackName", "ProviderErrorRateThreshold"}
    assert all(
        widget["properties"].get("region", "<AWS::Region>") == "<AWS::Region>" for widget in dashboard["widgets"]
    )
    # Every provider shows up through the searches below, without being named.
    body = json.dumps(dashboard).lower()
    assert not [provider for provider in PROVIDERS if provider in body]


def test_dashboard_shows_every_outcome_and_failures_of_every_provider(resources, sam_template):
    env = _globals_environment(sam_template)
    dashboard, _ = _dashboard(resources)
    provider_searches = [
        s for s in _searches(dashboard) if s.startswith(f"SEARCH('{{{env['POWERTOOLS_METRICS_NAMESPACE']},")
    ]
    outcomes = [s for s in provider_searches if "provider" in s and "DisputesSubmitted" in s]
    assert outcomes and all(metric in outcomes[0] for metric in OUTCOME_METRICS.values())
    assert any("DisputesFailed" in s and "DisputesSubmitted" not in s for s in provider_searches)


def test_dashboard_shows_latency_per_provider_and_for_the_api(resources, capsys):
    from dispute_gateway.observability import record_provider_latency

    record_provider_latency("any-provider", "report", 12.5)
    emitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [dimensions] = emitted["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    dashboard, _ = _dashboard(resources)
    (latency,) = [s for s in _searches(dashboard) if "ProviderLatency" in s]
    schema = re.search(r"\{DisputeGateway,([^}]*)\}", latency)
    assert schema is not None and set(schema.group(1).split(",")) == set(dimensions) == {
        "provider",
        "operation",
        "service",
    }
    api = {
        series[4]["stat"]
        for widget in dashboard["widgets"]
        if widget["type"] == "metric"
        for series in widget["properties"]["metrics"]
        if series[:2] == ["AWS/ApiGateway", "Latency"]
    }
    assert api == {"p50", "p95"}


def test_dashboard_shows_every_queue_and_function_of_the_stack(resources):
    dashboard, _ = _dashboard(resources)
    searches = _searches(dashboard)
    stack = '"<AWS::StackName>"'
    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
    ):
        assert any("{AWS/SQS,QueueName}" in s and stack in s and metric in s for s in searches), metric
    for metric in ("Errors", "Throttles", "ConcurrentExecutions"):
        assert any("{AWS/Lambda,FunctionName}" in s and stack in s and metric in s for s in searches), metric


def test_every_queue_and_function_name_starts_with_the_stack_name(resources):
    """What the dashboard's searches rely on to find them."""
    for queue in [*source_queues(resources), *dead_letter_queues(resources)]:
        name = resources[queue]["Properties"].get("QueueName")
        # A generated name starts with the stack name too.
        assert name is None or name["Fn::Sub"].startswith("${AWS::StackName}-"), queue
    for function in functions(resources):
        assert resources[function]["Properties"]["FunctionName"]["Fn::Sub"].startswith("${AWS::StackName}-")


def test_dashboard_is_named_after_the_stack(resources):
    assert resources["Dashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}"}
