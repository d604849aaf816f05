"""SQS worker: pulls evidence from S3 and opens Repay disputes, from commands and S3 uploads."""

from typing import Any

# Before anything imports pydantic: Powertools' batch utility builds its parser's record models
# (~30 ms, for type hints only; this function passes it no model) when pydantic is already loaded.
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.typing import LambdaContext

from dispute_gateway.observability import invocation_logging, metrics
from dispute_gateway.pipeline import DisputeWorker
from dispute_gateway.providers.repay import SPEC

worker = DisputeWorker.for_provider(SPEC)


@invocation_logging()
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return worker.process_batch(event, context)
