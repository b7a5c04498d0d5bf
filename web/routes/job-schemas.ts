/**
 * JSON schemas of the job routes (routes/jobs.ts, docs/api.md "Jobs"). As
 * in schemas.ts: nothing unknown, nothing coerced; paths are checked again
 * behind the API (absolute, no NUL).
 */
import { object } from '../schemas.ts'
import { drillInfoSchema } from './failover-schemas.ts'
import { pointSchema } from './point-schemas.ts'
import { plannedInfoSchema, reverseInfoSchema, salvageRestoreResult } from './reverse-schemas.ts'
import { failoverInfoSchema } from './unplanned-schemas.ts'

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const count = { type: 'integer', minimum: 0 } as const
/** An absolute file path: Linux's PATH_MAX is 4096 bytes. */
const path = { type: 'string', minLength: 1, maxLength: 4096 } as const

export const jobParams = object({ id: { type: 'string', minLength: 1, maxLength: 64 } })

export const seedExportBody = object({ to: path, force: { type: 'boolean' } }, ['to'])

export const seedImportBody = object({ from: path })

const seedExportResult = object({ path: str, bytes: count, blocks: count, root: str, time: str })
const seedImportResult = object({ relationship: str, vm: str, peer: str, point: pointSchema })

export const jobSchema = object({
  id: str,
  kind: { type: 'string', enum: ['seed-export', 'seed-import', 'drill', 'failover', 'failover-complete', 'failover-planned', 'replication-reverse', 'salvage-restore'] },
  vm: str,
  relationship: nullableStr,
  state: { type: 'string', enum: ['running', 'ok', 'failed', 'cancelled'] },
  startedAt: str,
  endedAt: nullableStr,
  progress: object({ done: count, total: count }),
  error: { anyOf: [{ type: 'null' }, object({ code: str, message: str })] },
  seedExport: { anyOf: [{ type: 'null' }, seedExportResult] },
  seedImport: { anyOf: [{ type: 'null' }, seedImportResult] },
  drill: { anyOf: [{ type: 'null' }, drillInfoSchema] },
  failover: { anyOf: [{ type: 'null' }, failoverInfoSchema] },
  planned: { anyOf: [{ type: 'null' }, plannedInfoSchema] },
  reverse: { anyOf: [{ type: 'null' }, reverseInfoSchema] },
  salvageRestore: { anyOf: [{ type: 'null' }, salvageRestoreResult] }
})

export const jobListSchema = { type: 'array', items: jobSchema }
