"""The disputes table's stream -> one EventBridge event per change of a dispute's status or resolution."""

from typing import Any

# Before anything imports pydantic: Powertools' batch utility builds its parser's record models
# (~30 ms, for type hints only; this function passes it no model) when pydantic is already loaded.
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.typing import LambdaContext

from dispute_gateway.config import PublisherSettings, load_settings
from dispute_gateway.events import ChangePublisher
from dispute_gateway.observability import invocation_logging, metrics

settings = load_settings(PublisherSettings)
publisher = ChangePublisher.from_settings(settings)


@invocation_logging()
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publisher.process_batch(event, context)
