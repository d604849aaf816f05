"""Every message a person reads about a field is in plain words: what is wrong and what is allowed,
never a regex or pydantic's phrasing. Checked over every field of every model a request, a
manifest, an upload or a function's configuration passes through, with hostile values."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from dispute_gateway.api_models import EvidenceUploadRequest, problems_from_errors
from dispute_gateway.api_settings import ApiSettings
from dispute_gateway.config import PublisherSettings, TrackerSettings, WorkerSettings
from dispute_gateway.models import plain_decimal, validation_problems
from dispute_gateway.plain_errors import plain_message
from dispute_gateway.providers import registry
from dispute_gateway.providers.spec import provider_settings_model

JARGON = ("pattern", "List should", "Input should", "String should", "after validation", "Value error", "regex", "^")
HOSTILE: list[Any] = [
    None,
    "",
    " padded ",
    "tab\there",
    "x" * 5000,
    "../other",
    "-5",
    "1e3",
    "0",
    -1,
    0,
    1e30,
    True,
    [],
    ["x"],
    [{}],
    {},
    {"nested": [1]},
]


def _upload_bodies() -> list[type[BaseModel]]:
    """POST /evidence-uploads' bodies: one model, or with several evidence providers one per provider
    (a union told apart by `provider`)."""
    if isinstance(EvidenceUploadRequest, type):
        return [EvidenceUploadRequest]
    (union, *_) = typing.get_args(EvidenceUploadRequest)
    return list(typing.get_args(union))


def _models() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = _upload_bodies()
    for spec in registry().values():
        models.append(spec.request)
        manifest = getattr(spec.request, "manifest_model", None)
        if manifest is not None:
            models.append(manifest)
    return models


def _nested(annotation: Any, depth: int = 0) -> type[BaseModel] | None:
    """The model a field's annotation holds (list[EvidenceFile] -> EvidenceFile), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if depth > 4:
        return None
    for argument in typing.get_args(annotation):
        found = _nested(argument, depth + 1)
        if found is not None:
            return found
    return None


def _bodies(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One body per field and hostile value, nested models' fields included."""
    bodies = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        nested = _nested(field.annotation)
        for value in HOSTILE:
            bodies.append({key: value})
            if nested is not None:
                bodies.append({key: [{(f.alias or n): value for n, f in nested.model_fields.items()}]})
    bodies.append({"unknown_field": 1})
    return bodies


def _messages(model: type[BaseModel], body: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(body)
    except ValidationError as error:
        messages = [problem["message"] for problem in validation_problems(error)]
        messages += [problem.message for problem in problems_from_errors(error.errors(include_url=False))]
        return messages
    return []


@pytest.mark.parametrize("model", _models(), ids=lambda model: model.__name__)
def test_every_field_of_every_request_model_is_refused_in_plain_words(model: type[BaseModel]) -> None:
    seen = 0
    for body in _bodies(model):
        for message in _messages(model, body):
            seen += 1
            assert not any(word in message for word in JARGON), f"{model.__name__} {body!r}: {message}"
            assert message[:1].islower() or message[:1].isdigit() or message.startswith("'"), message
    assert seen > 0


@pytest.mark.parametrize(
    "settings",
    [
        ApiSettings,
        PublisherSettings,
        *(provider_settings_model(spec, WorkerSettings) for spec in registry().values()),
        *(provider_settings_model(spec, TrackerSettings) for spec in registry().values() if spec.outcomes),
    ],
    ids=lambda model: model.__name__,
)
def test_every_setting_is_refused_in_plain_words(settings: type[BaseModel]) -> None:
    from dispute_gateway.config import ConfigurationError

    for name, field in settings.model_fields.items():
        for value in ("", "-1", "not a number", "x" * 300, "ftp://host/path?q=1"):
            environment = {(f.alias or n): "x" for n, f in settings.model_fields.items() if f.is_required()}
            environment[field.alias or name] = value
            try:
                settings.from_environment(environment)  # type: ignore[attr-defined]
            except ConfigurationError as error:
                assert not any(word in str(error) for word in JARGON), str(error)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "must be greater than 0"),
        (-5, "must be greater than 0"),
        ("0.00", "must be greater than 0"),
        ("1,000", "must be a plain decimal such as 1000.50"),
    ],
)
def test_an_amount_says_what_is_wrong_with_it(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plain_decimal(value)


@pytest.mark.parametrize(
    ("number", "sent"), [(100.0, "100"), (1e3, "1000"), (1e2, "100"), (250.5, "250.5"), (1e-8, "0.00000001")]
)
def test_a_number_is_sent_in_its_shortest_decimal_form(number: float, sent: str) -> None:
    assert plain_decimal(number) == sent


def test_a_pattern_without_a_rule_still_says_no_regex() -> None:
    error = {"type": "string_pattern_mismatch", "ctx": {"pattern": "^[a-z]+$"}, "msg": "String should match pattern"}
    assert plain_message(error) == "has characters or a shape that is not allowed"


def test_the_named_rules_read_as_sentences() -> None:
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest

    with pytest.raises(ValidationError) as error:
        IimmpactReportRequest.model_validate({"trxid": " T-1"})
    assert validation_problems(error.value) == [
        {"field": "trxid", "message": "must not start or end with a space or contain control characters"}
    ]
