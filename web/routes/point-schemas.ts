/**
 * The JSON schema of a recovery point as the API shows it (docs/api.md
 * "Replica"), with the proof a drill recorded of it: shared by the points,
 * jobs and failover answers. As in schemas.ts: nothing unknown.
 */
import { object } from '../schemas.ts'

const str = { type: 'string' } as const
const int = { type: 'integer' } as const

/** What a successful drill proved of a point (docs/failover.md "Drills"). */
export const proofSchema = object({ point: int, root: str, time: str, sign: { type: 'string', enum: ['agent', 'serial'] }, signOfLifeMs: int, screenshot: str })

export const pointSchema = object({
  id: int,
  time: str,
  consistency: { type: 'string', enum: ['crash', 'app'] },
  consistencyNote: str,
  size: int,
  term: int,
  root: str,
  disks: { type: 'array', items: object({ name: str, size: int }) },
  proven: proofSchema
}, ['id', 'time', 'consistency', 'size', 'term', 'root', 'disks'])
