"""One memo of what was made of a file, read again only once the file changed (``studio.data.file_memo``)."""

from __future__ import annotations

import os
import sys
import threading

from studio.data.file_memo import FileMemo


def test_a_file_is_read_again_only_when_it_changed_and_the_first_read_are_forgotten_first(tmp_path):
    reads: list[str] = []
    files = [tmp_path / f"{n}.txt" for n in range(3)]
    for f in files:
        f.write_text(f.stem)

    def read(file):
        reads.append(file.name)
        return file.read_text()

    kept = FileMemo(read, kept=2)
    assert [kept.get(f) for f in files[:2]] == ["0", "1"] and kept.get(files[0]) == "0"
    assert reads == ["0.txt", "1.txt"]  # the second ask of 0.txt read nothing
    files[0].write_text("zero")
    os.utime(files[0], ns=(1, 1))  # another time, as a rewrite within the clock's tick may not give
    assert kept.get(files[0]) == "zero"
    assert kept.get(files[2]) == "2" and len(kept) == 2  # 1.txt, read first of those left, forgotten
    assert kept.get(files[1]) == "1" and reads[-1] == "1.txt"
    files[2].unlink()
    assert kept.get(files[2]) is None


def test_sessions_asking_at_once_past_the_bound_all_get_their_answer(tmp_path):
    """Every session's script thread asks the one memo; past its bound each ask forgets one, while others add theirs:
    the forgetting walked the dict as it grew ('dictionary changed size during iteration' on Home)."""
    files = [tmp_path / f"{n}.txt" for n in range(400)]
    for f in files:
        f.write_text(f.stem)
    kept = FileMemo(lambda file: file.stem, kept=1)
    failures: list[BaseException] = []

    def ask(mine):
        try:
            for _ in range(20):
                assert [kept.get(f) for f in mine] == [f.stem for f in mine]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(files[n::8],)) for n in range(8)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switched as often as a busy server's: the old memo failed 7 of 8 here
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert failures == [] and len(kept) == 1
