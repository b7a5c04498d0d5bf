import { AppError, AppErrorCode } from '../../../errors.ts'
import { MAX_SERIAL_PATTERN_CHARS } from './constants.ts'

/**
 * Compiles a drill's serial console pattern, an untrusted string from the
 * VM's settings: a JavaScript regular expression in Unicode mode, without
 * flags, of 1 to MAX_SERIAL_PATTERN_CHARS characters on one line. Pure.
 * APP_VM_INVALID (`details.field` 'serialPattern') when it is not a
 * string, is empty, too long, holds a NUL or a line break, or does not
 * compile.
 *
 * A valid pattern may still backtrack for a very long time on some lines
 * (e.g. `.*.*.*x`): it is only ever run in the serial watcher's worker
 * thread, on lines of at most MAX_SERIAL_LINE_CHARS, and the worker is
 * terminated at the drill's time limit (serial-watch.ts), so a slow
 * pattern costs a drill, never the daemon.
 */
export function compileSerialPattern (source: unknown): RegExp {
  if (typeof source !== 'string') invalid('must be a string')
  if (source.length === 0 || source.length > MAX_SERIAL_PATTERN_CHARS) invalid(`must have 1 to ${MAX_SERIAL_PATTERN_CHARS} characters`)
  if (/[\0\r\n]/.test(source)) invalid('must be one line without NUL')
  try {
    return new RegExp(source, 'u')
  } catch (err) {
    return invalid(`is not a valid regular expression: ${(err as Error).message}`, err)
  }
}

function invalid (why: string, cause?: unknown): never {
  throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: serialPattern ${why}`, { cause, details: { field: 'serialPattern' } })
}
