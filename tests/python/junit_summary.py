"""Reads JUnit XML files with junitparser (a JUnit reader written by nobody on this project)
and prints what it understood as one JSON object: per file, each suite's counts and each
case's class, name and results. tests/tests/junit.rs asserts on it.

Usage: junit_summary.py FILE...
"""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

KINDS = {Failure: "failure", Error: "error", Skipped: "skipped"}


def case(c):
    return {
        "classname": c.classname,
        "name": c.name,
        "results": [{"kind": KINDS.get(type(r), type(r).__name__), "message": r.message, "type": r.type} for r in c.result],
    }


def suite(s):
    return {"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors, "skipped": s.skipped, "cases": [case(c) for c in s]}


def main(paths):
    out = {}
    for p in paths:
        xml = JUnitXml.fromfile(p)
        # A file whose root is one <testsuite> reads as that suite; ours have <testsuites>.
        suites = list(xml) if isinstance(xml, JUnitXml) else [xml]
        out[p] = [suite(s) for s in suites]
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
