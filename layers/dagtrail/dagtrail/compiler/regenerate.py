"""Recompile every examples/*/workflow.yaml into statemachines/<workflow>.asl.json.

    python -m dagtrail.compiler.regenerate [--check] [--root DIR]

--check writes nothing and exits 1 when statemachines/ is out of date (what CI wants).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from dagtrail.compiler.machine import compile_workflow, to_json
from dagtrail.errors import DagtrailError, SpecError
from dagtrail.spec.loader import load_spec

SUFFIX = ".asl.json"


@dataclass(frozen=True)
class Plan:
    """What statemachines/ should hold, against what it holds."""

    expected: dict[Path, str]  # file -> text it should have
    stale: list[Path]  # compiled files no example produces any more

    def out_of_date(self) -> list[Path]:
        changed = [p for p, text in self.expected.items() if not p.exists() or p.read_text() != text]
        return sorted(changed + self.stale)


def repo_root() -> Path:
    """The checkout holding examples/ and statemachines/ (the library lives in layers/dagtrail/)."""
    checkout = Path(__file__).resolve().parents[4]
    return checkout if (checkout / "examples").is_dir() else Path.cwd()


def plan(root: Path) -> Plan:
    out_dir = root / "statemachines"
    expected: dict[Path, str] = {}
    sources: dict[str, Path] = {}
    for spec_path in sorted((root / "examples").glob("*/workflow.yaml")):
        spec = load_spec(spec_path)
        if spec.name in sources:
            raise SpecError(
                f"workflow name {spec.name!r} is also used by {sources[spec.name]}",
                file=str(spec_path), field="name",
            )
        sources[spec.name] = spec_path
        expected[out_dir / f"{spec.name}{SUFFIX}"] = to_json(compile_workflow(spec))
    stale = [p for p in sorted(out_dir.glob(f"*{SUFFIX}")) if p not in expected]
    return Plan(expected=expected, stale=stale)


def regenerate(root: Path) -> list[Path]:
    """Bring statemachines/ up to date; returns the files written or removed."""
    result = plan(root)
    changed = result.out_of_date()
    (root / "statemachines").mkdir(exist_ok=True)
    for path, text in result.expected.items():
        if path in changed:
            path.write_text(text)
    for path in result.stale:
        path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagtrail.compiler.regenerate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    try:
        if args.check:
            stale = plan(root).out_of_date()
            for path in stale:
                print(f"out of date: {path.relative_to(root)}", file=sys.stderr)
            if stale:
                print("run: make statemachines", file=sys.stderr)
            return 1 if stale else 0
        for path in regenerate(root):
            print(f"{'removed' if not path.exists() else 'wrote'} {path.relative_to(root)}")
    except DagtrailError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
