"""The package installs with pip from its directory into a fresh virtual
environment and imports from there (issue 14): /usr/bin/python3 -m venv
--system-site-packages sees Debian's python3-zmq, setuptools and wheel, so
nothing is fetched from the network (--no-index --no-build-isolation)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.abspath(os.path.join(HERE, ".."))


class TestPipInstall(unittest.TestCase):
    def test_install_into_venv_and_import(self):
        tmp = tempfile.mkdtemp(prefix="iogate-venv-")
        try:
            venv = os.path.join(tmp, "venv")
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            py = os.path.join(venv, "bin", "python")
            # build from a copy: pip must not leave build/ or *.egg-info in the tree
            src = os.path.join(tmp, "src")
            shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build",
                                                                    "*.egg-info"))
            r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                                "--disable-pip-version-check", "-q", src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
            self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
            code = ("import iogate, os, sys; "
                    "assert os.path.realpath(iogate.__file__).startswith(os.path.realpath(sys.prefix)), "
                    "iogate.__file__; "
                    "import importlib.metadata as md; "
                    "print(md.version('iogate'), iogate.__version__, iogate.Worker.__name__, "
                    "iogate.AsyncWorker.__name__, os.path.exists(os.path.join(os.path.dirname(iogate.__file__), "
                    "'py.typed')))")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            r = subprocess.run([py, "-c", code], cwd=tmp, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
            self.assertEqual(r.stdout.decode().split(), ["0.2.0", "0.2.0", "Worker", "AsyncWorker", "True"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
