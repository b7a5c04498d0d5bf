/** Pure: the primary's settings as the Replica stores them, or refused by its policy (a table). */
import t from 'tap'
import { settingsFromWire } from '../../../appliance/replication/replica-record.ts'
import type { ProtectionSettings } from '../../../p2p/relationship/index.ts'

const base: ProtectionSettings = { frequency: 300_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }

const table: Array<[string, Partial<ProtectionSettings>, unknown]> = [
  ['the defaults', {}, { frequency: 300_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: 'now' }],
  ['continuous', { frequency: 'continuous' }, { frequency: 'continuous' }],
  ['at a time', { initial: { mode: 'at', at: 5 } }, { initial: { at: 5 } }],
  ['a seed is a copy already here', { initial: { mode: 'seed' } }, { initial: 'existing' }],
  ['existing', { initial: { mode: 'existing' } }, { initial: 'existing' }],
  ['0 additional points', { recoveryPoints: 0 }, { recoveryPoints: 0 }],
  ['10000 additional points', { recoveryPoints: 10_000 }, { recoveryPoints: 10_000 }],
  ['a 999 ms frequency', { frequency: 999 }, 'refused'],
  ['a 2 h frequency', { frequency: 7_200_000 }, 'refused'],
  ['app-consistent every 30 s', { appConsistentEvery: 30_000 }, 'refused'],
  ['app-consistent every 2 days', { appConsistentEvery: 2 * 86_400_000 }, 'refused'],
  ['app-consistent every hour', { appConsistentEvery: 3_600_000 }, { appConsistentEvery: 3_600_000 }],
  ['99 kB/s', { bandwidth: 99_999 }, 'refused'],
  ['1 TB/s', { bandwidth: 1e12 }, 'refused'],
  ['10 MB/s', { bandwidth: 10_000_000 }, { bandwidth: 10_000_000 }]
]

for (const [name, over, want] of table) {
  const got = settingsFromWire({ ...base, ...over })
  if (want === 'refused') t.ok('refused' in got, name)
  else t.match(got, want, name)
}
