/**
 * The Replica relationships in words, for `tandem replication status`
 * (which lists them after the relationships this box is the primary of;
 * docs/cli.md). Pure. Takes what `ApplianceService.replicaStatus()`
 * returns; `--json` shows that array as the `replica` list.
 */
import { durationText, type ReplicaStatusInfo } from '../service/index.ts'
import { peerLabel, type PeerNames } from './format.ts'

/**
 * One line per relationship: `web (web-1)  Replica of 12D3KooW...  replicating,
 * newest point 41 s old, keeps latest + 24: initial replication finished; replicating`,
 * then its health, last replication time and last proven point:
 * `  health normal: ...; last replication 2026-12-07T05:40:02.120Z; last proven point 40 (...)`,
 * then its drill schedule, its running test failover and its unplanned
 * failover (the point, the term, the VM or files, what to run next), when
 * it has them.
 */
export function replicaStatusLine (r: ReplicaStatusInfo, names?: PeerNames): string {
  const newest = r.achievedRpoMs === null ? 'no point yet' : `newest point ${durationText(r.achievedRpoMs)} old`
  const proven = r.lastProvenPoint === null
    ? 'no point proven by a drill yet'
    : `last proven point ${r.lastProvenPoint.point} (booted ${r.lastProvenPoint.time}, sign of life after ${durationText(r.lastProvenPoint.signOfLifeMs)})`
  const lines = [
    `${r.vm} (${r.relationship})  Replica of ${peerLabel(r.peer, names)}  ${r.state}, ${newest}, keeps latest + ${r.recoveryPoints}: ${r.reason}`,
    `  health ${r.health}: ${r.healthReason}; last replication ${r.lastReplicationTime ?? 'never'}; ${proven}`
  ]
  if (r.drill?.everyMs != null) lines.push(`  drills every ${durationText(r.drill.everyMs)}, next ${r.drill.nextAt ?? '-'}`)
  const t = r.test
  if (t !== null) lines.push(`  test failover on point ${t.point.id} since ${t.since}: ${t.testVm === null ? 'disks served only' : `${t.testVm} ${t.state ?? 'unknown'}`}${t.drillJob === null ? '' : ` (drill job ${t.drillJob})`}`)
  const f = r.failover
  if (f !== null) {
    const what = f.kind === 'vm' ? `${f.vm} ${f.vmState ?? 'unknown'} here` : `raw files here (${f.disks.map(d => d.path).join(', ')})`
    lines.push(`  failed over to point ${f.point.id} (${f.point.time}) at term ${f.term} since ${f.since}: ${what}, ${f.phase}${f.job === null ? '' : ` (job ${f.job})`}; ${f.reason}`)
  }
  return lines.join('\n')
}

export function replicaStatusText (list: ReplicaStatusInfo[], names?: PeerNames): string {
  return list.length === 0 ? 'no relationship is held here as Replica' : list.map(r => replicaStatusLine(r, names)).join('\n')
}
