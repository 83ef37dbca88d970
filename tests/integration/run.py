#!/usr/bin/env python3
"""Runs the integration tests against the binaries of one build directory.

usage: run.py [--build DIR] [PATTERN]
"""
import argparse
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("pattern", nargs="?", default="test_*.py")
args = ap.parse_args()
os.environ["DUNND_BUILD"] = args.build
sys.path.insert(0, here)
suite = unittest.defaultTestLoader.discover(here, pattern=args.pattern, top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
