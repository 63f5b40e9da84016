"""A service loop: calls some handlers, imports a module late, runs for WINDOWS * window."""

import importlib
import json
import sys
import time

from app import handlers

seconds = float(sys.argv[1])
results = [handlers.Api().get("a"), handlers.outer(), handlers.decorated(2), handlers.by_id()]
results.append(json.dumps({"x": 1}))
late_loaded = False
start = time.time()
total = 0
while time.time() - start < seconds:
    total = handlers.hot(total)
    if not late_loaded and time.time() - start > seconds / 2:
        late = importlib.import_module("app.late")
        results.append(late.f())
        late_loaded = True
    time.sleep(0.005)
print(json.dumps(results))
