"""Running test code as a UID with no passwd entry (an image run under an arbitrary UID, as
OpenShift does), for the identity tests of both tiers.

The code runs in a forked child that drops to that UID: a fork, not an exec, because the test's
Python lives where that UID may not read."""

from __future__ import annotations

import os
import pwd
import traceback
from collections.abc import Callable

NOBODY = 54321  # no passwd entry here
# getpass.getuser() reads these before the passwd file: a test clears them.
USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME", "POD_ID", "POD_NAME")


def has_no_passwd_entry(uid: int = NOBODY) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def can_run_as_nobody() -> bool:
    return os.getuid() == 0 and has_no_passwd_entry()


def run_as_nobody(work: Callable[[], None]) -> tuple[int, str]:
    """``work()`` in a child as NOBODY; its exit code and, when it raised, the traceback."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            work()
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return os.waitstatus_to_exitcode(status), pipe.read().decode()
