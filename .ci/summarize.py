#!/usr/bin/python3
"""Sums every test case meson ran, from its testlog.json files.

A TAP test counts each of its `ok` / `not ok` lines (a `# SKIP` is a
skip); each integration test (one per file) counts the cases in its JUnit
XML; any other
test counts once.  Prints one line: `N passed, N failed, N skipped`.
Exits 1 when something failed.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

TAP_LINE = re.compile(r'^(not ok|ok)\b(.*)$')


def count_tap(text):
    passed = failed = skipped = 0
    for line in text.splitlines():
        m = TAP_LINE.match(line.strip())
        if not m:
            continue
        directive = m.group(2)
        if re.search(r'#\s*SKIP', directive, re.I):
            skipped += 1
        elif m.group(1) == 'ok' or re.search(r'#\s*TODO', directive, re.I):
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def count_junit(path):
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    for case in root.iter('testcase'):
        if case.find('failure') is not None or case.find('error') is not None:
            failed += 1
        elif case.find('skipped') is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in paths:
        if not os.path.exists(path):
            print(f'summarize: {path} is missing: counted as one failure', file=sys.stderr)
            total[1] += 1
            continue
        build = os.path.dirname(os.path.dirname(path))
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                result = rec.get('result')
                name = rec.get('name', '')
                counts = None
                short = name.split('/ ')[-1].strip()
                if short == 'integration' or short.startswith('integration-'):
                    junit = os.path.join(build, 'tests', short + '-junit.xml')
                    if os.path.exists(junit):
                        counts = list(count_junit(junit))
                        # the run itself failing (crash, timeout) is a failure too
                        if result not in ('OK', 'SKIP') and counts[1] == 0:
                            counts[1] += 1
                elif rec.get('protocol') == 'tap' or re.search(r'^1\.\.\d+', rec.get('stdout') or '', re.M):
                    counts = list(count_tap(rec.get('stdout') or ''))
                    if result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and counts[1] == 0:
                        counts[1] += 1
                if counts is None or sum(counts) == 0:
                    if result == 'OK':
                        counts = [1, 0, 0]
                    elif result == 'SKIP':
                        counts = [0, 0, 1]
                    else:
                        counts = [0, 1, 0]
                for i in range(3):
                    total[i] += counts[i]
    print(f'{total[0]} passed, {total[1]} failed, {total[2]} skipped')
    return 1 if total[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
