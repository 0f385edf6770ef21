"""Where export jobs live: rows of plain values in a store every server process shares.

`SqliteRecords` (the default, nothing to install) keeps them in a SQLite file
beside the export files; `RedisRecords` (with GRADSCAPE_REDIS_URL) as Redis
hashes. Both have the same methods, and any process of any replica reads any row.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

ACTIVE = ("queued", "started")
FIELDS = ("id", "client", "state", "options", "status", "progress", "message", "filename", "media_type", "path",
          "created", "started", "finished", "beat")



def unreachable_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the store did not answer."""
    try:
        from redis.exceptions import ConnectionError, TimeoutError
    except ImportError:
        return (sqlite3.OperationalError,)
    return (ConnectionError, TimeoutError, sqlite3.OperationalError)


class SqliteRecords:
    """Job rows in a SQLite file; every process opens it by path, so any of them sees every job."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"CREATE TABLE IF NOT EXISTS jobs ({', '.join(FIELDS)}, PRIMARY KEY (id))")

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def add(self, row: dict) -> None:
        with self._db() as db:
            db.execute(f"INSERT INTO jobs VALUES ({', '.join('?' * len(FIELDS))})", [row.get(f) for f in FIELDS])

    def get(self, job_id: str) -> dict | None:
        with self._db() as db:
            found = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if found is None else dict(found)

    def update(self, job_id: str, **fields) -> None:
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*fields.values(), job_id])

    def all(self) -> list[dict]:
        with self._db() as db:
            return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY created")]

    def delete(self, job_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def claim(self) -> dict | None:
        """The oldest queued job, marked started; one statement, so two processes never claim the same."""
        now = time.time()
        with self._db() as db:
            found = db.execute("UPDATE jobs SET status = 'started', started = ?, beat = ? WHERE id = (SELECT id FROM "
                               "jobs WHERE status = 'queued' ORDER BY created LIMIT 1) AND status = 'queued' "
                               "RETURNING *", (now, now)).fetchone()
        return None if found is None else dict(found)

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def lost_in_restart(self, job_id: str) -> bool:
        """The file beside the rows keeps them: a restart loses none."""
        return False


class RedisRecords:
    """Job rows as Redis hashes, with a sorted set of every kept job by creation time.

    Redis without persistence comes back from a restart empty. An id starts with the store's epoch, a
    random key set once in Redis, so a job missing from a store whose epoch has changed is known to
    have been lost with the data rather than expired.
    """

    INDEX = "gradscape:exports"
    EPOCH = "gradscape:epoch"
    EPOCH_CHARS = 8

    def __init__(self, redis):
        self.redis = redis

    def epoch(self) -> str:
        self.redis.set(self.EPOCH, uuid.uuid4().hex[:self.EPOCH_CHARS], nx=True)
        return self.redis.get(self.EPOCH).decode()

    def new_id(self) -> str:
        return self.epoch() + uuid.uuid4().hex[self.EPOCH_CHARS:]

    def lost_in_restart(self, job_id: str) -> bool:
        return len(job_id) == 32 and job_id[:self.EPOCH_CHARS] != self.epoch()

    def _key(self, job_id: str) -> str:
        return f"gradscape:export:{job_id}"

    def add(self, row: dict) -> None:
        with self.redis.pipeline() as p:
            p.hset(self._key(row["id"]), mapping={k: json.dumps(row.get(k)) for k in FIELDS})
            p.zadd(self.INDEX, {row["id"]: row["created"]})
            p.execute()

    def get(self, job_id: str) -> dict | None:
        raw = self.redis.hgetall(self._key(job_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    def update(self, job_id: str, **fields) -> None:
        if self.redis.exists(self._key(job_id)):
            self.redis.hset(self._key(job_id), mapping={k: json.dumps(v) for k, v in fields.items()})

    def all(self) -> list[dict]:
        rows = [self.get(i.decode()) for i in self.redis.zrange(self.INDEX, 0, -1)]
        return [r for r in rows if r is not None]

    def delete(self, job_id: str) -> None:
        with self.redis.pipeline() as p:
            p.delete(self._key(job_id))
            p.zrem(self.INDEX, job_id)
            p.execute()

