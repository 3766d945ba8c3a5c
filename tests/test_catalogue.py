"""The planted-bug catalogue: complete, consistent with the sources, one reproducer per bug."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.errors import TargetError
from harness.target.catalogue import SURFACES, load_catalogue


def test_catalogue_covers_every_surface(target):
    c_bugs = [b for b in target.bugs if not b.in_binding]
    binding = [b for b in target.bugs if b.in_binding]
    assert len(c_bugs) >= 12 and len(binding) >= 2
    assert {b.surface for b in c_bugs} == set(SURFACES) - {"binding"}


def test_every_c_bug_has_its_switch_and_canaries_in_the_sources(target):
    source = "\n".join(p.read_text() for p in target.sources)
    for bug in target.bugs:
        if bug.in_binding:
            continue
        suffix = bug.macro_suffix
        assert f"KV_BUG_{suffix}" in source, bug.id
        assert f"KV_REACHED({suffix})" in source, bug.id
        assert f"KV_TRIGGERED({suffix})" in source, bug.id


def test_every_binding_bug_is_switched_in_the_binding(target):
    binding = target.binding.read_text()
    for bug in target.bugs:
        if bug.in_binding:
            assert f'"{bug.id}"' in binding, bug.id


def test_every_bug_has_exactly_one_reproducer(target):
    spec = importlib.util.spec_from_file_location("repro", target.root / "reproducers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {name for name in vars(module) if not name.startswith("_") and callable(vars(module)[name])}
    wanted = {bug.id.replace("-", "_") for bug in target.bugs}
    assert wanted <= names
    assert not {n for n in names - wanted if n.replace("_", "-") in {b.id for b in target.bugs}}


@pytest.mark.parametrize(("text", "message"), [
    ('[[bug]]\nid = "x"\n', "missing surface"),
    ('[[bug]]\nid="a"\nsurface="nope"\nkind="k"\nfunction="f"\ndescription="d"\n', "surface 'nope'"),
    ('[[bug]]\nid="a"\nsurface="strings"\nkind="k"\nfunction="f"\ndescription="d"\ncolour=1\n',
     "unknown keys"),
    ('[[bug]]\nid="clean"\nsurface="strings"\nkind="k"\nfunction="f"\ndescription="d"\n', "reserved"),
    ("[[bug]\n", "cannot read"),
    ('[[bug]]\nid="a"\nsurface="strings"\nkind="k"\nfunction="f"\ndescription="d"\nalso=["double-free"]\n',
     "list of \\[kind, function\\] pairs"),
])
def test_bad_catalogue_is_refused_with_the_reason(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bugs.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=message):
        load_catalogue(path)


def test_a_bug_is_matched_by_each_report_it_produces(tmp_path: Path):
    path = tmp_path / "bugs.toml"
    path.write_text('[[bug]]\nid="a"\nsurface="callbacks"\nkind="callback-after-unregister"\nfunction="f_set"\n'
                    'description="d"\nalso=[["destructor-called-twice", "f_free"]]\n')
    (bug,) = load_catalogue(path)
    assert bug.signatures == (("callback-after-unregister", "f_set"), ("destructor-called-twice", "f_free"))
    assert bug.matches("destructor-called-twice", "f_free") and bug.matches("callback-after-unregister", "f_set")
    assert not bug.matches("destructor-called-twice", "f_set") and not bug.matches("callback-after-unregister", None)
