/**
 * JSON schemas of the Replica routes (routes/replica.ts, docs/api.md
 * "Replica"). As in schemas.ts: nothing unknown, nothing coerced.
 */
import { drillSettingsSchema, testFailoverSchema } from './failover-schemas.ts'
import { failoverInfoSchema } from './unplanned-schemas.ts'
import { pointSchema, proofSchema } from './point-schemas.ts'

export { pointSchema }

const str = { type: 'string' } as const
const int = { type: 'integer' } as const
const nullableStr = { type: ['string', 'null'] } as const

function object (properties: Record<string, unknown>, required: string[] = Object.keys(properties)): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, required, properties }
}

/** A VM name or relationship id (core's DISK_NAME_PATTERN), or PEER/RELATIONSHIP; checked again behind the API. */
export const pointsParams = object({ name: { type: 'string', minLength: 1, maxLength: 200 } })

export const pointsSchema = object({
  relationship: str,
  vm: nullableStr,
  peer: str,
  removed: { type: 'boolean' },
  store: str,
  points: { type: 'array', items: pointSchema }
})

/**
 * `name` a VM name or relationship id, `last` 1..MAX_EVENTS_SHOWN (1000),
 * `after` a seq (at most 15 digits: a safe integer), `cursor` an earlier
 * answer's (opaque: letters, digits, `.`, `_`, `-`; empty for the log's
 * beginning); checked again behind the API.
 */
export const eventsQuery = object({
  name: { type: 'string', minLength: 1, maxLength: 64 },
  last: { type: 'string', pattern: '^[0-9]{1,4}$' },
  after: { type: 'string', pattern: '^[0-9]{1,15}$' },
  cursor: { type: 'string', maxLength: 120, pattern: '^[0-9A-Za-z._-]*$' }
}, [])

const dataValue = { type: ['string', 'number', 'boolean', 'null'] }

export const eventSchema = object({
  seq: int,
  time: str,
  relationship: str,
  vm: str,
  kind: str,
  reason: str,
  code: str,
  phase: { type: 'string', enum: ['begin', 'end'] },
  begin: int,
  outcome: { type: 'string', enum: ['ok', 'failed', 'interrupted'] },
  data: { type: 'object', additionalProperties: dataValue }
}, ['seq', 'time', 'kind', 'reason'])

export const eventsSchema = object({ events: { type: 'array', items: eventSchema }, problems: int, cursor: str, more: { type: 'boolean' }, reset: { type: 'boolean' } })

export const replicaStatusSchema = {
  type: 'array',
  items: object({
    relationship: str,
    vm: str,
    role: { type: 'string', const: 'replica' },
    peer: str,
    term: int,
    state: str,
    reason: str,
    health: { type: 'string', enum: ['normal', 'warning', 'critical'] },
    healthRule: str,
    healthReason: str,
    recoveryPoints: int,
    frequency: { anyOf: [int, { type: 'string', const: 'continuous' }] },
    lastPointTime: nullableStr,
    lastReplicationTime: nullableStr,
    achievedRpoMs: { type: ['integer', 'null'] },
    vmShape: {
      anyOf: [
        { type: 'null' },
        object({
          driver: { type: 'string', enum: ['qemu', 'manual'] },
          vcpus: int,
          memoryMiB: int,
          disks: { type: 'array', items: object({ name: str, size: int, format: { type: 'string', enum: ['raw', 'qcow2'] } }) }
        })
      ]
    },
    test: { anyOf: [{ type: 'null' }, testFailoverSchema] },
    lastProvenPoint: { anyOf: [{ type: 'null' }, proofSchema] },
    drill: { anyOf: [{ type: 'null' }, drillSettingsSchema] },
    failover: { anyOf: [{ type: 'null' }, failoverInfoSchema] }
  })
}
