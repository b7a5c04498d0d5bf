/**
 * What the live channel sends as `event: snapshot` (docs/web.md "Live
 * updates"): the box, its relationships both ways, its jobs and its tests
 * in one value, and which changes of it are worth sending.
 */
import type { ApplianceService, JobInfo, ReplicaStatusInfo, ReplicationInfo, StatusInfo, TestFailoverInfo } from '../appliance/service/index.ts'

export interface LiveSnapshot {
  status: StatusInfo
  /** The relationships this box is the primary of (replicationStatus()). */
  replication: ReplicationInfo[]
  /** The relationships held here as Replica (replicaStatus()). */
  replica: ReplicaStatusInfo[]
  jobs: JobInfo[]
  /** The test failovers running here (failoverTests()). */
  tests: TestFailoverInfo[]
}

/** Asks the service for every part at once; rejects with the first part's error. */
export async function fetchSnapshot (service: ApplianceService): Promise<LiveSnapshot> {
  const [status, replication, replica, jobs, tests] = await Promise.all([
    service.status(), service.replicationStatus(), service.replicaStatus(), service.jobs(), service.failoverTests()
  ])
  return { status, replication, replica, jobs, tests }
}

/** The forms of appliance's durationText ("5 s", "2 min", "1 h 5 min", "3 d 2 h") inside a reason or a forecast. */
const DURATION_TEXT = /\b\d+ (?:s|min|h|d)(?: \d+ (?:min|h))?\b/g

const blank = (text: string): string => text.replace(DURATION_TEXT, '#')

/**
 * Pure: the snapshot as a string without what changes only because the
 * clock moves: the newest point's age (achieved RPO now and at worst, data
 * at risk in seconds, a Replica's achievedRpoMs), the time to a forecast
 * breach, and the durations quoted in the health reasons and the forecast's
 * message. Two snapshots with the same key differ in nothing else, so an
 * idle box sends no snapshot every second just because its points age (the
 * page ages them itself from `lastPointTime`).
 */
export function steadyKey (s: LiveSnapshot): string {
  return JSON.stringify({
    ...s,
    replication: s.replication.map(r => ({
      ...r,
      reason: blank(r.reason),
      achievedRpo: { ...r.achievedRpo, currentMs: null, worstMs: null },
      dataAtRisk: { ...r.dataAtRisk, seconds: null },
      forecast: { ...r.forecast, breachInMs: null, message: blank(r.forecast.message) }
    })),
    replica: s.replica.map(r => ({ ...r, healthReason: blank(r.healthReason), achievedRpoMs: null }))
  })
}
