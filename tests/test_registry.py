"""The generic registry: registration, errors that list names, lazy entries, base checks."""

from __future__ import annotations

import pytest

from sysnoise.backends import BACKENDS, Backend
from sysnoise.errors import SysnoiseError, UnknownNameError
from sysnoise.registry import Registry


def test_decorator_registers_and_get_returns_the_object():
    registry: Registry[object] = Registry("widget")

    @registry.register("one")
    def one() -> int:
        return 1

    assert registry.get("one") is one
    assert registry.names() == ["one"] and "one" in registry and len(registry) == 1


def test_duplicate_name_is_an_error():
    registry: Registry[int] = Registry("widget")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        registry.add("a", 2)


def test_unknown_name_lists_the_valid_ones():
    registry: Registry[int] = Registry("widget")
    registry.add("beta", 2)
    registry.add("alpha", 1)
    with pytest.raises(UnknownNameError) as caught:
        registry.get("gamma")
    assert str(caught.value) == "unknown widget 'gamma'; valid names: alpha, beta"
    assert isinstance(caught.value, SysnoiseError)


def test_lazy_entry_is_imported_on_first_lookup_only():
    registry: Registry[object] = Registry("function")
    registry.add("dumps", "json:dumps")
    import json

    assert registry.get("dumps") is json.dumps


def test_lazy_entry_must_name_module_and_attribute():
    with pytest.raises(ValueError, match="module:attr"):
        Registry("function").add("bad", "json")


def test_base_class_is_checked_for_direct_and_lazy_entries():
    registry: Registry[type] = Registry("backend", Backend)
    with pytest.raises(TypeError, match="must be a Backend"):
        registry.add("int", int)
    registry.add("lazy", "collections:OrderedDict")
    with pytest.raises(TypeError, match="must be a Backend"):
        registry.get("lazy")


def test_torch_backend_is_registered_lazily():
    assert BACKENDS.get("torch").name == "torch"
