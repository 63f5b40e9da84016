"""Types of the compiled profiler (`_cprofile.c`, docs/adr/0009); built only where a C
compiler was found when the probe was installed."""

from types import CodeType, FrameType
from typing import Any, Callable

from stella_probe._identity import Symbol

class Core:
    def __init__(
        self,
        resolve: Callable[[Any, dict[str, Any]], Symbol],
        on: list[bool],
        limit: int,
        fail: Callable[[BaseException], None],
        park: Callable[[], None],
        clock: Callable[[], float],
    ) -> None: ...
    def cached(self) -> int: ...

class Recorder:
    def __init__(self, core: Core, disable: object = None) -> None: ...
    def py_start(self, code: CodeType, instruction_offset: int) -> object: ...
    def ignore(self, ident: int) -> None: ...
    def install(self) -> None: ...
    def take(self) -> tuple[dict[tuple[Symbol, str | None], list[Any]], int]: ...
    def __call__(self, frame: FrameType, event: str, arg: Any) -> None: ...
