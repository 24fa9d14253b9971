from pathlib import Path

from dagtrail.local import services


def test_parses_are_kept_where_the_user_says_else_in_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGTRAIL_CACHE_DIR", str(tmp_path / "mine"))
    assert services.parse_cache_dir() == tmp_path / "mine" / "asl"
    monkeypatch.delenv("DAGTRAIL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert services.parse_cache_dir() == tmp_path / "xdg" / "dagtrail" / "asl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert services.parse_cache_dir() == Path(tmp_path / "home" / ".cache" / "dagtrail" / "asl")
