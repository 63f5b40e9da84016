"""SPEC §14 naming, pinned with the worked examples of docs/graphs.md."""

from __future__ import annotations

import pytest

from stella_signals.pyscan import (
    clean_qualname,
    display_name,
    generic_purl,
    module_name_from_path,
    normalise_dist,
    pypi_purl,
    symbol_id,
)


def test_worked_examples_of_the_docs() -> None:
    assert symbol_id("", "app.cli", "main") == (
        "sym:python:D9gWL5hZJfbRJpqR7yh-mt31Rq50LeBAr7m19YWujDc"
    )
    assert symbol_id("requests", "requests.api", "get") == (
        "sym:python:xnTUl-szXeB4RJI0cWiVL3YtgGEFWpWuOZHKknlqe8E"
    )
    assert symbol_id("", "app.handlers", "make.wrapper") == (
        "sym:python:IVF4wwt0mfpJaygxqrlViHtwa1hln1_pNWV-khU7J9U"
    )
    assert symbol_id("", "app.handlers", "") == (
        "sym:python:hm3cpbfzQYokrGQ5Uc8Gr-L_MiSUTW3MNP9Anl9XNt4"
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<module>", ""),
        ("f", "f"),
        ("f.<locals>.g", "f.g"),
        ("C.m.<locals>.<lambda>", "C.m.<lambda>"),
        ("f.<locals>.C.<locals>.h", "f.C.h"),
        ("f.<locals>.<listcomp>.<lambda>", "f.<listcomp>.<lambda>"),
    ],
)
def test_qualname_drops_locals(raw: str, clean: str) -> None:
    assert clean_qualname(raw) == clean


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("main.py", "main"),
        ("app/cli.py", "app.cli"),
        ("pkg/__init__.py", "pkg"),
        ("pkg/sub/__init__.py", "pkg.sub"),
        ("bin/my-tool.py", None),
        ("pkg/data.txt", None),
        ("../../bin/x.py", None),
    ],
)
def test_module_names_from_paths(path: str, module: str | None) -> None:
    assert module_name_from_path(path) == module


def test_distribution_names_and_purls() -> None:
    assert normalise_dist("Jinja2") == "jinja2"
    assert normalise_dist("zope.interface") == "zope-interface"
    assert normalise_dist("Typing__Extensions") == "typing-extensions"
    assert pypi_purl("Typing_Extensions", "4.12.2") == "pkg:pypi/typing-extensions@4.12.2"
    assert pypi_purl("torch", "2.1.0+cpu") == "pkg:pypi/torch@2.1.0%2Bcpu"
    assert generic_purl("my project") == "pkg:generic/my%20project"
    assert display_name("app.cli", "") == "app.cli"
    assert display_name("app.cli", "Main.run") == "app.cli.Main.run"
