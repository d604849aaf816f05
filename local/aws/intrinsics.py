"""CloudFormation intrinsic functions, evaluated as far as what is known allows.

The template model resolves parameters and conditions as soon as it is read, but a resource's
name, URL or ARN only exists once the local stack has created it. So evaluation is partial:
whatever cannot be resolved yet is kept as written, and a second pass with the resources
finishes the job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# `Ref: AWS::NoValue` removes the property or list item that holds it.
NO_VALUE = "AWS::NoValue"
_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

ResourceRef = Callable[[str], Any | None]
ResourceAttribute = Callable[[str, str], Any | None]


class _Removed:
    """The value of `Ref: AWS::NoValue` until the enclosing container drops it."""


_REMOVED = _Removed()


@dataclass(frozen=True)
class Scope:
    """What intrinsics may refer to. A callback returns None for what it does not know yet."""

    parameters: Mapping[str, Any]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    ref: ResourceRef = lambda _name: None
    get_att: ResourceAttribute = lambda _name, _attribute: None

    def with_resources(self, ref: ResourceRef, get_att: ResourceAttribute) -> Scope:
        return Scope(self.parameters, self.conditions, ref, get_att)


def resolve(value: Any, scope: Scope) -> Any:
    """`value` with every intrinsic the scope can answer replaced by its result."""
    result = _resolve(value, scope)
    return None if result is _REMOVED else result


def is_resolved(value: Any) -> bool:
    if isinstance(value, dict):
        return not _intrinsic(value) and all(is_resolved(item) for item in value.values())
    if isinstance(value, list):
        return all(is_resolved(item) for item in value)
    return True


def _intrinsic(value: dict[str, Any]) -> str | None:
    if len(value) != 1:
        return None
    (key,) = value
    return key if key in ("Ref", "Condition") or key.startswith("Fn::") else None


def _resolve(value: Any, scope: Scope) -> Any:
    if isinstance(value, list):
        items = [_resolve(item, scope) for item in value]
        return [item for item in items if item is not _REMOVED]
    if not isinstance(value, dict):
        return value
    name = _intrinsic(value)
    if name is None or name == "Condition":
        entries = {key: _resolve(item, scope) for key, item in value.items()}
        return {key: item for key, item in entries.items() if item is not _REMOVED}
    argument = value[name]
    handler = _FUNCTIONS.get(name)
    if handler is None:
        return value
    return handler(argument, scope, value)


def _ref(name: Any, scope: Scope, node: dict[str, Any]) -> Any:
    if name == NO_VALUE:
        return _REMOVED
    if name in scope.parameters:
        return scope.parameters[name]
    found = scope.ref(name)
    return node if found is None else found


def _get_att(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    # The short form `!GetAtt Queue.Arn` arrives as "Queue.Arn" from some loaders.
    parts = argument.split(".", 1) if isinstance(argument, str) else _resolve(argument, scope)
    if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
        return node
    found = scope.get_att(parts[0], parts[1])
    return node if found is None else found


def _sub(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    if isinstance(argument, list) and len(argument) == 2:
        text, variables = argument[0], _resolve(argument[1], scope)
    else:
        text, variables = argument, {}
    if not isinstance(text, str) or not isinstance(variables, dict):
        return node
    unresolved = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            value = variables[name]
        elif name in scope.parameters:
            value = scope.parameters[name]
        elif "." in name:
            value = scope.get_att(*name.split(".", 1))
        else:
            value = scope.ref(name)
        if value is None or not is_resolved(value):
            unresolved = True
            return match.group(0)
        return as_text(value)

    result = _SUB_PLACEHOLDER.sub(substitute, text)
    return node if unresolved else result


def _if(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    if not (isinstance(argument, list) and len(argument) == 3):
        return node
    chosen = _condition(argument[0], scope)
    if chosen is None:
        return node
    return _resolve(argument[1] if chosen else argument[2], scope)


def _condition(name: Any, scope: Scope) -> bool | None:
    if not isinstance(name, str) or name not in scope.conditions:
        return None
    return _truth(scope.conditions[name], scope)


def _truth(expression: Any, scope: Scope) -> bool | None:
    """A condition's value, or None when it depends on something not known yet."""
    if isinstance(expression, bool):
        return expression
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    ((name, argument),) = expression.items()
    if name == "Condition":
        return _condition(argument, scope)
    if name == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
        left, right = (_resolve(side, scope) for side in argument)
        if not (is_resolved(left) and is_resolved(right)):
            return None
        return as_text(left) == as_text(right)
    if name in ("Fn::Not", "Fn::And", "Fn::Or") and isinstance(argument, list):
        values = [_truth(item, scope) for item in argument]
        if any(value is None for value in values):
            return None
        if name == "Fn::Not":
            return not values[0]
        return all(values) if name == "Fn::And" else any(values)
    return None


def _join(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    resolved = _resolve(argument, scope)
    if not (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], list)):
        return node
    separator, items = resolved
    if not (isinstance(separator, str) and is_resolved(items)):
        return {"Fn::Join": resolved}
    return separator.join(as_text(item) for item in items)


def _select(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    resolved = _resolve(argument, scope)
    if not (isinstance(resolved, list) and len(resolved) == 2 and isinstance(resolved[1], list)):
        return {"Fn::Select": resolved} if isinstance(resolved, list) else node
    index, items = resolved
    try:
        return items[int(index)]
    except (TypeError, ValueError, IndexError):
        return {"Fn::Select": resolved}


def _split(argument: Any, scope: Scope, node: dict[str, Any]) -> Any:
    resolved = _resolve(argument, scope)
    if isinstance(resolved, list) and len(resolved) == 2 and all(isinstance(part, str) for part in resolved):
        return resolved[1].split(resolved[0])
    return {"Fn::Split": resolved} if isinstance(resolved, list) else node


def referenced_id(reference: Any) -> str | None:
    """The resource named by `!Ref X` or `!GetAtt X.Attr`."""
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        target = reference["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
    return None


def as_text(value: Any) -> str:
    """A scalar as CloudFormation renders it inside a string (or an environment variable): booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_FUNCTIONS: dict[str, Callable[[Any, Scope, dict[str, Any]], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
}
