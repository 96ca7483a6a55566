"""docs/errors.md lists every error a user can see, and is generated from the catalogue."""

from __future__ import annotations

import inspect
from pathlib import Path

from sqnflash import errors
from sqnflash.tools import errordoc

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def test_docs_errors_md_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == errordoc.render(), (
        "docs/errors.md is out of date: run `python -m sqnflash.tools.errordoc > docs/errors.md`")


def test_every_error_class_has_a_code_cause_and_advice_of_its_own() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.SqnflashError) and c is not errors.SqnflashError]
    for cls in classes:
        if cls.__subclasses__():
            continue  # a family (InputError, ...): its members carry the codes
        assert "code" in cls.__dict__, f"{cls.__name__} has no code of its own"
        assert cls.summary != errors.SqnflashError.summary, cls.__name__
        assert cls.advice.strip(), cls.__name__
        assert f"| {cls.code} | {cls.exit_code} | {cls.__name__} |" in errordoc.render()


def test_codes_and_exit_codes_are_unique_and_exits_avoid_shell_meanings() -> None:
    catalogue = list(errors.CATALOGUE.values())
    assert len({c.code for c in catalogue}) == len({c.exit_code for c in catalogue}) == \
        len(catalogue)
    for cls in catalogue:
        assert 2 <= cls.exit_code <= 255 and cls.exit_code not in (126, 127, 128), cls
