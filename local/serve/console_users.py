"""The operator console's users for `make serve`: a viewer and an operator, added at start to the
template's user pool in moto's Cognito (as an administrator would add them), each with a password
made up for this run and printed in the banner, never logged."""

from __future__ import annotations

from dataclasses import dataclass

from dispute_gateway.operators import GRANTS, OPERATORS, VIEWERS
from local.stack import SIGN_IN_PAGE, LocalStack

# Who `make serve` signs in as, and the group that says what each may do.
ROLES = {"viewer": VIEWERS, "operator": OPERATORS}


@dataclass(frozen=True)
class ConsoleLogin:
    role: str
    username: str
    password: str
    group: str

    @property
    def may(self) -> str:
        return " and ".join(action.value for action in sorted(GRANTS[self.group]))


def console_logins(stack: LocalStack) -> list[ConsoleLogin]:
    """A viewer and an operator in the user pool that has both groups; none if the template has no such pool."""
    pools = [pool for pool, spec in stack.model.user_pools.items() if set(ROLES.values()) <= set(spec.groups.values())]
    if not pools:
        return []
    return [ConsoleLogin(role, role, stack.add_user(pools[0], role, [group]), group) for role, group in ROLES.items()]


def console_lines(stack: LocalStack, logins: list[ConsoleLogin]) -> list[tuple[str, str]]:
    """The banner's rows: where the console is, and who can sign in to it."""
    if not logins:
        return []
    rows = [("operator console", f"{stack.api_url}{SIGN_IN_PAGE}  (sign-in played locally at {stack.sign_in_url})")]
    rows += [
        ("", f"{login.role}: {login.username} / {login.password}  ({login.group}: {login.may})") for login in logins
    ]
    return rows
