/**
 * The VM page (`#/vm/<name>`, docs/web.md "VM page"), linked from each
 * dashboard card: one protected VM, from whichever side this box holds it
 * on. Its state and health; on the primary the actions (vm-actions.ts),
 * the replication settings form (vm-settings.ts) and where its recovery
 * points are; on the Replica the points as a timeline (vm-points.ts); on
 * either side a link to its failover wizards; for a manual-driver VM the
 * disk files its hypervisor must use; charts of its cycles over time
 * (vm-charts.ts) from the event log's cycle events; the event log itself
 * (vm-events.ts). Loaded from /v1/status, /v1/peers, /v1/replication,
 * /v1/replica/relationships, /v1/vms, /v1/points/:name and
 * /v1/events?name=...; kept current by the live
 * channel: its snapshots (state, health) and its events (the log, the
 * charts, the points when one arrives).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { PeerInfo, StatusInfo } from '../../../appliance/service/types.ts'
import type { ReplicationInfo, ReplicationRemoveResult } from '../../../appliance/service/replication-types.ts'
import type { EventInfo, PointsResult, ReplicaStatusInfo } from '../../../appliance/service/replica-types.ts'
import type { VmInfo } from '../../../appliance/service/vm-types.ts'
import type { PageProps } from '../app.ts'
import { segment } from '../api.ts'
import { HEALTH_WORDS, stateText, when } from '../format.ts'
import { useNow } from '../now.ts'
import { href } from '../route.ts'
import { failureText } from './form-error.ts'
import { VmActions } from './vm-actions.ts'
import { ReplicationSettingsForm } from './vm-settings.ts'
import { CycleCharts } from './vm-charts.ts'
import { cycleSeries } from './vm-cycles.ts'
import { EventLog } from './vm-events.ts'
import { PointsTimeline } from './vm-points.ts'

/** Events read for the log and the charts: the API's most (docs/api.md), about 8 h of cycles every 30 s. */
const EVENTS_READ = 1000

interface Data {
  status: StatusInfo
  peers: PeerInfo[]
  primary: ReplicationInfo | undefined
  replica: ReplicaStatusInfo | undefined
  /** The VM in this box's inventory (absent on a Replica, which holds only its points). */
  vm: VmInfo | undefined
  points: PointsResult | null
  events: EventInfo[]
}

