/**
 * Planned failover, on the primary (docs/failover.md "Planned failover"):
 * the daemon's summary, a confirmation, the job's live progress, then the
 * Replica's side (it starts the VM and reverses replication) through this
 * box's live snapshots until this box is its Replica; when it stops
 * half-way, what to do (try again, or cancel: its summary first).
 * Reverse replication, on the box that failed over (docs/failover.md
 * "Reverse replication"): its summary, then the start and its progress.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { JobInfo } from '../../../appliance/service/job-types.ts'
import type { PlannedPlanInfo, ReversePlanInfo } from '../../../appliance/service/planned-types.ts'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { FailoverCancelResult } from '../../../appliance/service/unplanned-types.ts'
import { segment, type Api } from '../api.ts'
import type { Live } from '../live.ts'
import { FormError } from './form-error.ts'
import { sentence, size, stateText } from '../format.ts'
import { href } from '../route.ts'
import { JobProgress, PlanSummary, StepTitle, useCall, useJob, useLiveHeld, type WizardProps } from './failover-parts.ts'

export interface PlannedProps {
  api: Api
  live: Live
  replication: ReplicationInfo
  onChanged: () => void
  /** Told when a failover job starts (the page then keeps this wizard, though the VM changes side). */
  onStarted?: () => void
}

export function PlannedWizard ({ api, live, replication, onChanged, onStarted }: PlannedProps): ComponentChildren {
  const vm = replication.vm
  const path = `/v1/failover/${segment(vm)}`
  const [force, setForce] = useState(false)
  const [plan, setPlan] = useState<PlannedPlanInfo | null>(null)
  const [confirming, setConfirming] = useState(false)
  const [started, setStarted] = useState<JobInfo | null>(null)
  const [cancelPlan, setCancelPlan] = useState<PlannedPlanInfo | null>(null)
  const [cancelled, setCancelled] = useState<FailoverCancelResult | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, started)
  useEffect(() => { call(api.post<PlannedPlanInfo>(`${path}/planned/plan`, force ? { force: true } : {}), setPlan) }, [api, path, force])
  useEffect(() => { if (job !== null && job.state !== 'running') onChanged() }, [job?.state])
  const request = force ? { force: true } : {}
  const start = (j: JobInfo): void => { setStarted(j); onStarted?.() }
  const halfWay = job?.state === 'failed' || job?.state === 'cancelled' || (job === null && replication.state === 'prepared-for-planned-failover')

  if (cancelled !== null) {
    return html`<p class="card done" role="status">The planned failover of ${vm} is cancelled: replicating again from this box at term ${cancelled.term}${cancelled.vmStarted === true ? `; ${vm} started again` : ''}.</p>`
  }
  const whatNow = html`
    <section class="card" aria-labelledby="what-now">
      <h3 id="what-now">What now</h3>
      <p>The planned failover stopped before ${plan?.replica ?? 'the Replica'} took ${vm}. Try again (it goes on where it stopped), or cancel it: this box then replicates again and keeps running ${vm}.</p>
      <div class="actions">
        <button type="button" disabled=${busy} onClick=${() => { call(api.post<JobInfo>(`${path}/planned`, request), start) }}>Try again</button>
        <button type="button" disabled=${busy} onClick=${() => { call(api.post<PlannedPlanInfo>(`${path}/planned/plan`, { action: 'cancel' }), setCancelPlan) }}>Cancel the planned failover…</button>
      </div>
      ${cancelPlan === null ? null : html`
        <${PlanSummary} lines=${cancelPlan.summary} label="What cancelling does" />
        <button type="button" class="danger" disabled=${busy} onClick=${() => { call(api.post<FailoverCancelResult>(`${path}/cancel`), r => { setCancelled(r); onChanged() }) }}>Yes, cancel the planned failover</button>`}
    </section>`
  if (job !== null) {
    return html`
      <${StepTitle} n=${3} of=${3} title="Failing over" />
      <${JobProgress} job=${job} label=${`Planned failover of ${vm}`} />
      ${job.planned === null ? null : html`
        <p class="card done" role="status">${job.planned.replica} took ${vm} at term ${job.planned.term}: from the final point (${job.planned.point.root.slice(0, 12)}, ${size(job.planned.bytesSent)} sent last); it starts it and replicates it back to this box.</p>
        <${AfterHandover} live=${live} vm=${vm} replica=${job.planned.replica} term=${job.planned.term} />`}
      ${halfWay ? whatNow : null}
      <${FormError} id="planned-error" text=${error} />`
  }
  if (halfWay) return html`${whatNow}<${FormError} id="planned-error" text=${error} />`
  if (plan !== null && confirming) {
    return html`
      <${StepTitle} n=${2} of=${3} title="Confirm" />
      <div class="card confirm">
        <p>${vm} shuts down here, its last changes go to ${plan.replica}, and ${plan.replica} starts it. Nothing is lost; ${vm} is down until ${plan.replica} has started it.</p>
      </div>
      <${FormError} id="planned-error" text=${error} />
      <div class="actions">
        <button type="button" class="danger" disabled=${busy} onClick=${() => { call(api.post<JobInfo>(`${path}/planned`, request), start) }}>Fail ${vm} over to ${plan.replica} now</button>
        <button type="button" class="quiet" onClick=${() => { setConfirming(false) }}>Back</button>
      </div>`
  }
  return html`
    <${StepTitle} n=${1} of=${3} title="What will happen" />
    <div class="check-line">
      <input type="checkbox" id="planned-force" checked=${force} onChange=${(e: Event) => { setForce((e.target as HTMLInputElement).checked) }} />
      <label for="planned-force">Power ${vm} off if its guest does not shut down in time</label>
    </div>
    ${plan === null ? html`<p class="loading">Loading…</p>` : html`<${PlanSummary} lines=${plan.summary} />`}
    <${FormError} id="planned-error" text=${error} />
    <button type="button" disabled=${busy || plan === null} onClick=${() => { setConfirming(true) }}>Next</button>`
}

