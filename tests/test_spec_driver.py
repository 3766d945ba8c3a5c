"""No finding may be the generic driver's own fault: it reads and writes only what the header and
the contract say (out-arrays measured in elements, callback arguments by their contract, handles
handed over with `takes`), a spec key that would do nothing is an error naming its line, and a
crash's identity does not depend on where the spec lives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.campaign.registry import resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.contract.spec import target_contract
from harness.errors import TargetError
from harness.sequence.plan import plan_all
from harness.target.spec import load_target_file, resolve_target
from harness.testing.isolate import run_function
from harness.triage import parse_report

TARGETS = Path(__file__).parent / "targets"
SHAPES = TARGETS / "shapes" / "shapes.toml"


def _sequence(target, out: Path, runs: int, stop_on: tuple = ()) -> dict:
    """A bounded, seeded sequence campaign on the target's clean build."""
    config = CampaignConfig(tuple(resolve_fuzzers(["sequence"], target)), target, "clean", out / "run",
                            seconds=None, runs=runs, seed=1, stop_on=stop_on)
    return Campaign(config).run().to_dict()


def test_api_shapes_are_honoured_on_a_correct_library(tmp_path):
    """shapes.h: a size_t and a struct out-array filled to their full length, a callback passing
    (void *, const char *, int64_t) with INT64_MAX, children handed to a parent that frees them.
    The driver used to allocate n bytes for n elements, read `value` bytes from the key and pass
    a node as its own child (a stack overflow in shp_node_free within 30k executions)."""
    target = resolve_target(str(SHAPES))
    contract = target_contract(target)
    assert contract.functions["shp_node_add"].takes == ("child",)
    summary = _sequence(target, tmp_path, 30_000)
    assert summary["findings"] == [], [(f["kind"], f["function"]) for f in summary["findings"]]
    assert summary["fuzzers"]["sequence"]["execs"] >= 30_000


def _copy_spec(tmp_path: Path, old: str, new: str, library: str = "cfgdoc", spec: str = "cfg.toml") -> Path:
    folder = tmp_path / library
    shutil.copytree(TARGETS / library, folder)
    path = folder / spec
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _assert_refused_at(spec: Path, message: str, line: str) -> None:
    """Loading spec is a TargetError saying message and naming the spec line that reads line."""
    with pytest.raises(TargetError) as caught:
        target_contract(load_target_file(spec))
    text = str(caught.value)
    assert message in text, text
    number = int(text.split(": ", 1)[0].rsplit(":", 1)[1])
    assert spec.read_text().splitlines()[number - 1] == line, text


@pytest.mark.parametrize(("old", "new", "message", "line"), [
    ('free = "cfg_string_free"\n', 'free = "cfg_string_free"\nowner = "doc"\n',
     "`owner` only applies to a borrowed result", 'owner = "doc"'),
    ('owner = "doc"', 'owner = "doc"\nfree = "cfg_string_free"', "`free` only applies to a owned result",
     'free = "cfg_string_free"'),
    ("[contract.functions.cfg_parse]", '[contract.functions.cfg_new]\nreturns = "borrowed"\n\n'
     "[contract.functions.cfg_parse]", "have no effect on a constructor of cfg_doc", 'returns = "borrowed"'),
    ("[contract.functions.cfg_parse]", "[contract.callbacks.cfg_nothing_fn]\nstrings = []\n\n"
     "[contract.functions.cfg_parse]", "'cfg_nothing_fn' is not a function-pointer type",
     "[contract.callbacks.cfg_nothing_fn]"),
    ("[contract.functions.cfg_parse]", "[contract.callbacks.cfg_watch_fn]\nbuffers = { value = \"size\" }\n\n"
     "[contract.functions.cfg_parse]", "length 'size' is not a parameter", 'buffers = { value = "size" }'),
])
def test_a_key_with_no_effect_or_a_wrong_name_is_an_error_naming_its_line(tmp_path, old, new, message, line):
    spec = _copy_spec(tmp_path, old, new)
    _assert_refused_at(spec, message, line)


def test_callbacks_read_only_what_their_contract_says():
    contract = target_contract(resolve_target(str(SHAPES)))
    metric = contract.callbacks["shp_metric_fn"]
    assert (metric.user_data, metric.strings, metric.buffers) == ("user_data", ("key",), ())
    kv = target_contract(resolve_target(None)).callbacks["kv_notify_fn"]
    assert (kv.strings, kv.buffers) == (("key",), (("value", "len"),))  # kv's spec says value has len bytes


