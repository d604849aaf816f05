"""Who may do what in the operator console, from the claims API Gateway's JWT authorizer passes on."""

from __future__ import annotations

import pytest

from dispute_gateway.operators import OPERATORS, VIEWERS, Action, NotAllowed, Operator


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("[dispute-viewers]", {VIEWERS}),  # as API Gateway writes a list claim
        ("[dispute-viewers dispute-operators]", {VIEWERS, OPERATORS}),
        (["dispute-operators"], {OPERATORS}),  # as the token itself holds it
        ("[]", set()),
        (None, set()),
    ],
)
def test_groups_are_read_however_the_claim_is_written(groups, expected):
    claims = {"username": "vera", **({"cognito:groups": groups} if groups is not None else {})}
    assert Operator.from_claims(claims).groups == expected


def test_a_viewer_reads_an_operator_also_retries_anyone_else_nothing():
    viewer = Operator("vera", frozenset({VIEWERS}))
    operator = Operator("otto", frozenset({OPERATORS}))
    nobody = Operator("nina", frozenset({"someone-else"}))
    assert (viewer.may(Action.READ), viewer.may(Action.RETRY)) == (True, False)
    assert (operator.may(Action.READ), operator.may(Action.RETRY)) == (True, True)
    assert nobody.actions == frozenset()
    with pytest.raises(NotAllowed) as refused:
        viewer.require(Action.RETRY)
    assert str(refused.value) == (
        "vera may not retry disputes: that needs membership of dispute-operators (yours: dispute-viewers)"
    )


def test_the_name_comes_from_the_access_token_or_the_id_token():
    assert Operator.from_claims({"username": "otto"}).username == "otto"
    assert Operator.from_claims({"cognito:username": "otto"}).username == "otto"
    assert Operator.from_claims({"sub": "0b6c"}).signature == "0b6c (console)"
