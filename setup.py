"""Builds josef's optional C speedups; everything else is in pyproject.toml.

The extension is optional: without a compiler josef installs and runs on its pure-Python
code paths, which the tests check against the C ones.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "josef._core._speedups", ["src/josef/_core/_speedups.c"], optional=True, extra_compile_args=["-O2"]
        ),
    ]
)
