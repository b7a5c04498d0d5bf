/**
 * The dashboard: every VM protected to or from this box, with its state,
 * health and the reason, last replication, achieved RPO against the target,
 * data at risk, the forecast and the last proven point; alarms (Critical,
 * then Warning) first. Loaded from /v1/status, /v1/replication,
 * /v1/replica/relationships and /v1/peers, then kept current by the live
 * channel's snapshots. Peers are shown by name, never by id, when the name
 * is known.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { StatusInfo, PeerInfo } from '../../../appliance/service/types.ts'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { ReplicaStatusInfo } from '../../../appliance/service/replica-types.ts'
import type { PageProps } from '../app.ts'
import { failureText } from './form-error.ts'
import { type Health, duration, frequency, HEALTH_RANK, HEALTH_WORDS, size, stateText, when } from '../format.ts'
import { useNow } from '../now.ts'
import { href } from '../route.ts'

/** One row of the dashboard, from either side of a relationship. */
interface Row {
  key: string
  vm: string
  side: string
  state: string
  stateReason: string
  health: Health
  reason: string
  facts: Array<[string, string]>
}

interface Data { status: StatusInfo, replication: ReplicationInfo[], replica: ReplicaStatusInfo[], peers: PeerInfo[] }

export function DashboardPage ({ api, live }: PageProps): ComponentChildren {
  const [data, setData] = useState<Data | null>(null)
  const [error, setError] = useState<string | null>(null)
  const now = useNow()
  useEffect(() => {
    let gone = false
    Promise.all([
      api.get<StatusInfo>('/v1/status'),
      api.get<ReplicationInfo[]>('/v1/replication'),
      api.get<ReplicaStatusInfo[]>('/v1/replica/relationships'),
      api.get<PeerInfo[]>('/v1/peers')
    ]).then(([status, replication, replica, peers]) => {
      if (!gone) setData(d => d ?? { status, replication, replica, peers })
    }, (err: unknown) => { if (!gone) setError(failureText(err)) })
    const stop = live.subscribe({
      snapshot: s => { setData(d => d === null ? d : { ...d, status: s.status, replication: s.replication, replica: s.replica }) }
    })
    return () => { gone = true; stop() }
  }, [api, live])

  const title = html`<h1 id="page-title" tabindex="-1">Dashboard</h1>`
  if (data === null) {
    return html`${title}${error === null ? html`<p class="loading">Loading…</p>` : html`<p role="alert" class="form-error">Could not load: ${error}</p>`}`
  }
  const names = new Map(data.peers.map(p => [p.peerId, p.name]))
  const peerName = (id: string): string => names.get(id) ?? 'an unknown box'
  const rows = [
    ...data.replication.map(r => primaryRow(r, data.status.name, peerName, now)),
    ...data.replica.map(r => replicaRow(r, data.status.name, peerName, now))
  ].sort((a, b) => HEALTH_RANK[a.health] - HEALTH_RANK[b.health] || a.vm.localeCompare(b.vm))
  const alarms = rows.filter(r => r.health !== 'normal')
  return html`
    ${title}
    <p class="summary">${data.status.name}: ${rows.length === 0 ? 'no VM is protected yet.' : `${rows.length} protected VM${rows.length === 1 ? '' : 's'}, ${data.status.connectedPeers} of ${data.status.peers} paired box${data.status.peers === 1 ? '' : 'es'} connected.`}</p>
    <section aria-labelledby="alarms-title">
      <h2 id="alarms-title">Alarms</h2>
      ${alarms.length === 0
        ? html`<p class="ok-line">No alarms: every VM is healthy.</p>`
        : html`<ul class="alarms">${alarms.map(r => html`
            <li class="alarm ${r.health}"><span class="badge ${r.health}">${HEALTH_WORDS[r.health]}</span> <strong>${r.vm}</strong> ${r.reason}</li>`)}</ul>`}
    </section>
    <section aria-labelledby="vms-title">
      <h2 id="vms-title">Virtual machines</h2>
      ${rows.length === 0 ? html`<p>Pair with another box, then protect a VM.</p>` : html`<ul class="vms">${rows.map(VmCard)}</ul>`}
    </section>`
}

function VmCard (row: Row): ComponentChildren {
  const id = `vm-${row.key}`
  return html`
    <li class="vm ${row.health}" key=${row.key}>
      <article aria-labelledby=${id}>
        <h3 id=${id}><a href=${href('vm', row.vm)}>${row.vm}</a> <span class="side">${row.side}</span></h3>
        <p class="health-line"><span class="badge ${row.health}">${HEALTH_WORDS[row.health]}</span> ${row.reason}</p>
        <dl class="facts">
          <dt>State</dt><dd>${stateText(row.state)}<span class="why">${row.stateReason}</span></dd>
          ${row.facts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}
        </dl>
      </article>
    </li>`
}

function primaryRow (r: ReplicationInfo, box: string, peerName: (id: string) => string, now: number): Row {
  const rpo = r.achievedRpo
  return {
    key: `p-${r.relationship}`,
    vm: r.vm,
    side: `runs on ${box}, Replica on ${peerName(r.peer)}`,
    state: r.state,
    stateReason: r.stateReason,
    health: r.health,
    reason: r.reason,
    facts: [
      ['Last replication', when(r.lastReplicationTime, now)],
      ['Achieved RPO', `${rpo.currentMs === null ? 'no point yet' : duration(rpo.currentMs)} (target ${duration(rpo.targetMs)}${rpo.worstMs === null ? '' : `, worst ${duration(rpo.worstMs)}`}): ${rpo.met ? 'met' : 'missed'}`],
      ['Data at risk', dataAtRisk(r.dataAtRisk)],
      ['Forecast', r.forecast.message],
      ['Replication', `${frequency(r.settings.frequency)}, ${r.settings.recoveryPoints} extra recovery point${r.settings.recoveryPoints === 1 ? '' : 's'}${r.running ? ', a cycle is running' : ''}`],
      ['Last proven point', 'shown on the Replica box']
    ]
  }
}

function replicaRow (r: ReplicaStatusInfo, box: string, peerName: (id: string) => string, now: number): Row {
  const proof = r.lastProvenPoint
  return {
    key: `r-${r.relationship}`,
    vm: r.vm,
    side: `runs on ${peerName(r.peer)}, Replica on ${box}`,
    state: r.state,
    stateReason: r.reason,
    health: r.health,
    reason: r.healthReason,
    facts: [
      ['Last replication', when(r.lastReplicationTime, now)],
      ['Achieved RPO', r.achievedRpoMs === null ? 'no point yet' : `${duration(r.achievedRpoMs)} (replicated ${frequency(r.frequency)})`],
      ['Newest recovery point', when(r.lastPointTime, now)],
      ['Last proven point', proof === null ? 'none: no drill has booted a point yet' : `point ${proof.point} of ${when(proof.time, now)}, booted (${proof.sign}) in ${duration(proof.signOfLifeMs)}`],
      ...(r.test === null ? [] : [['Test failover', `running from point ${r.test.point.id} as ${r.test.testVm}`] as [string, string]]),
      ...(r.failover === null ? [] : [['Failover', `${r.failover.phase}, from point ${r.failover.point.id}`] as [string, string]])
    ]
  }
}

function dataAtRisk (risk: ReplicationInfo['dataAtRisk']): string {
  if (risk.seconds === null && risk.bytes === null) return 'none known'
  const parts = [risk.bytes === null ? null : size(risk.bytes), risk.seconds === null ? null : `${duration(risk.seconds * 1000)} of writes`]
  return parts.filter(p => p !== null).join(', ')
}
