"""EventBridge pattern semantics, case by case as EventBridge documents them."""

from __future__ import annotations

import pytest

from dagtrail.events.patterns import EventPatternError, matcher, matches

BATCH = {
    "source": "aws.batch",
    "detail-type": "Batch Job State Change",
    "resources": ["arn:aws:batch:us-east-1:1:job/a", "arn:aws:batch:us-east-1:1:job/b"],
    "detail": {
        "status": "FAILED",
        "jobQueue": "arn:aws:batch:us-east-1:1:job-queue/dagtrail-dev-spot",
        "attempts": [
            {"container": {"exitCode": 137}, "statusReason": "Host EC2 (instance i-1) terminated."},
            {"container": {"exitCode": 1}, "statusReason": "Essential container in task exited"},
        ],
        "retries": 2,
        "ratio": 0.5,
        "flag": True,
        "empty": "",
        "nothing": None,
        "ip": "10.0.3.7",
        "tags": {},
    },
}


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"source": ["aws.batch"]}, True),
    ({"source": ["aws.ecs"]}, False),
    ({"source": ["aws.ecs", "aws.batch"]}, True),                    # a list is OR
    ({"source": ["aws.batch"], "detail-type": ["Other"]}, False),     # fields are AND
    ({"detail": {"status": ["FAILED"]}}, True),                       # nested fields
    ({"detail": {"status": ["failed"]}}, False),                      # case-sensitive
    ({"detail": {"missing": ["x"]}}, False),
    ({"resources": ["arn:aws:batch:us-east-1:1:job/b"]}, True),       # array in the event: any element
    ({"resources": ["arn:aws:batch:us-east-1:1:job/c"]}, False),
    ({"detail": {"retries": [2]}}, True),
    ({"detail": {"retries": ["2"]}}, False),                          # "2" is not 2
    ({"detail": {"retries": [2.0]}}, True),                           # numbers compare by value
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [1]}}, False),                               # true is not 1
    ({"detail": {"retries": [True]}}, False),
    ({"detail": {"empty": [""]}}, True),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"empty": [None]}}, False),
    ({}, True),                                                       # the empty pattern matches all
])
def test_exact_values(pattern, expected):
    assert matches(pattern, BATCH) is expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"jobQueue": [{"prefix": "arn:aws:batch:us-east-1:1:job-queue/dagtrail-dev-"}]}}, True),
    ({"detail": {"jobQueue": [{"prefix": "arn:aws:batch:us-east-1:1:job-queue/other-"}]}}, False),
    ({"detail": {"jobQueue": [{"suffix": "-spot"}]}}, True),
    ({"detail": {"jobQueue": [{"suffix": "-fargate"}]}}, False),
    ({"detail": {"status": [{"prefix": {"equals-ignore-case": "fail"}}]}}, True),
    ({"detail": {"status": [{"suffix": {"equals-ignore-case": "LED"}}]}}, True),
    ({"detail": {"status": [{"equals-ignore-case": "failed"}]}}, True),
    ({"detail": {"status": [{"equals-ignore-case": "fail"}]}}, False),
    ({"detail": {"retries": [{"prefix": "2"}]}}, False),              # prefix is for strings only
])
def test_prefix_suffix_ignore_case(pattern, expected):
    assert matches(pattern, BATCH) is expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"status": [{"anything-but": "SUCCEEDED"}]}}, True),
    ({"detail": {"status": [{"anything-but": ["FAILED", "SUCCEEDED"]}]}}, False),
    ({"detail": {"retries": [{"anything-but": [2, 3]}]}}, False),
    ({"detail": {"retries": [{"anything-but": [3]}]}}, True),
    ({"detail": {"status": [{"anything-but": {"prefix": "FAIL"}}]}}, False),
    ({"detail": {"status": [{"anything-but": {"prefix": "SUCC"}}]}}, True),
    ({"detail": {"status": [{"anything-but": {"suffix": "ED"}}]}}, False),
    ({"detail": {"status": [{"anything-but": {"equals-ignore-case": ["failed"]}}]}}, False),
    ({"detail": {"status": [{"anything-but": {"wildcard": "F*D"}}]}}, False),
    ({"detail": {"status": [{"anything-but": {"wildcard": "S*"}}]}}, True),
    # an array in the event matches when any element is not excluded
    ({"resources": [{"anything-but": "arn:aws:batch:us-east-1:1:job/a"}]}, True),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),       # nothing there to be "but"
])
def test_anything_but(pattern, expected):
    assert matches(pattern, BATCH) is expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"retries": [{"numeric": [">", 1]}]}}, True),
    ({"detail": {"retries": [{"numeric": [">", 2]}]}}, False),
    ({"detail": {"retries": [{"numeric": [">=", 2, "<", 3]}]}}, True),
    ({"detail": {"retries": [{"numeric": [">", 0, "<=", 1]}]}}, False),
    ({"detail": {"retries": [{"numeric": ["=", 2]}]}}, True),
    ({"detail": {"ratio": [{"numeric": ["<", 0.6]}]}}, True),
    ({"detail": {"status": [{"numeric": [">", 0]}]}}, False),         # strings never match numeric
    ({"detail": {"flag": [{"numeric": ["=", 1]}]}}, False),           # nor do booleans
    # event arrays: any element in range (exit codes 137 and 1)
    ({"detail": {"attempts": {"container": {"exitCode": [{"numeric": [">", 100]}]}}}}, True),
    ({"detail": {"attempts": {"container": {"exitCode": [{"numeric": [">", 200]}]}}}}, False),
])
def test_numeric(pattern, expected):
    assert matches(pattern, BATCH) is expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"detail": {"status": [{"exists": True}]}}, True),
    ({"detail": {"status": [{"exists": False}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"nothing": [{"exists": True}]}}, True),              # null is a value
    ({"detail": {"tags": [{"exists": True}]}}, False),                # exists only sees leaves
    ({"detail": {"missing": [{"exists": False}, "x"]}}, True),
])
def test_exists(pattern, expected):
    assert matches(pattern, BATCH) is expected