/**
 * After the handover the primary's job is over, but the failover is not:
 * the Replica starts the VM, then reverses replication, which makes this
 * box its Replica (docs/failover.md "Planned failover", step 4). Followed
 * here through this box's live snapshots, until this box holds the VM as
 * Replica at the new term and replicating.
 */
function AfterHandover ({ live, vm, replica, term }: { live: Live, vm: string, replica: string, term: number }): ComponentChildren {
  const held = useLiveHeld(live)
  const back = held?.replica.find(r => r.vm === vm && r.term >= term)
  if (back === undefined || back.state === 'waiting-initial-replication') {
    return html`<p class="card" role="status">${replica} is starting ${vm} and reversing replication: this box becomes its Replica once ${replica} has sent the blocks that differ…</p>`
  }
  if (back.state !== 'replicating') return html`<p class="card" role="status">${vm} held here as Replica of ${replica}: ${stateText(back.state)}. ${sentence(back.reason)}</p>`
  return html`
    <div class="card done" role="status">
      <p><strong>Done:</strong> ${vm} runs on ${replica}, which replicates it back to this box: this box is its Replica now.</p>
      <p class="actions"><a href=${href('vm', vm)}>See ${vm}</a> <a href=${href('')}>Back to the dashboard</a></p>
    </div>`
}

export function ReverseWizard ({ api, live, replica, onChanged }: WizardProps): ComponentChildren {
  const vm = replica.vm
  const path = `/v1/replication/${segment(vm)}/reverse`
  const [plan, setPlan] = useState<ReversePlanInfo | null>(null)
  const [started, setStarted] = useState<JobInfo | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, started)
  useEffect(() => { call(api.post<ReversePlanInfo>(`${path}/plan`, {}), setPlan) }, [api, path])
  useEffect(() => { if (job !== null && job.state !== 'running') onChanged() }, [job?.state])
  if (job !== null) {
    return html`
      <${StepTitle} n=${2} of=${2} title="Reversing" />
      <${JobProgress} job=${job} label=${`Reverse replication of ${vm}`} />
      ${job.reverse === null ? null : html`<p class="card done" role="status">${sentence(job.reverse.reason)}</p>`}`
  }
  return html`
    <${StepTitle} n=${1} of=${2} title="What will happen" />
    ${plan === null ? html`<p class="loading">Loading…</p>` : html`<${PlanSummary} lines=${plan.summary} />`}
    <${FormError} id="reverse-error" text=${error} />
    <button type="button" disabled=${busy || plan === null} onClick=${() => { call(api.post<JobInfo>(path, {}), setStarted) }}>Start reverse replication</button>`
}
