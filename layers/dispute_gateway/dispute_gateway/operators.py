"""Who calls the operator routes and what they may do: read (`dispute-viewers`) or read and act
(`dispute-operators`), by the Cognito groups in their token.

API Gateway's JWT authorizer has checked the token (signature, issuer, audience, expiry) before
the function runs; the groups are checked here, on every call, whatever the console shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

VIEWERS = "dispute-viewers"
OPERATORS = "dispute-operators"
GROUPS_CLAIM = "cognito:groups"


class Action(StrEnum):
    READ = "read"
    RETRY = "retry"


# Who may do what: a group grants its actions, an operator's include a viewer's.
GRANTS: Mapping[str, frozenset[Action]] = {
    VIEWERS: frozenset({Action.READ}),
    OPERATORS: frozenset({Action.READ, Action.RETRY}),
}


class NotAllowed(PermissionError):
    def __init__(self, operator: Operator, action: Action) -> None:
        groups = [group for group, actions in GRANTS.items() if action in actions]
        super().__init__(
            f"{operator.username} may not {action.value} disputes: that needs membership of "
            f"{' or '.join(groups)} (yours: {', '.join(sorted(operator.groups)) or 'none'})"
        )
        self.action = action


@dataclass(frozen=True)
class Operator:
    username: str
    groups: frozenset[str]

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Operator:
        """From the token's claims as API Gateway passes them (requestContext.authorizer.jwt.claims):
        every value a string, a list such as `cognito:groups` written "[a b]"."""
        username = claims.get("username") or claims.get("cognito:username") or claims.get("sub") or "unknown"
        return cls(username=str(username), groups=frozenset(_listed(claims.get(GROUPS_CLAIM))))

    @property
    def actions(self) -> frozenset[Action]:
        return frozenset(action for group in self.groups for action in GRANTS.get(group, ()))

    def may(self, action: Action) -> bool:
        return action in self.actions

    def require(self, action: Action) -> None:
        if not self.may(action):
            raise NotAllowed(self, action)

    @property
    def signature(self) -> str:
        """How a change they make names them in a dispute's history."""
        return f"{self.username} (console)"


def _listed(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if not isinstance(value, str):
        return []
    # API Gateway writes a list claim as "[a b]"; Cognito group names hold no space.
    return value.strip().removeprefix("[").removesuffix("]").replace(",", " ").split()
