/**
 * What `/metrics` reports (docs/web.md "Metrics"), read from the service at
 * each scrape (the cycle figures from what the event log gained since the
 * last one: metrics-cycles.ts): the box, and per replication relationship its health,
 * state and figures. Values are in base units (seconds, bytes), times as
 * Unix seconds, as Prometheus' conventions ask.
 */
import type { ApplianceService, PeerInfo, PointsResult, ReplicaStatusInfo, ReplicationInfo } from '../appliance/service/index.ts'
import type { CycleFigures, LastCycle } from './metrics-cycles.ts'
import type { MetricFamily } from './metrics-format.ts'

/** Every family, in the order they are written; docs/web.md lists the same. */
export const METRIC_HELP = {
  tandem_up: 'Whether the daemon runs (1) or the status was read from the data directory alone (0).',
  tandem_box_info: 'The box: its name, peer id, role and version as labels; always 1.',
  tandem_peers: 'Paired boxes.',
  tandem_peers_connected: 'Paired boxes connected now.',
  tandem_jobs_running: 'Jobs running (seed exports and imports, drills, failovers, reversals, salvage restores).',
  tandem_tests_running: 'Test failovers running on this box.',
  tandem_replication_health: 'Health of the relationship: 0 normal, 1 warning, 2 critical (docs/health.md).',
  tandem_replication_state: 'State of the relationship, as the state label; always 1.',
  tandem_replication_rpo_seconds: 'Achieved RPO: the age of the newest recovery point now.',
  tandem_replication_rpo_worst_seconds: 'The worst achieved RPO in the monitoring window (primary).',
  tandem_replication_rpo_target_seconds: 'The RPO target (primary).',
  tandem_replication_rpo_met: 'Whether the achieved RPO met the target over the monitoring window: 1 or 0 (primary).',
  tandem_replication_data_at_risk_bytes: 'Bytes written and not yet in a recovery point on the Replica (primary; absent when the VM driver cannot tell).',
  tandem_replication_data_at_risk_seconds: 'Seconds of writes a failover now would lose (primary).',
  tandem_replication_last_replication_timestamp_seconds: 'When the last cycle committed (Unix time).',
  tandem_replication_last_point_timestamp_seconds: 'Snapshot time of the newest recovery point on the Replica (Unix time).',
  tandem_replication_recovery_points: 'Recovery points held here (Replica).',
  tandem_replication_last_cycle_bytes: 'Bytes sent by the last successful cycle (primary; from the event log).',
  tandem_replication_last_cycle_duration_seconds: 'Duration of the last successful cycle (primary; from the event log).',
  tandem_replication_last_proven_point_timestamp_seconds: 'Snapshot time of the newest recovery point a drill booted (Replica).',
  tandem_replication_last_proof_timestamp_seconds: 'When the newest drill saw the sign of life (Replica).'
} as const

export type MetricName = keyof typeof METRIC_HELP

const HEALTH_VALUE = { normal: 0, warning: 1, critical: 2 } as const

/** Unix seconds of an ISO time, or undefined. */
const unix = (iso: string | null | undefined): number | undefined => {
  const ms = iso === null || iso === undefined ? NaN : Date.parse(iso)
  return Number.isNaN(ms) ? undefined : ms / 1000
}
const secondsOf = (ms: number | null): number | undefined => ms === null ? undefined : ms / 1000

export interface MetricsInput {
  up: boolean
  box: { name: string, peerId: string, role: string, version: string }
  peers: PeerInfo[]
  connectedPeers: number
  jobsRunning: number
  testsRunning: number
  replication: ReplicationInfo[]
  replica: ReplicaStatusInfo[]
  /** points() of each Replica relationship, by relationship id; missing when it could not be read. */
  points: Map<string, PointsResult>
  cycles: Map<string, LastCycle>
}

/**
 * Reads what the metrics need; the points are optional (a failure leaves
 * their metrics out); the cycle figures are `cycles`' running ones, fed
 * what the event log gained since the last scrape.
 */
