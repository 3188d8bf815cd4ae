from pathlib import Path

from app.primitives.worker_lock import WorkerLock


def test_one_holder_at_a_time_and_release_hands_over(tmp_path: Path):
    first, second = WorkerLock(tmp_path / "job.lock"), WorkerLock(tmp_path / "job.lock")
    assert first.acquire() and first.acquire()  # idempotent for the holder
    assert not second.acquire() and not second.held
    first.release()
    assert second.acquire() and second.held
    second.release()
