"""moto's UpdateItem, for the update expressions dagtrail writes, in one pass over a plan.

moto 5.2.5 validates an update expression by copying its tree and walking the copy ten
times (twice for a new item), then walks it again to execute. For expressions made only of
top-level `SET a = operand` (operand: a value, a top-level attribute, `if_not_exists(attribute,
value or attribute)`, `+`/`-` of operands), `REMOVE a` and `ADD a :number`, a plan compiled
once per expression computes the same new attribute values directly
(fast_update_items in this package applies them).

`changes` raises `Unsupported` wherever moto would refuse the update, and wherever the plan
does not model moto exactly: the caller then runs moto's own code, which answers (or
refuses) as moto does. moto's checks, and where the plan makes each one:
- one clause per kind, no reserved word as a plain attribute name, only the shapes above
  (`compile_plan`: otherwise no plan);
- every `:value` and `#name` defined, no attribute named twice, no key attribute in any path;
- no missing attribute used as a value (a missing first argument of `if_not_exists` is fine);
- `+`/`-` only of numbers, ADD only of a number to a number or a missing attribute;
- a SET of an attribute declared in AttributeDefinitions, written as a plain name, only of
  that type; no empty string or binary SET into a key or index attribute (moto checks the
  name as written, so `#u = :v` is not checked; neither are we);
- the item no larger than moto's limit after any single write (a bound on all of them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

# Operands: ("v", occurrence) a value, by the index of its occurrence in Plan.values;
# ("p", placeholder?, text) a top-level attribute; ("f", first, second) if_not_exists;
# ("+" | "-", left, right).
Operand = tuple

_MISSING = object()
ITEM_SIZE_LIMIT = 405000  # moto's LimitedSizeDict


class Unsupported(Exception):
    """Run moto's own code: the plan does not model this call, or moto would refuse it."""


@dataclass(frozen=True)
class Action:
    kind: str  # SET, REMOVE or ADD
    placeholder: bool  # `#a` (resolved through ExpressionAttributeNames) or a plain `a`
    text: str  # as written: moto's type and empty-string checks compare this, not the name
    operand: Operand | None


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]  # in the order moto executes them (after normalize())
    paths: tuple[tuple[bool, str], ...]  # every attribute in the expression, targets or operands
    values: tuple[str, ...]  # every `:value` occurrence, in tree order


def compile_plan(tree: Any) -> Plan | None:
    """The plan for a parsed update expression, or None where moto's own code must run."""
    from moto.dynamodb.parsing import ast_nodes as ast
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    for clause in (ast.UpdateExpressionAddClause, ast.UpdateExpressionRemoveClause, ast.UpdateExpressionSetClause):
        if len(tree.find_clauses([clause])) > 1:
            return None
    root = copy.deepcopy(tree)  # once per expression; moto's cached tree stays as it is
    root.normalize()  # the order moto executes in (REMOVE actions re-sorted)
    paths: list[tuple[bool, str]] = []
    values: list[str] = []
    reserved = ReservedKeywords.get_reserved_keywords()

    def path(node: Any) -> tuple[bool, str] | None:
        if type(node) is not ast.UpdateExpressionPath or len(node.children) != 1:
            return None
        element = node.children[0]
        if type(element) is ast.ExpressionAttributeName:
            ref = (True, element.get_attribute_name_placeholder())
        elif type(element) is ast.ExpressionAttribute:
            if element.get_attribute_name().upper() in reserved:
                return None
            ref = (False, element.get_attribute_name())
        else:
            return None
        paths.append(ref)
        return ref

    def value(node: Any) -> Operand | None:
        values.append(node.get_value_name())
        return ("v", len(values) - 1)

    def argument(node: Any) -> Operand | None:
        if type(node) is ast.ExpressionAttributeValue:
            return value(node)
        ref = path(node)
        return None if ref is None else ("p", *ref)

    def operand(node: Any) -> Operand | None:
        kind = type(node)
        if kind is ast.UpdateExpressionValue:
            if len(node.children) == 1:
                return operand(node.children[0])
            if len(node.children) == 3 and type(node.children[1]) is ast.ExpressionValueOperator:
                op = node.children[1].get_operator()
                left, right = operand(node.children[0]), operand(node.children[2])
                if op in ("+", "-") and left is not None and right is not None:
                    return (op, left, right)
            return None
        if kind is ast.UpdateExpressionFunction:
            if node.get_function_name() != "if_not_exists" or len(node.children) != 3:
                return None
            first, second = argument(node.children[1]), argument(node.children[2])
            return None if first is None or second is None else ("f", first, second)
        return argument(node)

    actions = []
    for node in root.children or ():
        kind = {ast.UpdateExpressionSetAction: "SET", ast.UpdateExpressionRemoveAction: "REMOVE",
                ast.UpdateExpressionAddAction: "ADD"}.get(type(node))
        if kind is None or len(node.children) != (1 if kind == "REMOVE" else 2):
            return None
        target = path(node.children[0])
        if target is None:
            return None
        action_operand = None
        if kind == "SET":
            action_operand = operand(node.children[1])
        elif kind == "ADD" and type(node.children[1]) is ast.ExpressionAttributeValue:
            action_operand = value(node.children[1])
        if action_operand is None and kind != "REMOVE":
            return None
        actions.append(Action(kind, *target, action_operand))
    if not actions:
        return None
    return Plan(tuple(actions), tuple(paths), tuple(values))


