"""Imported by a tool only when its first import of the project failed:
this Python lacks the project (or its requirements), and the tool was
started as a script, so this folder is on its path. Says in one line
which Python to use and exits 1 (runkit/runtime.py, run by its path:
it needs only the standard library)."""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            os.pardir, "runkit", "runtime.py"))[
    "require_project"]()
# require_project returns only when nothing is missing: the failed import
# was a bug of the project, which the tool re-raises