def test_crash_identity_does_not_depend_on_where_the_spec_is(tmp_path):
    """The same report, triaged for kv's spec beside its sources and for a spec in another folder
    naming the same sources: the same function and stack hash."""
    beside = resolve_target(None)
    elsewhere_dir = tmp_path / "specs"
    elsewhere_dir.mkdir()
    text = (beside.spec_path.read_text()
            .replace('header = "include/kv.h"', f'header = "{beside.root / "include" / "kv.h"}"')
            .replace('"src/', f'"{beside.root}/src/')
            .replace('include_dirs = ["include", "src"]',
                     f'include_dirs = ["{beside.root / "include"}", "{beside.root / "src"}"]')
            .replace('bugs = "bugs.toml"', f'bugs = "{beside.root / "bugs.toml"}"')
            .replace('binding = "binding/kvstore.py"', f'binding = "{beside.root / "binding" / "kvstore.py"}"')
            .replace('"../fuzzers/', f'"{beside.root.parent / "fuzzers"}/'))
    (elsewhere_dir / "kv.toml").write_text(text)
    elsewhere = load_target_file(elsewhere_dir / "kv.toml")
    run = run_function(f"{beside.root / 'reproducers.py'}:take_stale_cache", beside, "take-stale-cache")
    report = run.stdout + run.stderr
    (here,), (there,) = parse_report(report, beside.code)[:1], parse_report(report, elsewhere.code)[:1]
    assert here.function == "kv__find" and here.in_target and there.in_target, report[-2000:]
    assert (there.function, there.stack_hash) == (here.function, here.stack_hash)


RANGE = "ranges = { level = [1, 9] }           # SHP_LEVELS; outside it the table is read out of bounds"


@pytest.mark.parametrize(("new", "message"), [
    ("ranges = { level = [9, 1] }", "range of 'level' must be [lowest, highest]"),
    ('ranges = { level = ["1", 9] }', "range of 'level' must be [lowest, highest]"),
    ("ranges = { level = [1] }", "range of 'level' must be [lowest, highest]"),
    ("ranges = { depth = [1, 9] }", "'depth'"),
])
def test_a_wrong_range_is_an_error_naming_its_line(tmp_path, new, message):
    spec = _copy_spec(tmp_path, RANGE, new, "shapes", "shapes.toml")
    _assert_refused_at(spec, message, new)


def test_a_range_the_type_cannot_hold_is_refused_before_fuzzing(tmp_path):
    from harness.sequence.driver import SequenceDriver
    from harness.target.loader import load

    spec = _copy_spec(tmp_path, RANGE, "ranges = { level = [1, 4294967296] }", "shapes", "shapes.toml")
    target = load_target_file(spec)
    loaded = load(target, "clean")
    with pytest.raises(TargetError, match=r"shp_level_cost: range of 'level' \[1, 4294967296\] is outside what int"):
        SequenceDriver(target_contract(target), loaded.ffi, loaded.lib)


def test_an_integer_valid_only_in_a_range_needs_the_range_and_is_then_quiet(tmp_path):
    """shp_level_cost reads a table with a level the caller must keep in 1..9. Without `ranges`
    the driver passes any int and the library's own out-of-bounds read is the driver's fault;
    with it the same search is quiet (and test_api_shapes_are_honoured_on_a_correct_library runs
    30k executions of the whole library with it)."""
    spec = _copy_spec(tmp_path, RANGE, "", "shapes", "shapes.toml")
    target = load_target_file(spec)
    assert all(f.ranges == () for f in target_contract(target).functions.values())
    summary = _sequence(target, tmp_path, 30_000)
    out_of_range = {"global-buffer-overflow", "index-out-of-bounds", "signed-integer-overflow"}  # ASan or UBSan
    found = {(f["kind"], f["function"]) for f in summary["findings"]}
    assert {kind for kind, function in found if function == "shp_level_cost"} & out_of_range, found
    assert target_contract(resolve_target(str(SHAPES))).functions["shp_level_cost"].ranges == (("level", 1, 9),)


KEEPS = 'keeps = { label = "node" }            # not copied: alive and unchanged until node is freed'


@pytest.mark.parametrize(("old", "new", "message"), [
    (KEEPS, 'keeps = { label = "label" }', "'label' is kept by 'label', which is not a handle parameter"),
    (KEEPS, 'keeps = { label = "owner" }', "'owner'"),
    (RANGE, 'keeps = { level = "level" }', "kept input 'level' is not a pointer"),
])
def test_a_wrong_keeps_entry_is_an_error_naming_its_line(tmp_path, old, new, message):
    spec = _copy_spec(tmp_path, old, new, "shapes", "shapes.toml")
    _assert_refused_at(spec, message, new)


