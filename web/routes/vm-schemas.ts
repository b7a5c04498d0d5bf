/**
 * The JSON schemas of the VM routes (docs/api.md "VMs"). Requests are
 * checked for shape here (no unknown property, no coercion); the daemon
 * checks them in depth (checkVmDefinition: ranges, absolute paths, names).
 */
import { MAX_VM_STOP_WINDOW_MS } from '../../appliance/service/index.ts'
import { object } from '../schemas.ts'

const str = { type: 'string' } as const
const nullableStr = { type: ['string', 'null'] } as const
/** An absolute path (the daemon checks it again); PATH_MAX. */
const path = { type: 'string', minLength: 1, maxLength: 4096 } as const
/** A VM name: appliance's DISK_NAME_PATTERN. */
const vmName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const
const driver = { type: 'string', enum: ['qemu', 'manual'] } as const
const nicMode = { type: 'string', enum: ['none', 'isolated', 'user', 'bridge'] } as const
const state = { type: 'string', enum: ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed', 'unmanaged', 'unknown'] } as const

export const vmParams = object({ name: vmName })

/** At most 16 disks and 8 NICs (the definition's limits, checked again by the daemon). */
export const vmAddBody = object({
  name: vmName,
  disks: { type: 'array', minItems: 1, maxItems: 16, items: path },
  cpus: { type: 'integer', minimum: 1 },
  memoryMiB: { type: 'integer', minimum: 1 },
  driver,
  guestAgent: { type: 'boolean' },
  nics: { type: 'array', maxItems: 8, items: object({ id: { type: 'string', maxLength: 26 }, mode: nicMode, bridge: { type: 'string', maxLength: 15 }, mac: { type: 'string', maxLength: 17 } }, ['mode']) },
  boot: object({ kernel: path, initrd: path, append: { type: 'string', maxLength: 4096 } }, ['kernel'])
}, ['name', 'disks'])

/** The graceful window: 1 ms to MAX_VM_STOP_WINDOW_MS. */
export const vmStopBody = object({ force: { type: 'boolean' }, timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_VM_STOP_WINDOW_MS } }, [])

const diskSchema = object({ name: str, path: str, format: { type: 'string', enum: ['raw', 'qcow2'] }, size: { type: ['integer', 'null'] } })

export const vmSchema = object({
  name: str,
  driver,
  state,
  reason: str,
  since: str,
  pid: { type: ['integer', 'null'] },
  accel: nullableStr,
  cpus: { type: 'integer' },
  memoryMiB: { type: 'integer' },
  guestAgent: { type: 'boolean' },
  disks: { type: 'array', items: diskSchema },
  nics: { type: 'array', items: object({ id: str, mode: str, bridge: nullableStr, mac: nullableStr }) },
  boot: { anyOf: [{ type: 'null' }, object({ kernel: str, initrd: nullableStr, append: nullableStr })] },
  relationship: { anyOf: [{ type: 'null' }, object({ id: str, role: { type: 'string', enum: ['primary', 'replica'] }, peer: str, state: str })] },
  addedAt: str
})

export const vmsSchema = { type: 'array', items: vmSchema }

export const vmRemoveSchema = object({ name: str, removed: { type: 'boolean', const: true } })
