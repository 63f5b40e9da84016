"""Takes sys.monitoring tool ids (argv[2]: "all", "profiler", or "others" -- the profiler's
and the two unassigned ones; a debugger or coverage got there first), then starts the probe
in discovery mode through its API (out: argv[1]), runs, stops it and prints which profiler
ran and who holds each tool id afterwards."""

import sys

from stella_probe import Config, start

TAKEN = {"all": range(6), "profiler": [sys.monitoring.PROFILER_ID], "others": [2, 3, 4]}
for tool in TAKEN[sys.argv[2]]:
    sys.monitoring.use_tool_id(tool, f"other-{tool}")


def work():
    return 1


def main():
    return work()


probe = start(Config(mode="discovery", out=sys.argv[1], sample=(3600.0, 0.0)))
main()
probe.stop()
print(probe.profiler_kind, [sys.monitoring.get_tool(tool) for tool in range(6)])
