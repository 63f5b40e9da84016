"""Declared types: parameters, returns, class-level attribute declarations, Optional."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class Engine:
    def start(self) -> str:
        return "vroom"


class ElectricEngine(Engine):
    def start(self) -> str:
        return "hum"


@dataclass
class Car:
    engine: Engine
    spare: Optional[Engine] = None

    def drive(self) -> str:
        return self.engine.start()


def build() -> Car:
    return make()


def make():
    return Car(ElectricEngine())


def service(car: "Car", backup: Engine | None = None) -> None:
    car.drive()
    if backup is not None:
        backup.start()


def main() -> None:
    car = build()
    car.drive()
    service(car)


if __name__ == "__main__":
    main()
