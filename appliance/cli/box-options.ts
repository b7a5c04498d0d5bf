/**
 * The options of the commands that work on a box's data directory (init,
 * start, status, pair), and how they reach the daemon: only through the
 * LocalBox the composition root gives (never the store or peers file).
 */
import { resolve } from 'node:path'
import { Option } from 'commander'
import { AppError, AppErrorCode, DATA_ENV, DEFAULT_DATA_DIR } from '../service/index.ts'

export function dataOption (): Option {
  return new Option('--data <dir>', 'the box\'s data directory').env(DATA_ENV).default(DEFAULT_DATA_DIR)
}

export function yesOption (): Option {
  return new Option('--yes', 'confirm an operation that loses data')
}

/** The data directory made absolute; an empty one is APP_USAGE (it would otherwise mean the working directory). */
export function dataPath (dir: string): string {
  if (dir.trim() === '') throw new AppError(AppErrorCode.APP_USAGE, `the data directory path is empty: give --data <dir> or ${DATA_ENV} a directory`)
  return resolve(dir)
}

/** Appends `Examples:` to a command's help. */
export function examples (lines: string[]): string {
  return `\nExamples:\n${lines.map(l => `  $ ${l}`).join('\n')}\n`
}
