"""`make audit`: bandit on our code and pip-audit on our installed (pinned) dependencies.

Both must be clean apart from the reviewed findings of ``security-allowlist.toml``, each with its
reason. An allow-list entry whose finding is gone fails too, so the list never outlives its code.

pip-audit asks PyPI's JSON API for advisories (no other service). When PyPI cannot answer for
the packages (no network, or a mirror without the vulnerability data), the audit says so plainly:
the dependencies are then NOT audited. That fails only with ``AUDIT_REQUIRE_PYPI=1``, so that a
machine without PyPI's data can still run the rest of CI; a real finding always fails.
"""

import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOURCES = ["orgs", "kpis", "ratings", "integrations", "kpi_platform", "bench", "manage.py"]
NOT_SCANNED = ["*/tests/*", "*/migrations/*"]  # test code asserts and uses fixed passwords; never deployed
OWN_PROJECT = "kpi-platform"  # installed from this directory, not from PyPI


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603


def _bandit_entry_matches(entry: dict, test: str, path: str) -> bool:
    return entry["test"] == test and fnmatch.fnmatch(path, entry["path"])


def audit_code(allowed: list[dict]) -> list[str]:
    result = _run([str(BIN / "bandit"), "-q", "-r", *SOURCES, "-x", ",".join(NOT_SCANNED), "-f", "json"])
    report = json.loads(result.stdout)
    problems = [f"bandit could not read {error['filename']}: {error['reason']}" for error in report["errors"]]
    found = Counter((issue["test_id"], issue["filename"]) for issue in report["results"])
    used = set()
    for (test, path), count in sorted(found.items()):
        entry = next((e for e in allowed if _bandit_entry_matches(e, test, path)), None)
        if entry is None or count > entry.get("count", count):
            lines = [
                i["line_number"] for i in report["results"] if i["test_id"] == test and i["filename"] == path
            ]
            problems.append(
                f"bandit {test} in {path}, lines {lines}: fix it, or allow-list it with its reason"
            )
        else:
            used.add(id(entry))
    stale = [entry for entry in allowed if id(entry) not in used]
    problems += [f"allow-list entry with no bandit finding: {e['test']} {e['path']}" for e in stale]
    print(f"bandit: {sum(found.values())} findings, {len(problems)} not accepted")
    return problems


def audit_dependencies(allowed: list[dict]) -> list[str]:
    result = _run([str(BIN / "pip-audit"), "--progress-spinner", "off", "--format", "json"])
    if not result.stdout.strip():
        return [f"pip-audit failed: {result.stderr.strip()}"]
    dependencies = [d for d in json.loads(result.stdout)["dependencies"] if d["name"] != OWN_PROJECT]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    ignored = {(entry["package"], entry["id"]) for entry in allowed}
    problems = [
        f"pip-audit {package['name']} {package['version']}: {vuln['id']} (fixed in {vuln['fix_versions']})"
        for package in dependencies
        for vuln in package.get("vulns", [])
        if (package["name"], vuln["id"]) not in ignored
    ]
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {audited} of {len(dependencies)} packages audited, {len(problems)} vulnerable")
    if skipped:
        print(
            f"pip-audit: WARNING, {len(skipped)} packages were NOT audited: PyPI's vulnerability data is not"
            f" reachable from this machine (e.g. {skipped[0]['skip_reason']})"
        )
        if os.environ.get("AUDIT_REQUIRE_PYPI") == "1":
            problems.append("pip-audit could not audit every package and AUDIT_REQUIRE_PYPI=1")
    return problems


def main() -> int:
    allow_list = tomllib.loads((ROOT / "security-allowlist.toml").read_text())
    problems = audit_code(allow_list.get("bandit", [])) + audit_dependencies(allow_list.get("pip-audit", []))
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
