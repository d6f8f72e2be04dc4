#!/usr/bin/python3
"""Runs the end-to-end and interoperability suites (unittest modules named test_*.py in
tests/e2e/ and tests/interop/) and prints one line per test. Skipped tests are reported
as skipped and never counted as passed. --summary FILE receives "passed failed"."""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class LineResult(unittest.TextTestResult):
    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def _line(self, status, test):
        ms = (time.monotonic() - getattr(self, "_t0", time.monotonic())) * 1000
        self.stream.write(f"{status:5} {test.id()} ({ms:.0f} ms)\n")
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line("ok", test)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line("FAIL", test)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line("ERROR", test)

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line("skip", test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary")
    ap.add_argument("-k", dest="pattern",
                    help="only tests whose id contains one of these space-separated words")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for d in ("tests/hub", "tests/e2e", "tests/interop"):
        path = os.path.join(ROOT, d)
        if os.path.isdir(path):
            suite.addTests(loader.discover(path, pattern="test_*.py", top_level_dir=path))
    if args.pattern:
        def flat(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from flat(t)
                else:
                    yield t
        words = args.pattern.split()
        suite = unittest.TestSuite(t for t in flat(suite) if any(w in t.id() for w in words))
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0, resultclass=LineResult)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"e2e: {passed} passed, {failed} failed, {len(result.skipped)} skipped")
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{passed} {failed}\n")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
