/**
 * The Replica relationships in words, for `tandem replication status`
 * (which lists them after the relationships this box is the primary of;
 * docs/cli.md). Pure. Takes what `ApplianceService.replicaStatus()`
 * returns; `--json` shows that array as the `replica` list.
 */
import { durationText, type ReplicaStatusInfo } from '../service/index.ts'

/**
 * One line per relationship: `web (web-1)  Replica of 12D3KooW...  replicating,
 * newest point 41 s old, keeps latest + 24: initial replication finished; replicating`,
 * then its health and last replication time:
 * `  health normal: ...; last replication 2026-12-07T05:40:02.120Z`.
 */
export function replicaStatusLine (r: ReplicaStatusInfo): string {
  const newest = r.achievedRpoMs === null ? 'no point yet' : `newest point ${durationText(r.achievedRpoMs)} old`
  return `${r.vm} (${r.relationship})  Replica of ${r.peer}  ${r.state}, ${newest}, keeps latest + ${r.recoveryPoints}: ${r.reason}\n` +
    `  health ${r.health}: ${r.healthReason}; last replication ${r.lastReplicationTime ?? 'never'}`
}

export function replicaStatusText (list: ReplicaStatusInfo[]): string {
  return list.length === 0 ? 'no relationship is held here as Replica' : list.map(replicaStatusLine).join('\n')
}
