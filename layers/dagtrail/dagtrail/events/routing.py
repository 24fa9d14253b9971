"""Which functions (or state machines) in template.yaml an event reaches, as on AWS.

Routes come from the template itself, so local mode, `dagtrail events route` and the tests
follow the same wiring the deployed stack has:

- AWS::Events::Rule EventPattern → each target;
- SAM `Events:` of Type EventBridgeRule / CloudWatchEvent (Pattern), S3 (classic
  notification records), SQS (queue records) on functions and state machines;
- AWS::S3::Bucket NotificationConfiguration LambdaConfigurations (classic records);
- AWS::Lambda::EventSourceMapping (SQS queue records);
- AWS::Scheduler::Schedule whose Input carries `<aws.scheduler.schedule-arn>` → its target;
- a state machine's DefinitionSubstitutions naming a function: the Task payloads that
  machine sends it (`execution_arn` of one of the machine's executions and a task token).

References to this stack's resources (!Ref, !GetAtt, !Sub) resolve to physical names the
way CloudFormation would derive them from the template's name properties, for a stack
named `stack_name` in `account`/`region` (defaults: the names the samples in events/ use).
`resolved` overrides any of them: keys are logical ids (Ref), `Logical.Attribute`
(GetAtt), parameter names, or pseudo parameters (`AWS::StackName`, ...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from dagtrail.errors import DagtrailError
from dagtrail.events.patterns import EventPatternError, matcher

__all__ = ["DEFAULT_PSEUDO", "Route", "RoutingError", "load_routes", "load_template", "route"]

DEFAULT_PSEUDO: dict[str, str] = {
    "AWS::StackName": "dagtrail-dev",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class RoutingError(DagtrailError):
    """template.yaml could not be read, or a route in it could not be resolved."""


@dataclass(frozen=True)
class Route:
    target: str   # logical id of the function or state machine invoked
    via: str      # what delivers it: the rule, schedule, queue mapping or event source
    pattern: Mapping[str, Any]
    test: Callable[[Any], bool]


def route(event: Any, template_path: str | os.PathLike[str] = "template.yaml",
          resolved: Mapping[str, Any] | None = None) -> list[str]:
    """Logical ids of the targets `event` reaches, in template order, each once."""
    out: list[str] = []
    for r in load_routes(template_path, resolved):
        if r.target not in out and r.test(event):
            out.append(r.target)
    return out


def load_routes(template_path: str | os.PathLike[str] = "template.yaml",
                resolved: Mapping[str, Any] | None = None) -> tuple[Route, ...]:
    path = Path(template_path).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise RoutingError(f"{template_path}: cannot read template ({exc.strerror})") from None
    frozen = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in (resolved or {}).items()))
    # Keyed on mtime and size so an edited template is parsed again, an unchanged one never.
    return _routes(str(path), stat.st_mtime_ns, stat.st_size, frozen)


@lru_cache(maxsize=16)
def _routes(path: str, _mtime: int, _size: int, frozen: tuple[tuple[str, str], ...]) -> tuple[Route, ...]:
    template = load_template(path)
    resolver = _Resolver(template, {k: json.loads(v) for k, v in frozen}, path)
    routes: list[Route] = []
    for logical_id, resource in resolver.resources.items():
        if not resolver.exists(logical_id):
            continue
        for target, pattern in _routes_of(logical_id, resource, resolver):
            try:
                test = matcher(pattern)
            except EventPatternError as exc:
                raise RoutingError(f"{path}: {logical_id}: {exc}") from None
            routes.append(Route(target=target, via=logical_id, pattern=pattern, test=test))
    return tuple(routes)


def _routes_of(logical_id: str, resource: Mapping[str, Any], r: _Resolver):
    kind = resource.get("Type", "")
    props = resource.get("Properties") or {}
    if kind == "AWS::Events::Rule":
        if "EventPattern" not in props or r.value(props.get("State", "ENABLED")) == "DISABLED":
            return
        pattern = _json(r.value(props["EventPattern"]))
        for target in props.get("Targets") or []:
            if (name := r.logical_of(target.get("Arn"))) is not None:
                yield name, pattern
    elif kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        for event in (props.get("Events") or {}).values():
            yield from _sam_event(logical_id, event, r)
        if kind == "AWS::Serverless::StateMachine":
            yield from _task_invocations(props, r, "Name")
    elif kind == "AWS::StepFunctions::StateMachine":
        yield from _task_invocations(props, r, "StateMachineName")
    elif kind == "AWS::S3::Bucket":
        notifications = props.get("NotificationConfiguration") or {}
        bucket = r.value({"Ref": logical_id})
        for config in notifications.get("LambdaConfigurations") or []:
            if (name := r.logical_of(config.get("Function"))) is not None:
                yield name, _classic_s3(bucket, [config.get("Event")], config.get("Filter"), r)
    elif kind == "AWS::Lambda::EventSourceMapping":
        source = r.value(props.get("EventSourceArn", ""))
        name = r.logical_of(props.get("FunctionName"))
        if name is not None and isinstance(source, str) and ":sqs:" in source:
            yield name, _sqs(source)
    elif kind == "AWS::Scheduler::Schedule":
        if r.value(props.get("State", "ENABLED")) == "DISABLED":
            return
        target = props.get("Target") or {}
        name = r.logical_of(target.get("Arn"))
        raw = r.value(target.get("Input", ""))
        if name is not None and isinstance(raw, str) and "<aws.scheduler.schedule-arn>" in raw:
            yield name, _schedule_pattern(_json(raw), r.value({"Fn::GetAtt": [logical_id, "Arn"]}))


def _sam_event(logical_id: str, event: Mapping[str, Any], r: _Resolver):
    kind, props = event.get("Type"), event.get("Properties") or {}
    if kind in ("EventBridgeRule", "CloudWatchEvent") and "Pattern" in props:
        if r.value(props.get("State", "ENABLED")) != "DISABLED" and props.get("Enabled", True) is not False:
            yield logical_id, _json(r.value(props["Pattern"]))
    elif kind == "S3":
        events = r.value(props.get("Events"))
        yield logical_id, _classic_s3(r.value(props.get("Bucket")), events if isinstance(events, list) else [events],
                                      props.get("Filter"), r)
    elif kind == "SQS":
        yield logical_id, _sqs(r.value(props.get("Queue")))


def _task_invocations(props: Mapping[str, Any], r: _Resolver, name_key: str):
    name = r.value(props.get(name_key)) if props.get(name_key) else None
    if not name:
        return
    arn_prefix = f"arn:{r.pseudo('AWS::Partition')}:states:{r.pseudo('AWS::Region')}:" \
                 f"{r.pseudo('AWS::AccountId')}:execution:{name}:"
    for value in (props.get("DefinitionSubstitutions") or {}).values():
        if (function := r.logical_of(value)) is not None:
            yield function, {"token": [{"exists": True}], "execution_arn": [{"prefix": arn_prefix}]}


def _classic_s3(bucket: Any, events: list[Any], filter_: Any, r: _Resolver) -> dict[str, Any]:
    names: list[Any] = []
    for e in events:
        e = str(r.value(e)).removeprefix("s3:")
        names.append({"prefix": e[:-1]} if e.endswith("*") else e)
    affix = {"prefix": "", "suffix": ""}
    for rule in ((r.value(filter_) or {}).get("S3Key") or {}).get("Rules") or []:
        affix[str(rule["Name"]).lower()] = str(rule["Value"])
    star = _escape_wildcard(affix["prefix"]) + "*" + _escape_wildcard(affix["suffix"])
    return {"Records": {"eventSource": ["aws:s3"], "eventName": names,
                        "s3": {"bucket": {"name": [bucket]}, "object": {"key": [{"wildcard": star}]}}}}


def _sqs(queue_arn: Any) -> dict[str, Any]:
    return {"Records": {"eventSource": ["aws:sqs"], "eventSourceARN": [queue_arn]}}


def _schedule_pattern(payload: Any, schedule_arn: str) -> dict[str, Any]:
    """The schedule's Input as a pattern: literals exact, context attributes by their kind."""
    if not isinstance(payload, dict):
        return {"schedule_arn": [schedule_arn]}
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if value == "<aws.scheduler.schedule-arn>":
            out[key] = [schedule_arn]
        elif isinstance(value, str) and re.fullmatch(r"<aws\.scheduler\.[a-z-]+>", value):
            out[key] = [{"exists": True}]
        elif isinstance(value, dict) and value:
            out[key] = _schedule_pattern(value, schedule_arn)
        elif not isinstance(value, dict | list):
            out[key] = [value]
    return out


