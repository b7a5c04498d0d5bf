import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Level } from 'level'
import { AppError, AppErrorCode } from '../errors.ts'

/**
 * The daemon's hold on its data directory: two daemons must never share the
 * peers file, the identity or the stores. The lock is LevelDB's own LOCK
 * file of an empty database at `path`, an fcntl lock that the kernel drops
 * when the process dies (kill -9 included), so there is no stale lock to
 * clean up and no race between two daemons starting at once, which a pid
 * file would have. Release with `release()`.
 */
export class DataLock {
  private readonly db: Level

  private constructor (db: Level) {
    this.db = db
  }

  /** Takes the lock; APP_DAEMON_RUNNING when another process (or this one) holds it. Other failures are thrown as they are. */
  static async take (path: string): Promise<DataLock> {
    await mkdir(path, { recursive: true, mode: 0o700 })
    const db = new Level(path)
    try {
      await db.open()
    } catch (err) {
      const locked = (err as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED'
      if (locked) throw new AppError(AppErrorCode.APP_DAEMON_RUNNING, `a daemon already runs on ${dirname(path)}`, { cause: err })
      throw err
    }
    return new DataLock(db)
  }

  async release (): Promise<void> {
    await this.db.close()
  }
}
