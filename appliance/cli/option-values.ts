/**
 * Pure parsers of command-line option values. Each returns the parsed value
 * or throws commander's InvalidArgumentError, which main.ts reports as
 * APP_USAGE (exit status 2). Ranges that only the engine knows (block sizes,
 * disk names) are left to core, which answers CORE_INVALID_ARGUMENT.
 */
import { InvalidArgumentError } from 'commander'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'

/** Most additional recovery points accepted: core's retention limit (core/store/retention.ts). */
export const MAX_KEEP = 10_000

/** A point chosen by id or as the newest one. */
export type PointSelector = number | 'latest'

/** A non-negative integer count of additional recovery points. */
export function parseKeep (value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n > MAX_KEEP) {
    throw new InvalidArgumentError(`expected a whole number from 0 to ${MAX_KEEP}`)
  }
  return n
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration in milliseconds: `0`, or numbers with units run together
 * (`500ms`, `30s`, `5m`, `1h`, `1d`, `1h30m`). A bare non-zero number is
 * refused: `30` could mean seconds or minutes.
 */
export function parseDuration (value: string): number {
  if (value === '0') return 0
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(value)) {
    throw new InvalidArgumentError('expected a duration such as 0, 30s, 5m, 1h or 1h30m')
  }
  let total = 0
  for (const [, amount, unit] of value.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(amount) * DURATION_UNITS_MS[unit!]!
  if (!Number.isSafeInteger(total)) throw new InvalidArgumentError('duration is too long')
  return total
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2 }

/** A byte count: `65536`, `64K`, `64KiB`, `1M`, `1MiB` (binary units). */
export function parseByteSize (value: string): number {
  const match = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(value)
  const n = match === null ? Number.NaN : Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]!
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a size in bytes such as 65536, 64K or 1M')
  return n
}

/** `latest` or a recovery point id (a positive integer). */
export function parsePoint (value: string): PointSelector {
  if (value === 'latest') return 'latest'
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a recovery point id or "latest"')
  return n
}

/** Like parsePoint, plus `all`. */
export function parsePointOrAll (value: string): PointSelector | 'all' {
  if (value === 'all') return 'all'
  try {
    return parsePoint(value)
  } catch {
    throw new InvalidArgumentError('expected a recovery point id, "latest" or "all"')
  }
}

/** Accumulates a repeatable option's values in order. */
export function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** A whole number of at least 1 (`--cpus`, `--memory`); upper limits are the daemon's to check. */
export function parsePositiveInt (value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1')
  return n
}

/** A VM's name as the daemon takes it (core's DISK_NAME_PATTERN): checked here so a typo is a usage error in plain words. */
export function parseVmName (value: string): string {
  if (!DISK_NAME_PATTERN.test(value)) throw new InvalidArgumentError('expected letters, digits, ".", "_" or "-" (a letter or digit first), at most 64 characters')
  return value
}

/** A pairing PIN: the 8 digits the other box shows (spaces and dashes as people copy them are dropped). */
export function parsePin (value: string): string {
  const pin = value.replace(/[\s-]/g, '')
  if (!/^[0-9]{8}$/.test(pin)) throw new InvalidArgumentError('expected the 8 digits the other box shows')
  return pin
}

/** A libp2p peer id in its text form (base58btc, as `tandem pair list` prints it); whether it is paired is the daemon's to say. */
export function parsePeerId (value: string): string {
  if (!/^[1-9A-HJ-NP-Za-km-z]{40,64}$/.test(value)) throw new InvalidArgumentError('expected a peer id as tandem pair list shows it (12D3KooW...)')
  return value
}
