/**
 * Failover (docs/web.md "Failover and salvage"): `#/failover` lists the VMs
 * this box can fail over, each with what it can do; `#/failover/<vm>`
 * offers that VM's wizards: on the Replica a test failover, an unplanned
 * failover (then complete or cancel), and reverse replication once failed
 * over; on the primary a planned failover. Every wizard shows the daemon's
 * summary (the CLI's `--dry-run` words) before it acts.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import type { ReplicaStatusInfo } from '../../../appliance/service/replica-types.ts'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { PeerInfo } from '../../../appliance/service/types.ts'
import type { PageProps } from '../app.ts'
import { sentence, stateText } from '../format.ts'
import { href, useRoute } from '../route.ts'
import { failureText } from './form-error.ts'
import { TestWizard } from './failover-test.ts'
import { UnplannedWizard } from './failover-unplanned.ts'
import { PlannedWizard, ReverseWizard } from './failover-planned.ts'
import { useLiveHeld } from './failover-parts.ts'

interface Held { replica: ReplicaStatusInfo[], primary: ReplicationInfo[], peers: PeerInfo[] }

type Kind = 'test' | 'unplanned' | 'reverse' | 'planned'

const KIND_WORDS: Record<Kind, { label: string, what: string }> = {
  test: { label: 'Test failover', what: 'a throw-away copy on an isolated network, while replication goes on' },
  unplanned: { label: 'Unplanned failover', what: 'the primary is gone: start the VM here from a recovery point' },
  reverse: { label: 'Reverse replication', what: 'replicate back to the old primary, only the blocks that differ' },
  planned: { label: 'Planned failover', what: 'shut the VM down here and start it on its Replica, with nothing lost' }
}

/** What a Replica relationship can do now. */
function replicaKinds (r: ReplicaStatusInfo): Kind[] {
  if (r.state === 'failed-over') return ['reverse']
  if (r.failover !== null) return ['unplanned']
  return ['test', 'unplanned']
}

export function FailoverPage ({ api, live }: PageProps): ComponentChildren {
  const route = useRoute()
  const [held, setHeld] = useState<Held | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = useCallback(() => {
    Promise.all([
      api.get<ReplicaStatusInfo[]>('/v1/replica/relationships'),
      api.get<ReplicationInfo[]>('/v1/replication'),
      api.get<PeerInfo[]>('/v1/peers')
    ]).then(([replica, primary, peers]) => { setHeld({ replica, primary, peers }); setError(null) }, (err: unknown) => { setError(failureText(err)) })
  }, [api])
  useEffect(reload, [reload])
  const vm = route.param
  const title = vm === null ? 'Failover' : `Failover of ${vm}`
  return html`
    <h1 id="page-title" tabindex="-1">${title}</h1>
    ${error === null ? null : html`<p class="form-error" role="alert">${error}</p>`}
    ${held === null ? html`<p class="loading">Loading…</p>` : vm === null ? html`<${VmList} held=${held} />` : html`<${VmFailover} ...${{ api, live }} held=${held} vm=${vm} onChanged=${reload} />`}`
}

const peerName = (held: Held, peerId: string): string => held.peers.find(p => p.peerId === peerId)?.name ?? 'its Replica'

function VmList ({ held }: { held: Held }): ComponentChildren {
  if (held.replica.length === 0 && held.primary.length === 0) return html`<p>No VM is protected to or from this box yet.</p>`
  return html`
    <p>Choose a VM. Each step says what will happen before anything is done.</p>
    <ul class="fo-vms">
      ${held.replica.map(r => html`
        <li class="card" key=${`r-${r.relationship}`}>
          <h2><a href=${href('failover', r.vm)}>${r.vm}</a></h2>
          <p class="why">Held here as Replica: ${stateText(r.state)}${r.test === null ? '' : '; a test runs'}</p>
          <p>${replicaKinds(r).map(k => KIND_WORDS[k].label).join(', ')}</p>
        </li>`)}
      ${held.primary.map(r => html`
        <li class="card" key=${`p-${r.relationship}`}>
          <h2><a href=${href('failover', r.vm)}>${r.vm}</a></h2>
          <p class="why">Runs here, replicated to ${peerName(held, r.peer)}: ${stateText(r.state)}</p>
          <p>${KIND_WORDS.planned.label}</p>
        </li>`)}
    </ul>`
}

function VmFailover ({ api, live, held, vm, onChanged }: PageProps & { held: Held, vm: string, onChanged: () => void }): ComponentChildren {
  const replica = held.replica.find(r => r.vm === vm)
  // A planned failover started here hands the VM over: this box soon holds it as Replica
  // (a reload may see that), yet its wizard stays, to show how the failover ends.
  const [handedOver, setHandedOver] = useState<ReplicationInfo | null>(null)
  const primary = handedOver ?? held.primary.find(r => r.vm === vm)
  const kinds: Kind[] = handedOver !== null ? ['planned'] : replica !== undefined ? replicaKinds(replica) : primary !== undefined ? ['planned'] : []
  const [kind, setKind] = useState<Kind | null>(null)
  const shown = kind !== null && kinds.includes(kind) ? kind : kinds.length === 1 ? kinds[0]! : null
  useEffect(() => { setKind(null); setHandedOver(null) }, [vm])
  // The line of words follows the live channel (a planned failover turns this box into the Replica); the wizards stay on what was loaded.
  const seen = useLiveHeld(live) ?? held
  const nowReplica = seen.replica.find(r => r.vm === vm) ?? replica
  const nowPrimary = seen.primary.find(r => r.vm === vm) ?? (nowReplica === undefined ? primary : undefined)
  if (kinds.length === 0) return html`<p>This box neither holds ${vm} as Replica nor replicates it. <a href=${href('failover')}>All VMs</a></p>`
  return html`
    <p class="why">${nowReplica !== undefined ? `Held here as Replica: ${stateText(nowReplica.state)}. ${sentence(nowReplica.reason)}` : `Runs here, replicated to ${peerName(held, nowPrimary!.peer)}: ${stateText(nowPrimary!.state)}.`}</p>
    <p><a href=${href('failover')}>All VMs</a></p>
    ${kinds.length > 1 ? html`
      <div class="fo-kinds" role="group" aria-label="What to do">
        ${kinds.map(k => html`
          <button type="button" class=${shown === k ? undefined : 'quiet'} aria-pressed=${shown === k} onClick=${() => { setKind(k) }}>${KIND_WORDS[k].label}</button>`)}
      </div>` : null}
    ${shown === null ? html`<ul class="fo-kind-list">${kinds.map(k => html`<li><strong>${KIND_WORDS[k].label}</strong>: ${KIND_WORDS[k].what}</li>`)}</ul>` : html`
      <section class="wizard" aria-label=${KIND_WORDS[shown].label} key=${shown}>
        ${shown === 'planned'
          ? html`<${PlannedWizard} ...${{ api, live, onChanged }} replication=${primary!} onStarted=${() => { setHandedOver(primary!) }} />`
          : html`<${WIZARDS[shown]} ...${{ api, live, onChanged }} replica=${replica!} />`}
      </section>`}`
}

const WIZARDS = { test: TestWizard, unplanned: UnplannedWizard, reverse: ReverseWizard } as const
