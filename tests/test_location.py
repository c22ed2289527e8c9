"""Where entries live: a checkout's own folder, or a user folder for an installed package."""

from __future__ import annotations

from sysnoise.leaderboard import location
from sysnoise.noises import sideenv


def test_a_checkout_reads_and_writes_its_own_entries(monkeypatch):
    monkeypatch.delenv(location.ENTRIES_VARIABLE, raising=False)
    assert not location.installed()  # the tests run from the checkout (editable install)
    assert location.default_entries_dir() == location.SHIPPED_ENTRIES_DIR
    assert location.board_dirs(None) == [location.SHIPPED_ENTRIES_DIR]


def test_an_installed_package_writes_to_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(location.ENTRIES_VARIABLE, raising=False)
    monkeypatch.setattr(location, "installed", lambda: True)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert location.default_entries_dir() == tmp_path / "sysnoise" / "entries"
    # the board shows the user's entries and the shipped ones
    assert location.board_dirs(None) == [
        (tmp_path / "sysnoise" / "entries").resolve(),
        location.SHIPPED_ENTRIES_DIR,
    ]
    monkeypatch.setenv(location.ENTRIES_VARIABLE, str(tmp_path / "mine"))
    assert location.default_entries_dir() == tmp_path / "mine"
    assert location.board_dirs(tmp_path / "given") == [tmp_path / "given"]


def test_side_environments_are_found_beside_the_running_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(sideenv.PILLOW_SIMD_PYTHON_VARIABLE, raising=False)
    monkeypatch.setattr(sideenv.sys, "prefix", str(tmp_path / ".venv"))
    assert sideenv.pillow_simd_python() == tmp_path / ".venv-pillow-simd" / "bin" / "python"