def test_an_input_the_library_keeps_needs_keeps_and_is_then_quiet(tmp_path):
    """shp_node_set_label keeps the caller's string (not a copy) until the node is freed. Without
    `keeps` the driver frees the label after the call and the library's later strlen reads freed
    memory - the driver's fault; with it the label lives as long as its node (or, once the node
    is handed to a parent, to the end of the input), and the library is quiet."""
    spec = _copy_spec(tmp_path, KEEPS, "", "shapes", "shapes.toml")
    target = load_target_file(spec)
    assert target_contract(target).functions["shp_node_set_label"].keeps == ()
    summary = _sequence(target, tmp_path, 30_000, stop_on=(("heap-use-after-free", None),))
    assert ("heap-use-after-free", "shp_node_label_length") in {(f["kind"], f["function"]) for f in summary["findings"]}
    assert target_contract(resolve_target(str(SHAPES))).functions["shp_node_set_label"].keeps == (("label", "node"),)


def _spied_run(watch: dict, inputs: int = 400, seed: int = 5) -> None:
    """Run the Python sequence driver on shapes' clean build over random inputs, with each
    function named in watch replaced by watch[name](loaded, real_function)."""
    import random

    from harness.sequence.driver import FuzzedChoices, SequenceDriver
    from harness.target.loader import load

    target = resolve_target(str(SHAPES))
    loaded = load(target, "clean")

    class Spy:  # the library, with the watched functions wrapped
        def __getattr__(self, name):
            function = getattr(loaded.lib, name)
            return watch[name](loaded, function) if name in watch else function

    driver = SequenceDriver(target_contract(target), loaded.ffi, Spy())
    rng = random.Random(seed)
    for _ in range(inputs):
        driver.run(FuzzedChoices(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))))


def _block_size(loaded, pointer) -> int:
    """The size of the heap block pointer points to (ASan's allocator knows it)."""
    import ctypes

    allocated = ctypes.CDLL(None).__sanitizer_get_allocated_size
    allocated.argtypes, allocated.restype = [ctypes.c_void_p], ctypes.c_size_t
    return allocated(int(loaded.ffi.cast("uintptr_t", pointer)))


def test_an_out_buffer_whose_capacity_goes_in_and_out_through_a_pointer():
    """shp_node_copy_name(node, out, size_t *size): *size holds out's capacity on the way in and
    the needed size on the way out (zlib's uncompress has destLen so). With out_buffers naming a
    pointer as the capacity the driver passes a cell holding exactly out's heap block size."""
    seen: list[tuple[int, int]] = []

    def copy_name(loaded, function):
        def spied(node, out, size):
            seen.append((size[0], _block_size(loaded, out)))
            return function(node, out, size)
        return spied

    _spied_run({"shp_node_copy_name": copy_name})
    assert len(seen) > 10 and len({cap for cap, _ in seen}) > 3, seen
    assert all(cap == block or (cap == 0 and block == 1) for cap, block in seen), seen  # 0: a 1-byte block


def test_an_input_buffer_whose_length_goes_in_and_out_through_a_pointer():
    """shp_node_feed(node, data, size_t *size) reads all *size bytes of data and says how many it
    consumed (lz4's LZ4F_decompress takes srcSizePtr so). With buffers naming a pointer as the
    length the driver passes a cell holding exactly data's length (before: the spec was refused)."""
    seen: list[tuple[int, int, int]] = []

    def feed(loaded, function):
        def spied(node, data, size):
            given = size[0]
            result = function(node, data, size)
            seen.append((given, _block_size(loaded, data) if data != loaded.ffi.NULL else 0, size[0]))
            return result
        return spied

    _spied_run({"shp_node_feed": feed})
    assert len(seen) > 10 and len({given for given, _, _ in seen}) > 3, seen
    assert all(given == block or (given == 0 and block <= 1) for given, block, _ in seen), seen
    assert all(after == min(given, 8) for given, _, after in seen), "the library's answer came back"


