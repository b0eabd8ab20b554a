"""Only carries the cffi hook; every other setting lives in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["libsiff/_build_ffi.py:ffibuilder"])
