"""Compare two runs of LeRobot's own tests - as they are, and with the prefix swapped (`swap_prefix`) - and
print the counts the README quotes.

    python tests/real_lerobot/suite_report.py AS_IS.xml SWAPPED.xml [--json OUT]

A test is *in scope* unless it belongs to an area the README puts out of scope (`OUT_OF_SCOPE`): those areas
are LeRobot's, and with the prefix swapped such a test mostly checks that lerobot_stream does not do what it
says it does not do. Every in-scope test that passes as is and fails swapped is listed by name.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter

#: (pattern on "file::test", area). The file patterns follow LeRobot v0.6's test tree.
OUT_OF_SCOPE: list[tuple[str, str]] = [
    (r"^tests/annotations/|test_language", "language annotation"),
    (r"test_aggregate\.py", "dataset aggregation (dataset tools)"),
    (r"test_dataset_tools\.py", "dataset tools"),
    (r"datasets/test_streaming\.py", "streaming from the Hub (StreamingLeRobotDataset)"),
    (r"test_sampler\.py", "training sampler"),
    (r"quantile", "sampled (quantile) statistics"),
    (r"test_visualize_dataset\.py|^tests/scripts/", "LeRobot's scripts"),
    (r"^tests/(policies|processor|training|utils)/|test_control_robot\.py", "training side and robots"),
    (r"::\w*(hub|push|download|revision|snapshot)\w*", "the Hub"),
]
#: (pattern on the failure's message, area): tests of any file that fail for a reason out of scope - most of
#: LeRobot's dataset fixtures build a dataset by patching LeRobot's Hub download to write it.
OUT_OF_SCOPE_CAUSES: list[tuple[str, str]] = [
    (r"Only local datasets are supported", "the Hub (a fixture that downloads through a mocked Hub)"),
    (r"get_repo_versions|get_safe_version|snapshot_download|HfApi|huggingface_hub|HF_LEROBOT_HOME", "the Hub"),
]


def outcomes(path: str) -> dict[str, tuple[str, str]]:
    """test id ("file::name[params]") -> (passed / failed / skipped, the failure's message), from a pytest
    JUnit XML report."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        name = case.get("name", "")
        if not parts[0] and not case.get("classname"):  # a collection error: the module's path is the name
            parts, name = name.split("."), "<collection>"
        parts = parts[parts.index("tests") :] if "tests" in parts else parts
        while parts and parts[-1][:1].isupper():  # a test class
            parts.pop()
        test_id = "/".join(parts) + ".py::" + name
        failures = [child for child in case if child.tag in ("failure", "error")]
        skipped = any(child.tag == "skipped" for child in case)
        state = "failed" if failures else "skipped" if skipped else "passed"
        found[test_id] = (state, " ".join(f.get("message") or "" for f in failures))
    return found


def area(test_id: str, message: str = "") -> str | None:
    """The out-of-scope area a test belongs to, or fails in (its failure's ``message``); None: in scope."""
    for pattern, name in OUT_OF_SCOPE:
        if re.search(pattern, test_id, flags=re.IGNORECASE):
            return name
    for pattern, name in OUT_OF_SCOPE_CAUSES:
        if re.search(pattern, message):
            return name
    return None


def report(as_is: dict[str, tuple[str, str]], swapped: dict[str, tuple[str, str]]) -> dict:
    regressions = {
        t: message
        for t, (state, message) in sorted(swapped.items())
        if state == "failed" and as_is.get(t, ("",))[0] == "passed"
    }
    areas = {t: area(t, message) for t, message in regressions.items()}
    return {
        "as_is": dict(Counter(state for state, _ in as_is.values())),
        "swapped": dict(Counter(state for state, _ in swapped.values())),
        "fail_only_swapped": len(regressions),
        "out_of_scope": dict(Counter(a for a in areas.values() if a is not None)),
        "in_scope_failures": {t: regressions[t][:200] for t, a in areas.items() if a is None},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("as_is")
    parser.add_argument("swapped")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    result = report(outcomes(args.as_is), outcomes(args.swapped))

    def counts(c: dict) -> str:
        return ", ".join(f"{c.get(k, 0)} {k}" for k in ("passed", "failed", "skipped"))

    print(f"LeRobot's tests as they are:      {counts(result['as_is'])}")
    print(f"with the prefix swapped:          {counts(result['swapped'])}")
    print(f"pass as they are, fail swapped:   {result['fail_only_swapped']}")
    for name, count in sorted(result["out_of_scope"].items(), key=lambda item: -item[1]):
        print(f"  out of scope - {name}: {count}")
    print(f"  in scope: {len(result['in_scope_failures'])}")
    for test_id, message in result["in_scope_failures"].items():
        print(f"    {test_id}: {message.splitlines()[0][:100] if message else ''}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