def test_a_constructor_that_hands_its_handle_back_through_a_pointer_makes_live_handles():
    """shp_node_open(&node, name) returns a status and its node through a shp_node **: listed in
    `new`, what it sets is a handle the driver uses in later calls and frees (before: a spec
    error, a constructor had to return its handle)."""
    opened: set[int] = set()
    used: set[int] = set()
    freed: set[int] = set()

    def open_node(loaded, function):
        def spied(out, name):
            status = function(out, name)
            if status == 0:
                opened.add(int(loaded.ffi.cast("uintptr_t", out[0])))
            return status
        return spied

    def taking(into: set[int]):
        def wrap(loaded, function):
            def spied(node, *rest):
                into.add(int(loaded.ffi.cast("uintptr_t", node)))
                return function(node, *rest)
            return spied
        return wrap

    def add(loaded, function):
        def spied(parent, child):
            used.add(int(loaded.ffi.cast("uintptr_t", parent)))
            freed.add(int(loaded.ffi.cast("uintptr_t", child)))  # the parent frees it
            return function(parent, child)
        return spied

    _spied_run({"shp_node_open": open_node, "shp_node_free": taking(freed), "shp_node_add": add,
                "shp_node_label_length": taking(used), "shp_node_copy_name": taking(used),
                "shp_node_feed": taking(used), "shp_each_metric": taking(used)})
    assert len(opened) > 10, opened
    assert opened & used, "no node shp_node_open made was used by a later call"
    assert opened <= freed, f"{len(opened - freed)} opened nodes never freed"
    summary_spec = target_contract(resolve_target(str(SHAPES))).handles["shp_node"]
    assert summary_spec.new == ("shp_node_new", "shp_node_open")


def test_a_pointer_the_driver_cannot_fill_is_null_when_nullable():
    """shp_node_render_length's style is a struct holding a pointer: the driver cannot make one,
    and with `nullable` it passes NULL (the default style) and calls the function; without it
    the function is skipped and says why."""
    styles: list[object] = []

    def render(loaded, function):
        def spied(node, style):
            styles.append(style == loaded.ffi.NULL)
            return function(node, style)
        return spied

    _spied_run({"shp_node_render_length": render})
    assert styles and all(styles), styles


def test_an_integer_typedef_is_an_integer(tmp_path):
    """`typedef int32_t shp_weight`: its parameters are integers the driver picks (before: `has no
    generator`, and the function was skipped); FILE and a char typedef stay what they were."""
    from harness.target.header import parse_signatures

    api = parse_signatures("typedef unsigned long my_size; typedef my_size my_len; typedef char my_char;\n"
                           "my_len f(my_size a, FILE *fp, my_char c);")
    assert api.integer_aliases == {"my_size", "my_len"}
    plans, unsupported = plan_all(target_contract(resolve_target(str(SHAPES))))
    assert [(a.name, a.role) for a in plans["shp_weight_scale"]] == [("weight", "int"), ("factor", "int")]
    assert not unsupported


OPEN = 'new = ["shp_node_new", "shp_node_open"]  # shp_node_open hands its node back through a shp_node **'


@pytest.mark.parametrize(("new", "message"), [
    ('new = ["shp_node_new", "shp_weight_scale"]', "constructor shp_weight_scale returns 'shp_weight', not "
     "shp_node *, and has no shp_node ** parameter"),
])
def test_a_constructor_that_makes_no_handle_is_an_error_naming_its_line(tmp_path, new, message):
    spec = _copy_spec(tmp_path, OPEN, new, "shapes", "shapes.toml")
    _assert_refused_at(spec, message, new)


DT = TARGETS / "doctree" / "dt.toml"
CHILD_OF = 'child_of = { child = "parent" }        # not checked by the library'
UNTIL = 'until = ["dt_remove", "dt_detach"]     # ... until a child of node is removed or detached'


def test_a_document_tree_lends_its_children_as_handles(tmp_path):
    """libdt (tests/targets/doctree): dt_get and dt_child return borrowed dt_node handles the
    driver passes to other calls, dt_add takes a detached node, dt_detach needs a child of its
    parent and returns an owned node - each said in dt.toml, nothing skipped. The library stays
    quiet through 30k executions (a node handed over is never one its new parent is inside,
    and no child outlives the removal the contract says ends it)."""
    target = resolve_target(str(DT))
    contract = target_contract(target)
    assert contract.functions["dt_get"].returns.kind == "borrowed"
    assert contract.functions["dt_detach"].child_of == (("child", "parent"),)
    assert contract.functions["dt_add"].takes == ("child",)
    plans, skipped = plan_all(contract)
    assert not skipped and not contract.skipped
    assert [(a.name, a.role) for a in plans["dt_detach"]] == [("parent", "parent_of"), ("child", "child")]
    summary = _sequence(target, tmp_path, 30_000)
    assert summary["findings"] == [], [(f["kind"], f["function"]) for f in summary["findings"]]
    assert summary["fuzzers"]["sequence"]["execs"] >= 30_000


