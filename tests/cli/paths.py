"""Output paths that cannot be written, for the tests of the command line's early checks.

A folder is made unwritable with ``chmod 0o555``; root ignores permission bits, so as root
the folder is made immutable instead (``chattr +i``, which binds root too). Either way
``os.access(folder, os.W_OK)`` is then False and writing into it fails for real.
"""

import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def unwritable_folder(path):
    """Create the folder ``path`` and make it unwritable while the context lasts."""
    path.mkdir(parents=True, exist_ok=True)
    immutable = False
    path.chmod(0o555)
    try:
        if os.access(path, os.W_OK) and shutil.which("chattr"):
            immutable = subprocess.run(["chattr", "+i", str(path)],
                                       capture_output=True).returncode == 0
        if os.access(path, os.W_OK):
            pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755)