@pytest.mark.parametrize(("wildcard", "value", "expected"), [
    ("heat-*/manifest.json", "heat-diffusion/run-1/manifest.json", True),
    ("*.json", "a/b.csv", False),
    ("a*b*c", "aXXbYYc", True),
    ("a*b*c", "aXXbYY", False),
    (r"literal\*star", "literal*star", True),
    (r"literal\*star", "literalXstar", False),
    ("dots.are.literal", "dotsXareXliteral", False),
    ("*", "", True),
])
def test_wildcard(wildcard, value, expected):
    assert matches({"key": [{"wildcard": wildcard}]}, {"key": value}) is expected


def test_cidr():
    assert matches({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, BATCH)
    assert not matches({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, BATCH)
    assert not matches({"detail": {"status": [{"cidr": "10.0.0.0/8"}]}}, BATCH)


def test_or_at_any_level():
    pattern = {"detail": {"$or": [{"status": ["SUCCEEDED"]}, {"retries": [{"numeric": [">", 1]}]}]}}
    assert matches(pattern, BATCH)
    pattern = {"$or": [{"source": ["aws.ecs"]}, {"detail": {"status": ["RUNNING"]}}]}
    assert not matches(pattern, BATCH)


def test_arrays_of_objects_flatten_across_elements():
    # EventBridge flattens arrays: each field is matched against all elements' values.
    pattern = {"detail": {"attempts": {"container": {"exitCode": [1]},
                                       "statusReason": [{"prefix": "Host EC2"}]}}}
    assert matches(pattern, BATCH)
    assert matches({"a": {"b": [1], "c": [2]}}, {"a": [{"b": 1}, {"c": 2}]})
    assert not matches({"a": {"b": [3]}}, {"a": [{"b": 1}, {"b": [2, [4]]}]})
    assert matches({"a": {"b": [4]}}, {"a": [{"b": 1}, {"b": [2, [4]]}]})   # nested arrays too


def test_object_pattern_does_not_match_a_leaf():
    assert not matches({"detail": {"status": {"x": ["FAILED"]}}}, BATCH)
    assert not matches({"detail": {"tags": ["x"]}}, BATCH)


def test_matcher_validates_once_and_is_reusable():
    is_spot_failure = matcher({"detail": {"jobQueue": [{"suffix": "-spot"}], "status": ["FAILED"]}})
    assert is_spot_failure(BATCH)
    assert not is_spot_failure({**BATCH, "detail": {**BATCH["detail"], "status": "RUNNING"}})


@pytest.mark.parametrize("pattern", [
    {"source": "aws.batch"},                       # leaves must be lists
    {"source": []},                                # empty list
    {"source": [{"prefix": 1}]},
    {"source": [{"prefix": "a", "suffix": "b"}]},  # one key per matcher object
    {"source": [{"regex": "a.*"}]},                # unknown matcher
    {"n": [{"numeric": [">"]}]},
    {"n": [{"numeric": ["~", 1]}]},
    {"n": [{"numeric": [">", "1"]}]},
    {"n": [{"exists": "yes"}]},
    {"n": [{"cidr": "not-a-network"}]},
    {"n": [{"anything-but": {"prefix": 1}}]},
    {"n": [{"anything-but": [{"prefix": "a"}]}]},
    {"$or": [{"a": ["b"]}]},                       # $or needs two alternatives
    {"n": [["nested"]]},
    ["not", "an", "object"],
])
def test_invalid_patterns_are_refused(pattern):
    with pytest.raises(EventPatternError):
        matches(pattern, BATCH)


def test_invalid_pattern_error_names_the_field():
    with pytest.raises(EventPatternError, match=r"detail\.status"):
        matches({"detail": {"status": "FAILED"}}, BATCH)