export function VmPage ({ api, live, name }: PageProps & { name: string | null }): ComponentChildren {
  const [data, setData] = useState<Data | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [removed, setRemoved] = useState<{ result: ReplicationRemoveResult, replica: string } | null>(null)
  const current = useRef<Data | null>(null)
  current.current = data
  const now = useNow()
  const vm = name ?? ''

  useEffect(() => {
    let gone = false
    setData(null); setError(null); setRemoved(null)
    const loadPoints = async (replica: ReplicaStatusInfo | undefined): Promise<PointsResult | null> =>
      replica === undefined ? null : await api.get<PointsResult>(`/v1/points/${segment(replica.relationship)}`)
    const load = async (): Promise<Data> => {
      const [status, peers, replication, replicaList, log, vms] = await Promise.all([
        api.get<StatusInfo>('/v1/status'),
        api.get<PeerInfo[]>('/v1/peers'),
        api.get<ReplicationInfo[]>('/v1/replication'),
        api.get<ReplicaStatusInfo[]>('/v1/replica/relationships'),
        api.get<{ events: EventInfo[] }>(`/v1/events?${new URLSearchParams({ name: vm, last: String(EVENTS_READ) }).toString()}`),
        api.get<VmInfo[]>('/v1/vms')
      ])
      const replica = replicaList.find(r => r.vm === vm)
      return { status, peers, primary: replication.find(r => r.vm === vm), replica, vm: vms.find(v => v.name === vm), points: await loadPoints(replica), events: log.events }
    }
    const failed = (err: unknown): void => { if (!gone) setError(failureText(err)) }
    if (vm !== '') load().then(d => { if (!gone) setData(d) }, failed)
    const stop = live.subscribe({
      snapshot: s => {
        setData(d => d === null ? d : { ...d, status: s.status, primary: s.replication.find(r => r.vm === vm), replica: s.replica.find(r => r.vm === vm) })
      },
      events: events => {
        const mine = events.filter(e => e.vm === vm)
        if (mine.length === 0) return
        setData(d => {
          if (d === null) return d
          const seen = new Set(d.events.map(e => e.seq))
          return { ...d, events: [...d.events, ...mine.filter(e => !seen.has(e.seq))].slice(-EVENTS_READ) }
        })
        // A point that arrived (or a drill that proved one) changes the timeline: read it again.
        if (mine.some(e => e.kind === 'point-received' || e.kind === 'drill')) {
          loadPoints(current.current?.replica).then(points => { if (!gone) setData(x => x === null ? x : { ...x, points }) }, failed)
        }
      }
    })
    return () => { gone = true; stop() }
  }, [api, live, vm])

  const series = useMemo(() => cycleSeries(data?.events ?? []), [data?.events])
  const title = html`<h1 id="page-title" tabindex="-1">${vm === '' ? 'VM' : vm}</h1>`
  if (vm === '') return html`${title}<p>Choose a VM on the <a href=${href('')}>dashboard</a>.</p>`
  if (data === null) {
    return html`${title}${error === null ? html`<p class="loading">Loading…</p>` : html`<p role="alert" class="form-error">Could not load: ${error}</p>`}`
  }
  const names = new Map(data.peers.map(p => [p.peerId, p.name]))
  const peerName = (id: string): string => names.get(id) ?? 'an unknown box'
  const { primary, replica } = data
  if (primary === undefined && replica === undefined) {
    return html`${title}
      ${removed === null ? null : html`<${RemovedNotice} ...${removed} />`}
      <p>${data.status.name} does not protect a VM named ${vm}, and holds none as Replica. Back to the <a href=${href('')}>dashboard</a>.</p>
      ${data.events.length === 0 ? null : html`<section aria-labelledby="events-title"><h2 id="events-title">Events</h2><${EventLog} events=${data.events} now=${now} /></section>`}`
  }
  const setPrimary = (rel: ReplicationInfo): void => { setData(d => d === null ? d : { ...d, primary: rel }) }
  const onRemoved = (result: ReplicationRemoveResult): void => {
    setRemoved({ result, replica: primary === undefined ? 'the Replica' : peerName(primary.peer) })
    setData(d => d === null ? d : { ...d, primary: undefined })
  }
  return html`
    ${title}
    ${primary === undefined ? null : html`
      <section class="vm-side" aria-labelledby="primary-title">
        <h2 id="primary-title">Runs here, on ${data.status.name}</h2>
        <${StateLine} state=${primary.state} why=${primary.stateReason} health=${primary.health} reason=${primary.reason} />
        ${data.vm?.driver === 'manual' ? html`<${ManualDisks} vm=${data.vm} />` : null}
        <p>Its recovery points are on <strong>${peerName(primary.peer)}</strong>, the Replica: open that box's page to see them and their drills. Newest point: ${when(primary.lastPointTime, now)}.</p>
        <h3>Actions</h3>
        <${VmActions} api=${api} rel=${primary} replica=${peerName(primary.peer)} onChanged=${setPrimary} onRemoved=${onRemoved} />
        <p class="vm-failover"><a href=${href('failover', vm)}>Fail over ${vm} to ${peerName(primary.peer)}</a>: a planned failover shuts it down here, sends its last changes and starts it there, with nothing lost. Each step says what will happen first.</p>
        <${ReplicationSettingsForm} api=${api} rel=${primary} onChanged=${setPrimary} />
      </section>`}
    ${removed === null ? null : html`<${RemovedNotice} ...${removed} />`}
    ${replica === undefined ? null : html`
      <section class="vm-side" aria-labelledby="replica-title">
        <h2 id="replica-title">Replica here, of ${peerName(replica.peer)}</h2>
        <${StateLine} state=${replica.state} why=${replica.reason} health=${replica.health} reason=${replica.healthReason} />
        <p class="vm-failover"><a href=${href('failover', vm)}>Fail over or test ${vm} here</a>: a test failover, an unplanned failover when ${peerName(replica.peer)} is gone, or reverse replication after one. Each step says what will happen first.</p>
        <h3>Recovery points</h3>
        ${data.points === null ? html`<p class="loading">Loading…</p>` : html`<${PointsTimeline} points=${data.points} now=${now} />`}
      </section>`}
    <section aria-labelledby="charts-title">
      <h2 id="charts-title">Replication over time</h2>
      ${primary === undefined && series.samples.length === 0
        ? html`<p>The cycles are measured on the primary, ${replica === undefined ? 'the other box' : peerName(replica.peer)}: its page charts them.</p>`
        : html`<${CycleCharts} series=${series} targetMs=${primary?.achievedRpo.targetMs ?? null} />`}
    </section>
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      <${EventLog} events=${data.events} now=${now} />
    </section>`
}

function StateLine ({ state, why, health, reason }: { state: string, why: string, health: ReplicationInfo['health'], reason: string }): ComponentChildren {
  return html`
    <p class="health-line"><span class="badge ${health}">${HEALTH_WORDS[health]}</span> ${reason}</p>
    <p><strong>${stateText(state)}</strong><span class="why">${why}</span></p>`
}

/**
 * A manual-driver VM runs under another hypervisor, which must use these
 * files: after a failover to this box they are new files of its own
 * (docs/failover.md "Reverse replication", where the disks end up).
 */
function ManualDisks ({ vm }: { vm: VmInfo }): ComponentChildren {
  return html`
    <div class="vm-manual">
      <p>Tandem does not run ${vm.name}: the hypervisor that runs it must use ${vm.disks.length === 1 ? 'this disk file' : 'these disk files'} on this box.</p>
      <ul>${vm.disks.map(d => html`<li><code>${d.path}</code></li>`)}</ul>
    </div>`
}

function RemovedNotice ({ result, replica }: { result: ReplicationRemoveResult, replica: string }): ComponentChildren {
  return html`
    <p class="notice" role="status">
      ${result.vm} is no longer protected from this box.
      ${result.replicaTold
        ? ` ${replica} was told and keeps every recovery point it holds.`
        : ` ${replica} could not be reached: it keeps its points and the relationship until its own operator removes them.`}
    </p>`
}
