"""Every ``c2pa.C2paError`` becomes a ProvenanceError with a hint; only pipeline/provenance imports c2pa."""

from __future__ import annotations

import re
from pathlib import Path

import c2pa
import pytest

from pipeline.errors import PipelineError, ProvenanceError
from pipeline.provenance._c2pa import C2PA_ERROR_KINDS, c2pa_error_kind, translate_c2pa_error

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"


def all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


C2PA_ERRORS = sorted(all_subclasses(c2pa.C2paError), key=lambda c: c.__name__)


def test_the_list_of_c2pa_errors_is_complete() -> None:
    # the typed errors c2pa-python 0.38 exposes as C2paError.<Name>, and any subclass it defines
    exposed = {name for name in dir(c2pa.C2paError)
               if isinstance(getattr(c2pa.C2paError, name), type)
               and issubclass(getattr(c2pa.C2paError, name), c2pa.C2paError)}
    assert exposed == set(C2PA_ERROR_KINDS)
    assert {c2pa_error_kind(cls("x")) for cls in C2PA_ERRORS} == set(C2PA_ERROR_KINDS)


@pytest.mark.parametrize("cls", [c2pa.C2paError, *C2PA_ERRORS], ids=lambda c: c.__name__)
def test_every_c2pa_error_maps_to_a_provenance_error(cls: type[Exception]) -> None:
    exc = cls("Something: went wrong in the native library")
    translated = translate_c2pa_error(exc, path=Path("clip.mp4"), doing="reading the manifest")
    assert isinstance(translated, ProvenanceError) and isinstance(translated, PipelineError)
    assert translated.message.startswith("clip.mp4: reading the manifest failed: ")
    assert "went wrong in the native library" in translated.message
    assert translated.hint
    assert translated.exit_code == 1


def test_only_the_provenance_package_imports_c2pa() -> None:
    importers = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                 if re.search(r"^\s*(import c2pa|from c2pa\b)", p.read_text("utf-8"), flags=re.MULTILINE)]
    assert importers == ["provenance/_c2pa.py"]
