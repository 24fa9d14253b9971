"""Log tail and exit code mapping."""

from dagtrail.task.child import Tail, exit_code


def test_tail_keeps_the_last_bytes_across_chunks():
    tail = Tail(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"q"):
        tail.write(chunk)
    assert tail.getvalue() == b"hijklmnopq"
    tail.write(b"x" * 100)
    assert tail.getvalue() == b"x" * 10


def test_exit_codes_follow_the_shell():
    assert [exit_code(c) for c in (0, 3, -15, -9)] == [0, 3, 143, 137]
