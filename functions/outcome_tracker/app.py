"""Scheduled (EventBridge): asks the provider what became of its submitted disputes that are due."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dispute_gateway.observability import invocation_logging, metrics
from dispute_gateway.outcomes import OutcomeTracker

tracker = OutcomeTracker.from_environment()


@invocation_logging()
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return tracker.run(context).as_dict()