export async function readMetricsInput (service: ApplianceService, cycles: CycleFigures): Promise<MetricsInput> {
  const [status, peers, replication, replica, jobs, tests] = await Promise.all([
    service.status(), service.pairList(), service.replicationStatus(), service.replicaStatus(), service.jobs(), service.failoverTests()
  ])
  const lastCycles = await cycles.update(service)
  const points = new Map<string, PointsResult>()
  for (const r of replica) {
    const p = await service.points(r.relationship).catch(() => undefined)
    if (p !== undefined) points.set(r.relationship, p)
  }
  return {
    up: status.state === 'running',
    box: { name: status.name, peerId: status.peerId, role: status.role, version: status.version },
    peers,
    connectedPeers: status.connectedPeers,
    jobsRunning: jobs.filter(j => j.state === 'running').length,
    testsRunning: tests.length,
    replication,
    replica,
    points,
    cycles: lastCycles
  }
}

/** Pure: the families of `input`, each with its samples; a figure that is unknown (null) has no sample. */
export function metricFamilies (input: MetricsInput): MetricFamily[] {
  const families = new Map<MetricName, MetricFamily>()
  for (const [name, help] of Object.entries(METRIC_HELP)) families.set(name as MetricName, { name, help, type: 'gauge', samples: [] })
  const set = (name: MetricName, labels: Record<string, string>, value: number | undefined): void => {
    if (value !== undefined && !Number.isNaN(value)) families.get(name)!.samples.push({ labels, value })
  }
  const peerName = new Map(input.peers.map(p => [p.peerId, p.name]))
  const labelsOf = (r: { vm: string, relationship: string, role: string, peer: string }): Record<string, string> =>
    ({ vm: r.vm, relationship: r.relationship, role: r.role, peer: peerName.get(r.peer) ?? r.peer })

  set('tandem_up', {}, input.up ? 1 : 0)
  set('tandem_box_info', { name: input.box.name, peer_id: input.box.peerId, role: input.box.role, version: input.box.version }, 1)
  set('tandem_peers', {}, input.peers.length)
  set('tandem_peers_connected', {}, input.connectedPeers)
  set('tandem_jobs_running', {}, input.jobsRunning)
  set('tandem_tests_running', {}, input.testsRunning)

  for (const r of input.replication) {
    const labels = labelsOf(r)
    set('tandem_replication_health', labels, HEALTH_VALUE[r.health])
    set('tandem_replication_state', { ...labels, state: r.state }, 1)
    set('tandem_replication_rpo_seconds', labels, secondsOf(r.achievedRpo.currentMs))
    set('tandem_replication_rpo_worst_seconds', labels, secondsOf(r.achievedRpo.worstMs))
    set('tandem_replication_rpo_target_seconds', labels, r.achievedRpo.targetMs / 1000)
    set('tandem_replication_rpo_met', labels, r.achievedRpo.met ? 1 : 0)
    set('tandem_replication_data_at_risk_bytes', labels, r.dataAtRisk.bytes ?? undefined)
    set('tandem_replication_data_at_risk_seconds', labels, r.dataAtRisk.seconds ?? undefined)
    set('tandem_replication_last_replication_timestamp_seconds', labels, unix(r.lastReplicationTime))
    set('tandem_replication_last_point_timestamp_seconds', labels, unix(r.lastPointTime))
    const cycle = input.cycles.get(r.relationship)
    set('tandem_replication_last_cycle_bytes', labels, cycle?.bytes)
    set('tandem_replication_last_cycle_duration_seconds', labels, cycle?.seconds)
  }
  for (const r of input.replica) {
    const labels = labelsOf(r)
    set('tandem_replication_health', labels, HEALTH_VALUE[r.health])
    set('tandem_replication_state', { ...labels, state: r.state }, 1)
    set('tandem_replication_rpo_seconds', labels, secondsOf(r.achievedRpoMs))
    set('tandem_replication_last_replication_timestamp_seconds', labels, unix(r.lastReplicationTime))
    set('tandem_replication_last_point_timestamp_seconds', labels, unix(r.lastPointTime))
    const points = input.points.get(r.relationship)?.points
    set('tandem_replication_recovery_points', labels, points?.length)
    set('tandem_replication_last_proven_point_timestamp_seconds', labels, unix(points?.findLast(p => p.proven !== undefined)?.time))
    set('tandem_replication_last_proof_timestamp_seconds', labels, unix(r.lastProvenPoint?.time))
  }
  return [...families.values()]
}
