"""A job timeout as rq and celery raise it: a SIGALRM handler raising an exception of the
application's. Here the signal arrives while the probe resolves a function it has not seen
(the application patched os.path.realpath to send it then): the probe must pass the
application's exception on, not swallow it, and say so in its manifest."""

import os
import os.path
import signal
import tempfile


class JobTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise JobTimeout("the job ran out of time")


signal.signal(signal.SIGALRM, on_alarm)
real_realpath = os.path.realpath
armed = [False]


def realpath(path, *args, **kwargs):
    if armed[0]:
        armed[0] = False
        os.kill(os.getpid(), signal.SIGALRM)  # handled at the next bytecode
    return real_realpath(path, *args, **kwargs)


os.path.realpath = realpath
source = tempfile.NamedTemporaryFile("w", suffix="_job.py", delete=False)
source.write("def job():\n    return 'done'\n")
source.close()
namespace = {}
code = compile(open(source.name).read(), source.name, "exec")
armed[0] = True
try:
    exec(code, namespace)  # noqa: S102 - the probe resolves this new code: the alarm goes off
    outcome = namespace["job"]()
except JobTimeout as exc:
    outcome = f"timeout: {exc}"
finally:
    os.unlink(source.name)
print(outcome)
