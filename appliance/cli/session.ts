/**
 * What one CLI invocation owns: the abort signal (Ctrl-C), the progress
 * line, the output mode, the stores it opened and the scan pool. Everything
 * is released by `close()`, which `withSession` always calls, so the process
 * exits by itself once the command is done.
 */
import { resolve } from 'node:path'
import { CoreError, CoreErrorCode, RecoveryPointStore, ScanPool, recoverImages, storeFailure } from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import { ProgressLine } from './progress-line.ts'

/** Options every command accepts (see common-options.ts). */
export interface SessionOptions {
  json?: boolean
  progress?: boolean
}

export interface OpenOptions {
  /**
   * The command will change the store: an image update a crash interrupted is
   * finished first (`recoverImages`), as the store's contract requires.
   * Without it the store is opened read-only: not one of its files changes
   * (core's `readOnly` open), and it works on a full disk.
   */
  write: boolean
  /** Create the store when the directory holds none. */
  create?: boolean
  /** Block size of a store created now; must match an existing store's. */
  blockSize?: number
}

/**
 * The store directory of `--store` / TANDEM_STORE, made absolute. An empty
 * path is APP_USAGE: it would otherwise mean the working directory. Every
 * command that takes a store goes through it.
 */
export function storePath (dir: string): string {
  if (dir.trim() === '') throw new AppError(AppErrorCode.APP_USAGE, 'the store path is empty: give --store <dir> or TANDEM_STORE a directory')
  return resolve(dir)
}

export class Session {
  readonly json: boolean
  readonly progress: ProgressLine
  private readonly controller = new AbortController()
  private readonly stores: RecoveryPointStore[] = []
  private scanPool: ScanPool | undefined

  constructor (options: SessionOptions) {
    this.json = options.json === true
    const tty = process.stderr.isTTY === true
    this.progress = new ProgressLine({ stream: process.stderr, enabled: tty || options.progress === true, tty })
  }

  get signal (): AbortSignal {
    return this.controller.signal
  }

  /** Cancels the running work; it ends with CORE_ABORTED and the store is left as its contracts say. */
  abort (reason: string): void {
    this.controller.abort(new Error(reason))
  }

  /** The worker pool, started on first use (commands that never scan never start threads). */
  pool (): ScanPool {
    this.scanPool ??= new ScanPool()
    return this.scanPool
  }

  /**
   * Opens a store (its path made absolute, for messages) for this session; it
   * is closed by `close()`. An empty path (`--store ""`, an empty
   * TANDEM_STORE) is APP_USAGE: it would otherwise mean the working directory.
   */
  async openStore (dir: string, options: OpenOptions): Promise<RecoveryPointStore> {
    const store = await RecoveryPointStore.open(storePath(dir), { create: options.create === true, blockSize: options.blockSize, readOnly: !options.write })
    this.stores.push(store)
    // Strays are never deleted (core/store/sweep.ts); the operator should know of them.
    if (store.strays.length > 0) {
      process.stderr.write(`warning: ${store.strays.length} file(s) in ${store.packsDir} that the index does not name are kept; \`tandem verify --all\` lists them, \`tandem store repair\` reads them\n`)
    }
    if (options.write) await this.recover(store)
    return store
  }

  /** Closes a store this session opened (before opening it again in another mode). */
  async closeStore (store: RecoveryPointStore): Promise<void> {
    const i = this.stores.indexOf(store)
    if (i >= 0) this.stores.splice(i, 1)
    await store.close()
  }

  /**
   * The error a failed command reports: CORE_STORE_UNAVAILABLE when another
   * process wrote a store this session read read-only (what it found missing
   * or different may be that writer's doing: run the command again), the
   * store's code for a LevelDB failure (e.g. "Corruption:" in a table), else `err`.
   */
  async storeFailure (err: unknown): Promise<unknown> {
    for (const store of this.stores) {
      if (await store.changedByWriter().catch(() => false)) {
        return new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `another process changed the store ${store.dir} while this command read it; run it again`, { cause: err })
      }
    }
    const store = this.stores[0]
    return store === undefined ? err : storeFailure(err, store.dir)
  }

  /** Finishes image updates a crash interrupted; required before changing a store. */
  async recover (store: RecoveryPointStore): Promise<void> {
    await recoverImages(store, { signal: this.signal, onProgress: this.progress.listener })
  }

  /** Prints the command's result: `doc` as one JSON document with `--json`, else `human(doc)`. */
  output<T> (doc: T, human: (doc: T) => string): void {
    this.progress.end()
    const text = this.json ? JSON.stringify(doc, null, 2) : human(doc)
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** Releases stores and threads. Idempotent; tries everything, then throws the first failure. */
  async close (): Promise<void> {
    this.progress.end()
    let first: unknown
    for (const store of this.stores.splice(0)) await store.close().catch((err: unknown) => { first ??= err })
    const pool = this.scanPool
    this.scanPool = undefined
    await pool?.stop().catch((err: unknown) => { first ??= err })
    if (first !== undefined) throw first
  }
}

/**
 * Runs a command body in a fresh session: Ctrl-C (or SIGTERM) aborts it, and
 * the session is closed whatever happens. A failure to close is reported only
 * when the body itself succeeded, so the body's error is never hidden.
 */
export async function withSession (options: SessionOptions, body: (session: Session) => Promise<void>): Promise<void> {
  const session = new Session(options)
  const onSignal = (signal: NodeJS.Signals): void => { session.abort(`interrupted by ${signal}`) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let failed = false
  try {
    await body(session)
  } catch (err) {
    failed = true
    throw await session.storeFailure(err)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await session.close().catch((err: unknown) => { if (!failed) throw err })
  }
}