def _escape_wildcard(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RoutingError(f"not JSON: {value[:60]!r} ({exc.msg})") from None
    return value


# ── template loading ──

class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) as long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """template.yaml as long-form JSON-like data (short tags become Ref / Fn::X)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except OSError as exc:
        raise RoutingError(f"{path}: cannot read template ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RoutingError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise RoutingError(f"{path}: not a CloudFormation template (no Resources)")
    return doc


# ── intrinsic functions ──

_NO_VALUE = object()

# How CloudFormation turns a resource's name into its Ref / GetAtt values, per type.
# name_keys: properties holding the physical name; ref/atts: templates over {name} and pseudo params.
_TYPES: dict[str, dict[str, Any]] = {
    "AWS::S3::Bucket": {"name_keys": ["BucketName"], "ref": "{name}",
                        "atts": {"Arn": "arn:{p}:s3:::{name}"}},
    "AWS::Batch::JobQueue": {"name_keys": ["JobQueueName"], "ref": "arn:{p}:batch:{r}:{a}:job-queue/{name}",
                             "atts": {"JobQueueArn": "arn:{p}:batch:{r}:{a}:job-queue/{name}"}},
    "AWS::Batch::JobDefinition": {"name_keys": ["JobDefinitionName"],
                                  "ref": "arn:{p}:batch:{r}:{a}:job-definition/{name}:1"},
    "AWS::Batch::ComputeEnvironment": {"name_keys": ["ComputeEnvironmentName"],
                                       "ref": "arn:{p}:batch:{r}:{a}:compute-environment/{name}"},
    "AWS::ECS::Cluster": {"name_keys": ["ClusterName"], "ref": "{name}",
                          "atts": {"Arn": "arn:{p}:ecs:{r}:{a}:cluster/{name}"}},
    "AWS::ECS::TaskDefinition": {"name_keys": ["Family"], "ref": "arn:{p}:ecs:{r}:{a}:task-definition/{name}:1"},
    "AWS::Serverless::StateMachine": {"name_keys": ["Name"], "ref": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
                                      "atts": {"Arn": "arn:{p}:states:{r}:{a}:stateMachine:{name}", "Name": "{name}"}},
    "AWS::StepFunctions::StateMachine": {"name_keys": ["StateMachineName"],
                                         "ref": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
                                         "atts": {"Arn": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
                                                  "Name": "{name}"}},
    "AWS::CloudWatch::Alarm": {"name_keys": ["AlarmName"], "ref": "{name}",
                               "atts": {"Arn": "arn:{p}:cloudwatch:{r}:{a}:alarm:{name}"}},
    "AWS::SQS::Queue": {"name_keys": ["QueueName"], "ref": "https://sqs.{r}.{u}/{a}/{name}",
                        "atts": {"Arn": "arn:{p}:sqs:{r}:{a}:{name}", "QueueName": "{name}",
                                 "QueueUrl": "https://sqs.{r}.{u}/{a}/{name}"}},
    "AWS::DynamoDB::Table": {"name_keys": ["TableName"], "ref": "{name}",
                             "atts": {"Arn": "arn:{p}:dynamodb:{r}:{a}:table/{name}"}},
    "AWS::SNS::Topic": {"name_keys": ["TopicName"], "ref": "arn:{p}:sns:{r}:{a}:{name}",
                        "atts": {"TopicArn": "arn:{p}:sns:{r}:{a}:{name}", "TopicName": "{name}"}},
    "AWS::Serverless::Function": {"name_keys": ["FunctionName"], "ref": "{name}",
                                  "atts": {"Arn": "arn:{p}:lambda:{r}:{a}:function:{name}"}},
    "AWS::Lambda::Function": {"name_keys": ["FunctionName"], "ref": "{name}",
                              "atts": {"Arn": "arn:{p}:lambda:{r}:{a}:function:{name}"}},
    "AWS::Events::Rule": {"name_keys": ["Name"], "ref": "{name}",
                          "atts": {"Arn": "arn:{p}:events:{r}:{a}:rule/{name}"}},
    "AWS::Scheduler::Schedule": {"name_keys": ["Name"], "ref": "{name}",
                                 "atts": {"Arn": "arn:{p}:scheduler:{r}:{a}:schedule/{group}/{name}"}},
    "AWS::Logs::LogGroup": {"name_keys": ["LogGroupName"], "ref": "{name}",
                            "atts": {"Arn": "arn:{p}:logs:{r}:{a}:log-group:{name}:*"}},
}


class _Resolver:
    def __init__(self, template: Mapping[str, Any], resolved: Mapping[str, Any], path: str) -> None:
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self._parameters: dict[str, Any] = template.get("Parameters") or {}
        self._conditions: dict[str, Any] = template.get("Conditions") or {}
        self._resolved = dict(resolved)
        self._path = path
        self._condition_cache: dict[str, bool] = {}

    # What is in the template at all, under its conditions.
    def exists(self, logical_id: str) -> bool:
        condition = self.resources.get(logical_id, {}).get("Condition")
        return condition is None or self.condition(condition)

    def pseudo(self, name: str) -> str:
        return str(self._resolved.get(name, DEFAULT_PSEUDO.get(name, "")))

    def logical_of(self, expr: Any) -> str | None:
        """The logical id an ARN expression points at (!GetAtt X.Arn, !Ref X), if one of ours."""
        if isinstance(expr, Mapping):
            if "Fn::GetAtt" in expr:
                target = expr["Fn::GetAtt"][0]
            elif "Ref" in expr:
                target = expr["Ref"]
            else:
                return None
            return target if target in self.resources and self.exists(target) else None
        return None

    def value(self, expr: Any) -> Any:
        out = self._eval(expr)
        return None if out is _NO_VALUE else out

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self._conditions:
                raise RoutingError(f"{self._path}: unknown condition {name!r}")
            self._condition_cache[name] = bool(self._eval(self._conditions[name]))
        return self._condition_cache[name]

    def _eval(self, expr: Any) -> Any:
        if isinstance(expr, list):
            return [v for v in (self._eval(e) for e in expr) if v is not _NO_VALUE]
        if not isinstance(expr, Mapping):
            return expr
        if len(expr) == 1:
            (key, arg), = expr.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        return {k: v for k, v in ((k, self._eval(v)) for k, v in expr.items()) if v is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            logical, attribute = (arg.split(".", 1) if isinstance(arg, str) else arg)
            return self._get_att(logical, self._eval(attribute))
        if name == "Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {k: self._eval(v) for k, v in variables.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub_var(m.group(1), values), text)
        if name == "If":
            condition, yes, no = arg
            return self._eval(yes if self.condition(condition) else no)
        if name == "Join":
            sep, items = arg
            return str(self._eval(sep)).join(str(v) for v in self._eval(items))
        if name == "Split":
            sep, text = arg
            return str(self._eval(text)).split(str(self._eval(sep)))
        if name == "Select":
            index, items = arg
            return self._eval(items)[int(self._eval(index))]
        if name == "Equals":
            a, b = (self._eval(v) for v in arg)
            return str(a) == str(b)
        if name == "Not":
            return not self._eval(arg[0])
        if name == "And":
            return all(self._eval(v) for v in arg)
        if name == "Or":
            return any(self._eval(v) for v in arg)
        if name == "ToJsonString":
            return json.dumps(self._eval(arg))
        raise RoutingError(f"{self._path}: cannot resolve Fn::{name} offline")

    def _sub_var(self, name: str, local: Mapping[str, Any]) -> str:
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in local:
            return str(local[name])
        if "." in name and not name.startswith("AWS::"):
            logical, attribute = name.split(".", 1)
            return str(self._get_att(logical, attribute))
        return str(self._ref(name))

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._resolved:
            return self._resolved[name]
        if name.startswith("AWS::"):
            if name not in DEFAULT_PSEUDO:
                raise RoutingError(f"{self._path}: cannot resolve {name} offline")
            return DEFAULT_PSEUDO[name]
        if name in self._parameters:
            return self._parameter(name)
        if name in self.resources:
            return self._derive(name, None)
        raise RoutingError(f"{self._path}: !Ref {name}: no such parameter or resource")

    def _parameter(self, name: str) -> Any:
        spec = self._parameters[name]
        if "Default" not in spec:
            raise RoutingError(f"{self._path}: parameter {name} has no default; pass it in resolved")
        default = spec["Default"]
        kind = str(spec.get("Type", "String"))
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            return [v for v in str(default).split(",") if v] if isinstance(default, str) else default
        return default

    def _get_att(self, logical: str, attribute: str) -> Any:
        key = f"{logical}.{attribute}"
        if key in self._resolved:
            return self._resolved[key]
        if logical not in self.resources:
            raise RoutingError(f"{self._path}: !GetAtt {key}: no such resource")
        return self._derive(logical, attribute)

    def _derive(self, logical: str, attribute: str | None) -> str:
        resource = self.resources[logical]
        kind = resource.get("Type", "")
        spec = _TYPES.get(kind)
        given = self._resolved.get(logical)
        if isinstance(given, str) and given.startswith("arn:") and attribute in (None, "Arn"):
            return given
        if spec is None:
            if attribute is None and given is not None:
                return str(given)
            raise RoutingError(f"{self._path}: cannot derive {logical}{'.' + attribute if attribute else ''} "
                               f"({kind}) offline; pass it in resolved")
        props = resource.get("Properties") or {}
        if isinstance(given, str) and not given.startswith("arn:"):
            name = given
        else:
            name = next((self.value(props[k]) for k in spec["name_keys"] if props.get(k)), None)
            # CloudFormation's generated names start with the stack name and logical id.
            name = name or f"{self.pseudo('AWS::StackName')}-{logical}"
        fmt = spec["ref"] if attribute is None else (spec.get("atts") or {}).get(attribute)
        if fmt is None:
            raise RoutingError(f"{self._path}: cannot derive {logical}.{attribute} ({kind}) offline; "
                               f"pass it in resolved")
        return fmt.format(name=name, p=self.pseudo("AWS::Partition"), r=self.pseudo("AWS::Region"),
                          a=self.pseudo("AWS::AccountId"), u=self.pseudo("AWS::URLSuffix"),
                          group=self.value(props.get("GroupName")) or "default")