def changes(plan: Plan, names: dict[str, str] | None, values: dict[str, Any] | None,
            attrs: dict[str, Any], size: int, table: Any) -> list[tuple[str, str, Any]]:
    """(kind, attribute, new value) per action, in moto's order, for an item whose attributes
    are `attrs` (for a new item: none) and whose size with its keys is `size`. Reads only;
    raises Unsupported (or anything moto's own code would) where moto's code must run."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    names = names or {}
    keys = table.table_key_attrs
    for placeholder, text in plan.paths:
        resolved = names[text] if placeholder else text
        if resolved in keys or text in keys or names.get(text, text) in keys:
            raise Unsupported("a key attribute")
    # One DynamoType per occurrence, as moto makes one per node: two attributes SET from
    # the same `:value` must not share an object that a later ADD would change in place.
    built = [DynamoType(values[name]) for name in plan.values] if plan.values else []

    def evaluate(op: Operand) -> Any:
        kind = op[0]
        if kind == "v":
            return built[op[1]]
        if kind == "p":
            return attrs.get(names[op[2]] if op[1] else op[2], _MISSING)
        if kind == "f":
            first = evaluate(op[1])
            return evaluate(op[2]) if first is _MISSING else first
        left, right = evaluate(op[1]), evaluate(op[2])
        if left is _MISSING or right is _MISSING:
            raise Unsupported("a missing attribute as an operand")
        return left + right if kind == "+" else left - right

    out: list[tuple[str, str, Any]] = []
    seen: set[str] = set()
    bound = size
    for action in plan.actions:
        name = names[action.text] if action.placeholder else action.text
        if name in seen:
            raise Unsupported("an attribute named twice")
        seen.add(name)
        if action.kind == "REMOVE":
            out.append(("REMOVE", name, None))
            continue
        if action.kind == "SET":
            new = evaluate(action.operand)
            if new is _MISSING:
                raise Unsupported("a missing attribute as a value")
            for definition in table.attr:
                if definition["AttributeName"] == action.text and definition["AttributeType"] != new.type:
                    raise Unsupported("a type other than the attribute's definition")
            if not new.value and new.type in ("S", "B") and action.text in table.attribute_keys:
                raise Unsupported("an empty key or index attribute")
        else:
            added = evaluate(action.operand)
            current = attrs.get(name, _MISSING)
            if added.type != "N" or (current is not _MISSING and current.type != "N"):
                raise Unsupported("ADD other than of numbers")
            new = (DynamoType({"N": "0"}) if current is _MISSING else current) + added
        bound += bytesize(name) + new.size()
        out.append((action.kind, name, new))
    if bound > ITEM_SIZE_LIMIT:
        raise Unsupported("an item near the size limit")
    return out
