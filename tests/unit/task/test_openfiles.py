"""Files open for writing, seen through /proc."""

import pytest

from dagtrail.task import openfiles

pytestmark = pytest.mark.skipif(not openfiles.available(), reason="needs Linux /proc")


def test_only_files_open_for_writing_under_the_root_count(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    (root / "done.txt").write_text("closed")
    outside = tmp_path / "elsewhere.txt"
    with (root / "open.txt").open("w") as writing, (root / "done.txt").open() as reading, \
            outside.open("w"), (root / "rw.bin").open("w+b"):
        found = openfiles.open_for_writing(str(root))
        assert found == {str((root / "open.txt").resolve()), str((root / "rw.bin").resolve())}
        assert reading and writing
    assert openfiles.open_for_writing(str(root)) == set()
