/**
 * Options shared by several commands, defined once so their names, help and
 * environment fallbacks agree everywhere.
 */
import { Option } from 'commander'
import { DEFAULT_ADDITIONAL_POINTS, DEFAULT_POINT_INTERVAL_MS } from '../../core/index.ts'
import { parseDuration, parseKeep, parsePoint } from './option-values.ts'

/** Environment variable naming the store when `--store` is not given. */
export const STORE_ENV = 'TANDEM_STORE'

export function storeOption (): Option {
  return new Option('--store <dir>', 'store directory (may be on a removable disk)').env(STORE_ENV).makeOptionMandatory()
}

export function jsonOption (): Option {
  return new Option('--json', 'print one JSON document to stdout instead of text')
}

export function progressOption (): Option {
  return new Option('--progress', 'show progress on stderr even when it is not a terminal')
}

export function pointOption (): Option {
  return new Option('--point <id|latest>', 'recovery point id, or "latest"').argParser(parsePoint).makeOptionMandatory()
}

export function forceOption (): Option {
  return new Option('--force', 'replace the output file if it exists')
}

export function keepOption (mandatory: boolean): Option {
  const o = new Option('--keep <N>', 'additional recovery points kept besides the latest (0-10000)').argParser(parseKeep)
  return mandatory ? o.makeOptionMandatory() : o.default(DEFAULT_ADDITIONAL_POINTS)
}

export function intervalOption (): Option {
  return new Option('--interval <duration>', 'one additional point per interval, the first of each (0, 30s, 5m, 1h...); 0 keeps the N newest')
    .argParser(parseDuration)
    .default(DEFAULT_POINT_INTERVAL_MS, '1h')
}
