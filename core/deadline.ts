import { abortedError } from './errors.ts'

/**
 * Arms a time limit and an optional AbortSignal for one pending operation:
 * `onFire` is called at most once, with `timeoutError()` when `timeoutMs`
 * passes or with CORE_ABORTED when the signal fires. The returned function
 * disarms both; call it when the operation settles any other way.
 */
export function armDeadline (timeoutMs: number, signal: AbortSignal | undefined, timeoutError: () => Error, onFire: (err: Error) => void): () => void {
  let done = false
  const fire = (err: Error): void => {
    if (done) return
    disarm()
    onFire(err)
  }
  const timer = setTimeout(() => { fire(timeoutError()) }, timeoutMs)
  const onAbort = (): void => { fire(abortedError(signal!)) }
  signal?.addEventListener('abort', onAbort, { once: true })
  const disarm = (): void => {
    done = true
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  if (signal?.aborted === true) onAbort()
  return disarm
}

/** A positive finite time limit, or a TypeError (a programmer mistake). */
export function checkTimeout (ms: number, name = 'timeoutMs'): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new TypeError(`${name} must be a positive number of milliseconds, got ${ms}`)
  return ms
}
