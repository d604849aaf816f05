"""Evidence belongs to its deal: a Repay dispute names only keys under `repay/{its deal_id}/`.

The request model is the one definition the API and the queues share, so what it refuses here
the API answers with 422 and a queue command becomes `rejected`. The API's document says the
same of a key alone (the deal it must match is another field, which a schema cannot compare).
"""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import ValidationError

from dispute_gateway.models import validation_problems
from dispute_gateway.providers.repay.models import EVIDENCE, RepayDisputeRequest

DEAL = "D-1"
ANOTHER_DEAL = "is not under repay/D-1/: a dispute's evidence must be in its own deal's folder"
REFUSED = [
    ("repay/D-2/c/a.pdf", ANOTHER_DEAL),
    ("repay/D-1x/c/a.pdf", ANOTHER_DEAL),
    ("repay/D-10/a.pdf", ANOTHER_DEAL),
    ("repay/D-1", ANOTHER_DEAL),
    ("Repay/D-1/c/a.pdf", ANOTHER_DEAL),
    ("/repay/D-1/c/a.pdf", ANOTHER_DEAL),
    ("other/repay/D-1/c/a.pdf", ANOTHER_DEAL),
    ("repay/D-1\\..\\D-2\\a.pdf", ANOTHER_DEAL),
    ("repay%2FD-1%2Fc%2Fa.pdf", ANOTHER_DEAL),
    ("repay/D-1/c\\..\\..\\D-2\\a.pdf", "holds a backslash"),
    ("repay/D-1/%2e%2e/D-2/a.pdf", "holds a %: evidence keys are given as stored, never percent-encoded"),
    ("repay/D-1/..%2FD-2%2Fa.pdf", "holds a %"),
    ("repay/D-1/../D-2/c/a.pdf", "has '..' in its path: evidence keys are plain paths, without '.' or '..'"),
    ("repay/D-1/c/../../D-2/a.pdf", "has '..' in its path"),
    ("repay/D-1/c/..", "has '..' in its path"),
    ("repay/D-1/./c/a.pdf", "has '.' in its path"),
    ("repay/D-1//c/a.pdf", "has an empty folder or file name"),
    ("repay/D-1/", "has an empty folder or file name"),
    ("repay/D-1/c/", "has an empty folder or file name"),
    ("repay/D-1/c/dispute.json", "is named dispute.json, the file that files its folder: it is never evidence"),
    ("repay/D-1/dispute.json", "is named dispute.json"),
    ("repay/D-1/c/sub/dispute.json", "is named dispute.json"),
]
ACCEPTED = [
    "repay/D-1/c/a.pdf",
    "repay/D-1/a.pdf",
    "repay/D-1/case 1/Квитанция №1.pdf",
    "repay/D-1/c/sub/scan.jpg",
    "repay/D-1/c/..a.pdf",
    "repay/D-1/c/.hidden.pdf",
    "repay/D-1/c/dispute.json.bak",
    "repay/D-1/c/x-dispute.json",
    "repay/D-1/c/Dispute.json",
]


def request(*keys: str) -> dict[str, object]:
    return {"deal_id": DEAL, "new_amount": "5", "evidence": [{"key": key} for key in keys]}


@pytest.mark.parametrize(("key", "reason"), REFUSED, ids=[key for key, _ in REFUSED])
def test_a_key_outside_the_deals_own_folder_is_refused_naming_the_field_in_plain_words(key, reason):
    with pytest.raises(ValidationError) as error:
        RepayDisputeRequest.model_validate(request("repay/D-1/c/fine.pdf", key))

    [problem] = validation_problems(error.value)
    assert problem["field"] == "evidence.1.key"
    assert problem["message"].startswith(key) and reason in problem["message"]
    assert not any(jargon in problem["message"] for jargon in ("pattern", "String should", "Value error", "^"))


def test_the_attackers_own_words():
    with pytest.raises(ValidationError) as error:
        RepayDisputeRequest.model_validate(
            {"deal_id": "D-ATTACK", "new_amount": "5", "evidence": [{"key": "repay/D-VICTIM/x/a.pdf"}]}
        )
    assert validation_problems(error.value) == [
        {
            "field": "evidence.0.key",
            "message": "repay/D-VICTIM/x/a.pdf is not under repay/D-ATTACK/: "
            "a dispute's evidence must be in its own deal's folder",
        }
    ]


def test_every_misplaced_key_is_named():
    with pytest.raises(ValidationError) as error:
        RepayDisputeRequest.model_validate(request("repay/D-2/a.pdf", "repay/D-1/a.pdf", "repay/D-1/../b.pdf"))
    assert [p["field"] for p in validation_problems(error.value)] == ["evidence.0.key", "evidence.2.key"]


@pytest.mark.parametrize("key", ACCEPTED)
def test_a_key_in_the_deals_own_folder_is_taken_as_given(key):
    assert RepayDisputeRequest.model_validate(request(key)).evidence[0].key == key


def test_a_message_never_shows_an_email_address_in_a_key():
    with pytest.raises(ValidationError) as error:
        RepayDisputeRequest.model_validate(request("repay/D-2/jane.doe@example.com.pdf"))
    assert "jane.doe@example.com" not in str(validation_problems(error.value))


@pytest.mark.parametrize(
    ("key", "valid"),
    [(key, False) for key, reason in REFUSED if reason != ANOTHER_DEAL] + [(key, True) for key in ACCEPTED],
)
def test_the_documents_key_schema_says_what_the_rule_says_of_a_key_alone(key, valid):
    validator = jsonschema.Draft202012Validator(EVIDENCE.key_schema())
    assert validator.is_valid(key) is valid
