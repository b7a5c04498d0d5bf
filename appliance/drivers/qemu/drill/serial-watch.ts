import { Worker } from 'node:worker_threads'
import { abortedError } from '../../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { SERIAL_WORKER_HEAP_MIB } from './constants.ts'
import type { SerialWatchData, SerialWatchMessage } from './serial-watch-worker.ts'

const WORKER = new URL('./serial-watch-worker.ts', import.meta.url)

/**
 * Resolves with the first line of the serial log `path` (a file QEMU keeps
 * appending the guest's console to) that matches `pattern`, whether it was
 * written before the call or after (SerialLineScanner's rules: the line
 * being written counts, long lines are cut). Event-driven: fs.watch says
 * when the file grew and only the new bytes are read, in bounded pieces;
 * nothing polls and the whole file is never read at once.
 *
 * The watching and matching run in a worker thread, terminated when the
 * call settles: a pattern that backtracks for minutes never blocks this
 * thread, it only delays its own answer until `signal` ends the wait.
 * Rejects with CORE_ABORTED when `signal` aborts (the caller's time limit
 * too), and APP_UNEXPECTED when the log cannot be opened, read or watched
 * (the system's error in the message). After it settles no worker, watch
 * or file handle remains.
 */
export async function waitForSerialMatch (path: string, pattern: RegExp, signal: AbortSignal): Promise<string> {
  if (signal.aborted) throw abortedError(signal)
  const workerData: SerialWatchData = { path, source: pattern.source, flags: pattern.flags }
  const worker = new Worker(WORKER, { workerData, resourceLimits: { maxOldGenerationSizeMb: SERIAL_WORKER_HEAP_MIB } })
  let onAbort = (): void => {}
  // listeners stay until the worker is gone: a late 'error' must find one (the promise is settled, so it is a no-op)
  try {
    return await new Promise<string>((resolve, reject) => {
      onAbort = () => { reject(abortedError(signal)) }
      signal.addEventListener('abort', onAbort, { once: true })
      worker.once('message', (m: SerialWatchMessage) => {
        if ('line' in m) resolve(m.line)
        else reject(unexpected(m.error))
      })
      worker.once('error', (err: Error) => { reject(unexpected(`the serial watcher failed: ${err.message}`, err)) })
      worker.once('exit', code => { reject(unexpected(`the serial watcher ended early (exit code ${code})`)) })
    })
  } finally {
    signal.removeEventListener('abort', onAbort)
    await worker.terminate()
  }
}

function unexpected (message: string, cause?: unknown): AppError {
  return new AppError(AppErrorCode.APP_UNEXPECTED, message, { cause })
}
