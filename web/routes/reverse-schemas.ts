/**
 * JSON schemas of reverse replication, salvage copies and planned
 * failover (routes/reverse.ts, routes/failover.ts; docs/api.md "Reverse
 * replication", "Salvage", "Failover"). As in schemas.ts: nothing unknown,
 * nothing coerced; paths are checked again behind the API (absolute, no NUL).
 */
import { object, summarySchema } from '../schemas.ts'

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const int = { type: 'integer' } as const
const count = { type: 'integer', minimum: 0 } as const
const nullableInt = { type: ['integer', 'null'] } as const
/** An absolute file path: Linux's PATH_MAX is 4096 bytes. */
const path = { type: 'string', minLength: 1, maxLength: 4096 } as const
/** A salvage id's characters: `<relationship>-<yyyymmddThhmmssZ>[-n]` (an id not on the box is APP_SALVAGE_NOT_FOUND behind the API). */
const salvageId = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' } as const

export const reverseBody = object({ force: { type: 'boolean' } }, [])

const sharedPoint = { anyOf: [{ type: 'null' }, object({ id: int, root: str, time: str })] }

export const reversePlanSchema = object({
  relationship: str,
  vm: str,
  replica: str,
  state: str,
  term: int,
  base: sharedPoint,
  force: { type: 'boolean' },
  disks: { type: 'array', items: object({ name: str, path: str }) },
  summary: summarySchema
})

export const reverseInfoSchema = object({
  relationship: str,
  vm: str,
  replica: str,
  term: int,
  base: sharedPoint,
  firstCycle: { anyOf: [{ type: 'null' }, object({ outcome: { type: 'string', enum: ['ok', 'failed'] }, bytesSent: count, bytesChanged: count, code: nullableStr })] },
  timings: object({ reverseMs: nullableInt, firstCycleMs: nullableInt }),
  reason: str
})

export const salvageParams = object({ id: salvageId })
export const salvageQuery = object({ name: { type: 'string', minLength: 1, maxLength: 64 } }, [])

export const salvageSchema = object({
  id: str,
  relationship: str,
  vm: str,
  peer: str,
  state: { type: 'string', enum: ['saving', 'kept', 'failed', 'prepared'] },
  prepared: { type: 'boolean' },
  time: str,
  since: nullableStr,
  point: nullableInt,
  root: nullableStr,
  disks: { type: 'array', items: object({ name: str, size: nullableInt, source: str }) },
  reason: str
})
export const salvageListSchema = { type: 'array', items: salvageSchema }

export const salvageRestoreBody = object({ out: path, disk: { type: 'string', minLength: 1, maxLength: 64 }, force: { type: 'boolean' } }, ['out'])
export const salvageRestoreResult = object({ id: str, disk: str, path: str, bytes: count })

export const salvageDeleteBody = object({ yes: { type: 'boolean' } }, [])
export const salvageDeleteSchema = object({ id: str, deleted: { type: 'boolean', const: true }, pointDropped: { type: 'boolean' } })

export const plannedInfoSchema = object({
  relationship: str,
  vm: str,
  replica: str,
  term: int,
  point: object({ root: str, time: str }),
  bytesSent: count,
  timings: object({ shutdownMs: nullableInt, finalCycleMs: nullableInt, handoverMs: nullableInt }),
  reason: str
})

/** A planned failover's shut-down window in ms: 1 s to 1 h (appliance's MIN_ / MAX_PLANNED_SHUTDOWN_WINDOW_MS check it again). */
const plannedFields = { force: { type: 'boolean' }, timeoutMs: { type: 'integer', minimum: 1000, maximum: 3_600_000 } }
export const plannedBody = object(plannedFields, [])
export const plannedPlanBody = object({ ...plannedFields, action: { type: 'string', enum: ['planned', 'cancel'] } }, [])

export const plannedPlanSchema = object({
  action: { type: 'string', enum: ['planned', 'cancel'] },
  relationship: str,
  vm: str,
  replica: str,
  state: str,
  term: int,
  termAfter: int,
  driver: { type: 'string', enum: ['qemu', 'manual'] },
  vmState: str,
  shutdown: { type: 'string', enum: ['shutdown', 'stopped', 'manual'] },
  shutdownWindowMs: int,
  force: { type: 'boolean' },
  lastPointTime: nullableStr,
  resumes: { type: 'boolean' },
  startsVm: { type: 'boolean' },
  summary: summarySchema
})
