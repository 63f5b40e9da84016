"""Takes sys.monitoring tool ids (argv[2]: "all", "profiler", "others" -- the two PEP 669
leaves unassigned --, or none with "cprofile"; a debugger or coverage got there first), then
starts the probe in discovery mode through its API (out: argv[1]), runs (with "cprofile",
under the application's own cProfile, started after the probe: PROFILER_ID on 3.12+), stops
it and prints which profiler ran and who holds each tool id afterwards."""

import sys

from stella_probe import Config, start

TAKEN = {"all": range(6), "profiler": [sys.monitoring.PROFILER_ID], "others": [3, 4]}
for tool in TAKEN.get(sys.argv[2], []):
    sys.monitoring.use_tool_id(tool, f"other-{tool}")


def work():
    return 1


def main():
    return work()


probe = start(Config(mode="discovery", out=sys.argv[1], sample=(3600.0, 0.0)))
if sys.argv[2] == "cprofile":
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    main()
    profile.disable()
else:
    main()
probe.stop()
print(probe.profiler_kind, [sys.monitoring.get_tool(tool) for tool in range(6)])
