/**
 * The JSON schemas of the replication routes (web/routes/replication.ts,
 * docs/api.md "Replication"). Setting values travel as the operator typed
 * them and are parsed behind the API (APP_SETTING_INVALID names the bad one).
 */
import { object } from './schemas.ts'

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
const int = { type: 'integer' } as const
const nullableNumber = { type: ['number', 'null'] } as const
const count = { type: 'integer', minimum: 0 } as const
/** A setting's text: every valid one is far shorter (appliance's MAX_SETTING_CHARS). */
const setting = { type: 'string', minLength: 1, maxLength: 4096 } as const

/** A VM's name: core's DISK_NAME_PATTERN, checked again behind the API. */
export const vmParams = object({ name: { type: 'string', minLength: 1, maxLength: 64 } })

export const replicationEnableBody = object({
  to: { type: 'string', minLength: 1, maxLength: 128 },
  frequency: setting,
  recoveryPoints: setting,
  appConsistentEvery: setting,
  bandwidth: setting,
  initial: setting
}, ['to'])

/** `replication set`: the settings to change (at least one: the service says APP_USAGE otherwise); `initial` cannot change. */
export const replicationUpdateBody = object({
  frequency: setting,
  recoveryPoints: setting,
  appConsistentEvery: setting,
  bandwidth: setting
}, [])

export const replicationInfoSchema = object({
  relationship: str,
  vm: str,
  role: { type: 'string', enum: ['primary', 'replica'] },
  peer: str,
  term: int,
  state: str,
  stateReason: str,
  health: { type: 'string', enum: ['normal', 'warning', 'critical'] },
  healthRule: str,
  reason: str,
  code: nullableStr,
  lastReplicationTime: nullableStr,
  lastPointTime: nullableStr,
  achievedRpo: object({ currentMs: nullableNumber, worstMs: nullableNumber, targetMs: { type: 'number' }, met: { type: 'boolean' } }),
  dataAtRisk: object({ bytes: nullableNumber, seconds: nullableNumber }),
  forecast: object({ breachInMs: nullableNumber, cause: nullableStr, message: str }),
  settings: object({
    frequency: { type: ['integer', 'string'] },
    recoveryPoints: int,
    appConsistentEvery: { type: ['integer', 'null'] },
    bandwidth: { type: ['integer', 'null'] },
    initial: str
  }),
  nextCycleAt: nullableStr,
  running: { type: 'boolean' },
  seedExportJob: nullableStr,
  progress: {
    anyOf: [
      { type: 'null' },
      object({ phase: str, bytesDone: count, bytesTotal: count, startedAt: str, etaMs: { type: ['integer', 'null'], minimum: 0 } })
    ]
  }
})

export const replicationListSchema = { type: 'array', items: replicationInfoSchema }

export const replicationMeasureSchema = object({
  relationship: str,
  vm: str,
  windowStart: str,
  windowEnd: str,
  successCount: count,
  missCount: count,
  averageLatencyMs: nullableNumber,
  maxLatencyMs: nullableNumber,
  averageSizeBytes: nullableNumber,
  maxSizeBytes: nullableNumber,
  pendingSizeBytes: nullableNumber,
  networkFailureCount: count,
  replicationFailureCount: count,
  appConsistentFailureCount: count,
  lastReplicationTime: nullableStr
})

export const replicationRemoveSchema = object({ relationship: str, vm: str, removed: { type: 'boolean', const: true }, replicaTold: { type: 'boolean' } })