def test_without_child_of_the_driver_would_detach_a_node_from_a_stranger(tmp_path):
    """dt_detach trusts that child is parent's (as cJSON_DetachItemViaPointer does). Without
    `child_of` the driver passes any two nodes and the library's memmove goes wrong: a finding
    that would be the driver's fault, which child_of prevents (the test above)."""
    spec = _copy_spec(tmp_path, CHILD_OF, "", "doctree", "dt.toml")
    summary = _sequence(load_target_file(spec), tmp_path, 30_000)
    functions = {f["function"] for f in summary["findings"]}
    assert functions & {"unlink_child", "dt_detach"}, summary["findings"]


@pytest.mark.slow
def test_a_borrowed_child_ends_when_its_parent_loses_a_child(tmp_path):
    """Without `until`, a child dt_get lent stays valid in the driver's eyes after dt_remove freed
    it: the driver passes it on, and the library reads freed memory (the driver's fault)."""
    spec = _copy_spec(tmp_path, UNTIL, "", "doctree", "dt.toml")
    text = spec.read_text()
    spec.write_text(text.replace('owner = "node"\nuntil = ["dt_remove", "dt_detach"]\n', 'owner = "node"\n', 1))
    assert target_contract(load_target_file(spec)).functions["dt_child"].returns.until == ()
    summary = _sequence(load_target_file(spec), tmp_path, 120_000, stop_on=(("heap-use-after-free", None),))
    assert "heap-use-after-free" in {f["kind"] for f in summary["findings"]}, summary["findings"]


@pytest.mark.parametrize(("new", "message"), [
    ('child_of = { node = "key" }', "child_of 'key' is not a handle parameter"),
    ('child_of = { child = "child" }', "must be another parameter's child"),
    ('child_of = { child = "kid" }', "'kid' is not a parameter"),
])
def test_a_wrong_child_of_is_an_error_naming_its_line(tmp_path, new, message):
    spec = _copy_spec(tmp_path, CHILD_OF, new, "doctree", "dt.toml")
    if "key" in new:  # dt_detach has no key: try it where there is one
        text = spec.read_text().replace(new + "\n", "", 1)
        spec.write_text(text.replace("[contract.functions.dt_get]\n", f"[contract.functions.dt_get]\n{new}\n", 1))
    _assert_refused_at(spec, message, new)


def test_child_of_needs_a_function_that_lends_children(tmp_path):
    spec = _copy_spec(tmp_path, UNTIL, "", "doctree", "dt.toml")
    text = spec.read_text().replace('returns = "borrowed"                   # a child', 'returns = "static" # a child')
    for name in ("dt_get", "dt_child"):
        static = f'[contract.functions.{name}]\nreturns = "static"\n'
        text = text.replace(f'[contract.functions.{name}]\nreturns = "borrowed"\nowner = "node"\n'
                            'until = ["dt_remove", "dt_detach"]\n', static)
        text = text.replace(f'[contract.functions.{name}]\nreturns = "static" # a child: a handle usable in other '
                            'calls ...\nowner = "node"\n', static)
    spec.write_text(text)
    _assert_refused_at(spec, "needs a function returning a borrowed dt_node *", CHILD_OF)



def test_a_release_function_named_by_a_skipped_function_is_never_a_step(tmp_path):
    """With dt_render skipped, dt_text_free (its result's `free`) frees nothing the driver got
    from the library: called as a step it freed the driver's own string, which the driver then
    freed again (a double free: the harness's fault). A release function named anywhere in the
    spec is never called on its own."""
    skip = 'skip = ["dt_parse", "dt_remove", "dt_detach", "dt_render", "dt_size", "dt_key", "dt_new_array"]\n'
    anchor = "[contract.handles.dt_node]"
    spec = _copy_spec(tmp_path, anchor, f"[contract]\n{skip}\n{anchor}", "doctree", "dt.toml")
    target = load_target_file(spec)
    plans, _ = plan_all(target_contract(target))
    assert "dt_text_free" not in plans and {"dt_text", "dt_set_text", "dt_get", "dt_child"} <= set(plans)
    summary = _sequence(target, tmp_path, 60_000)
    assert summary["findings"] == [], [(f["kind"], f["function"]) for f in summary["findings"]]
    assert summary["fuzzers"]["sequence"]["execs"] >= 60_000
