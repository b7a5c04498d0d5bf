import { pino, type Logger } from 'pino'
import { LOG_LEVELS, type LogLevel } from './config.ts'

/** Environment variable that overrides the config's log level (e.g. `debug` for one run). */
export const LOG_LEVEL_ENV = 'TANDEM_LOG_LEVEL'

export type { Logger }

/** The level to log at: TANDEM_LOG_LEVEL when it names a level, else the config's. Pure. */
export function logLevel (configured: LogLevel, env: Record<string, string | undefined> = process.env): LogLevel {
  const v = env[LOG_LEVEL_ENV]
  return v !== undefined && (LOG_LEVELS as readonly string[]).includes(v) ? v as LogLevel : configured
}

/**
 * The daemon's logger: one JSON object per line (pino), to stdout by
 * default (systemd's journal keeps it), synchronously so that the last lines
 * before an exit are not lost.
 */
export function createLogger (level: LogLevel, destination: NodeJS.WritableStream | number = 1): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination
  return pino({ level, base: { pid: process.pid } }, dest)
}
