/**
 * JSON schemas of the failover routes (routes/failover.ts, docs/api.md
 * "Failover"), and of the failover values other answers carry (a point's
 * proof, a Replica relationship's test and drill settings, a drill job's
 * result). As in schemas.ts: nothing unknown, nothing coerced; values are
 * checked again behind the API.
 */
import { object, summarySchema } from '../schemas.ts'
import { pointSchema, proofSchema } from './point-schemas.ts'

const str = { type: 'string' } as const
const int = { type: 'integer' } as const
const nullableStr = { type: ['string', 'null'] } as const
const nullableInt = { type: ['integer', 'null'] } as const
/** A recovery point id. */
const pointId = { type: 'integer', minimum: 1 } as const
/** A duration as the operator types it (`7d`, `5m`) or `off`; parsed behind the API. */
const duration = { type: 'string', minLength: 1, maxLength: 64 } as const

/** The sign of life: the agent, or a serial pattern of at most 256 characters (checked again: docs/failover.md "Signs of life"). */
export const drillSignSchema = {
  oneOf: [
    object({ kind: { type: 'string', const: 'agent' } }),
    object({ kind: { type: 'string', const: 'serial' }, pattern: { type: 'string', minLength: 1, maxLength: 256 } })
  ]
}


const timingsSchema = object({ serveMs: int, overlayMs: nullableInt, startMs: nullableInt })

const servedDiskSchema = object({ name: str, size: int, uri: str })

export const testFailoverSchema = object({
  relationship: str,
  vm: str,
  point: pointSchema,
  since: str,
  testVm: nullableStr,
  state: nullableStr,
  note: nullableStr,
  disks: { type: 'array', items: servedDiskSchema },
  drillJob: nullableStr,
  timings: timingsSchema
})

export const testFailoversSchema = { type: 'array', items: testFailoverSchema }

export const testStopPlanSchema = object({ relationship: str, vm: str, state: str, test: testFailoverSchema, runDir: str, stopWindowMs: int, summary: summarySchema })

export const drillSettingsSchema = object({
  relationship: str,
  vm: str,
  everyMs: nullableInt,
  sign: drillSignSchema,
  timeoutMs: int,
  lastRunAt: nullableStr,
  nextAt: nullableStr
})

export const drillInfoSchema = object({ relationship: str, vm: str, point: int, root: str, reason: str, proof: proofSchema, timings: timingsSchema })

/** A VM name or relationship id (core's DISK_NAME_PATTERN, checked again behind the API). */
export const failoverParams = object({ name: { type: 'string', minLength: 1, maxLength: 64 } })

/**
 * A drill screenshot's name and its relationship: `file` is a file name
 * ending in `.png`, no folder (no slash, backslash, leading dot or `..`): the
 * service compares it with the names its proofs hold.
 */
export const screenshotParams = object({
  name: { type: 'string', minLength: 1, maxLength: 64 },
  file: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,100}(?:\\.[A-Za-z0-9_-]{1,20})*\\.png$' }
})

export const testStartBody = object({ point: pointId }, [])

/** The time limit in ms: 1 s to 1 h (checked again behind the API). */
const timeoutMs = { type: 'integer', minimum: 1000, maximum: 3_600_000 } as const

export const testPlanBody = object({ point: pointId, check: { type: 'boolean' }, sign: drillSignSchema, timeoutMs }, [])

export const drillBody = object({ point: pointId, sign: drillSignSchema, timeoutMs }, [])

export const drillScheduleBody = object({ every: duration, sign: drillSignSchema, timeout: duration }, ['every'])

export const testPlanSchema = object({
  relationship: str,
  vm: str,
  state: str,
  point: pointSchema,
  latest: { type: 'boolean' },
  newerPoints: int,
  testVm: nullableStr,
  note: nullableStr,
  vcpus: nullableInt,
  memoryMiB: nullableInt,
  boot: { type: ['string', 'null'], enum: ['bios', 'kernel', null] },
  nics: int,
  check: { anyOf: [{ type: 'null' }, object({ sign: drillSignSchema, timeoutMs: int, screenshotDir: str })] },
  summary: summarySchema
})

export const testStopSchema = object({ relationship: str, vm: str, point: int, testVm: nullableStr, stopped: { type: 'boolean', const: true } })
