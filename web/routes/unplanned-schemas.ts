/**
 * JSON schemas of the unplanned failover routes (routes/failover.ts,
 * docs/api.md "Failover"): the failover of a relationship, its plan
 * (`--dry-run`), and what cancel did. As in schemas.ts: nothing unknown,
 * nothing coerced; values are checked again behind the API.
 */
import { object, summarySchema } from '../schemas.ts'
import { pointSchema } from './point-schemas.ts'

const str = { type: 'string' } as const
const int = { type: 'integer' } as const
const nullableStr = { type: ['string', 'null'] } as const
const nullableInt = { type: ['integer', 'null'] } as const
const kind = { type: 'string', enum: ['vm', 'files'] } as const
const diskPath = object({ name: str, path: str })

export const failoverNicSchema = object({ id: str, mode: str, bridge: nullableStr, mac: nullableStr, warning: nullableStr })

export const failoverInfoSchema = object({
  relationship: str,
  vm: str,
  kind,
  phase: { type: 'string', enum: ['starting', 'materializing', 'running', 'completing', 'cancelling'] },
  point: pointSchema,
  term: int,
  since: str,
  vmState: nullableStr,
  disks: { type: 'array', items: diskPath },
  nics: { type: 'array', items: failoverNicSchema },
  job: nullableStr,
  timings: object({ termMs: nullableInt, serveMs: nullableInt, overlayMs: nullableInt, startMs: nullableInt, copyMs: nullableInt }),
  planned: { type: 'boolean' },
  reason: str
})

/** `yes` confirms a loss (docs/design.md invariant 4); the point is checked again behind the API. */
export const unplannedBody = object({ point: { type: 'integer', minimum: 1 }, yes: { type: 'boolean' } }, [])

/** A bandwidth as the operator types it (`50M`), parsed behind the API. */
export const completeBody = object({ yes: { type: 'boolean' }, bandwidth: { type: 'string', minLength: 1, maxLength: 64 } }, [])

export const failoverPlanBody = object({ action: { type: 'string', enum: ['unplanned', 'complete', 'cancel'] }, point: { type: 'integer', minimum: 1 } }, ['action'])

export const failoverPlanSchema = object({
  action: str,
  relationship: str,
  vm: str,
  state: str,
  term: int,
  termAfter: int,
  kind,
  point: pointSchema,
  latest: { type: 'boolean' },
  newerPoints: int,
  dropAtComplete: int,
  vcpus: nullableInt,
  memoryMiB: nullableInt,
  boot: { type: ['string', 'null'], enum: ['bios', 'kernel', null] },
  disks: { type: 'array', items: object({ name: str, path: str, size: int }) },
  nics: { type: 'array', items: failoverNicSchema },
  note: nullableStr,
  needsYes: { type: 'boolean' },
  summary: summarySchema
})

export const failoverCancelSchema = object({
  relationship: str,
  vm: str,
  point: nullableInt,
  term: int,
  kind: { type: 'string', enum: ['vm', 'files', 'planned'] },
  cancelled: { type: 'boolean', const: true },
  vmStarted: { type: ['boolean', 'null'] }
})
