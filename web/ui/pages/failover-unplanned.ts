/**
 * The unplanned failover wizard, on the Replica alone (docs/failover.md
 * "Unplanned failover"): a recovery point, the daemon's summary, a
 * confirmation (a point older than the latest needs the operator to tick
 * that the newer points will be dropped: only then is `yes` sent), the
 * job's progress; then complete (its summary, a confirmation of the loss,
 * its progress) or cancel (its summary, a confirmation).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { JobInfo } from '../../../appliance/service/job-types.ts'
import type { FailoverCancelResult, FailoverInfo, FailoverPlanInfo } from '../../../appliance/service/unplanned-types.ts'
import { segment } from '../api.ts'
import { FormError } from './form-error.ts'
import { counted, JobProgress, PlanSummary, PointPicker, StepTitle, useCall, usePoints, useJob, type WizardProps } from './failover-parts.ts'

const base = (vm: string): string => `/v1/failover/${segment(vm)}`

export function UnplannedWizard ({ api, live, replica, onChanged }: WizardProps): ComponentChildren {
  const vm = replica.vm
  const { points, point, setPoint } = usePoints(api, vm)
  const [plan, setPlan] = useState<FailoverPlanInfo | null>(null)
  const [confirming, setConfirming] = useState(false)
  const [ticked, setTicked] = useState(false)
  const [started, setStarted] = useState<JobInfo | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, started)
  useEffect(() => { if (job !== null && job.state !== 'running') onChanged() }, [job?.state])

  const waiting = job?.failover ?? replica.failover
  if (waiting !== null && (job === null || job.state !== 'running')) {
    return html`
      ${job === null ? null : html`<${JobProgress} job=${job} label=${`Failover of ${vm}`} />`}
      <${FailoverWaiting} ...${{ api, live, replica, onChanged }} failover=${waiting} />`
  }
  if (job !== null) {
    return html`
      <${StepTitle} n=${4} of=${4} title="Failing over" />
      <${JobProgress} job=${job} label=${`Failover of ${vm}`} />
      ${job.state === 'running' ? null : html`<button type="button" class="quiet" onClick=${() => { setStarted(null); setPlan(null); setConfirming(false) }}>Start again</button>`}`
  }
  if (plan !== null && confirming) {
    const go = (): void => {
      call(api.post<JobInfo>(`${base(vm)}/unplanned`, { point: plan.point.id, ...(plan.needsYes && ticked ? { yes: true } : {}) }), setStarted)
    }
    return html`
      <${StepTitle} n=${3} of=${4} title="Confirm" />
      <div class="card confirm">
        ${plan.needsYes
          ? html`
            <p>Point ${plan.point.id} is not the latest: ${counted(plan.newerPoints, 'newer point')} held here will be dropped if you complete this failover.</p>
            <div class="check-line">
              <input type="checkbox" id="unplanned-yes" checked=${ticked} onChange=${(e: Event) => { setTicked((e.target as HTMLInputElement).checked) }} />
              <label for="unplanned-yes">I understand: the ${counted(plan.newerPoints, 'newer point')} will be lost if I complete</label>
            </div>`
          : html`<p>Point ${plan.point.id} is the latest: nothing held here is lost.</p>`}
        <p>The old primary of ${vm} is refused from then on.</p>
      </div>
      <${FormError} id="unplanned-error" text=${error} />
      <div class="actions">
        <button type="button" class="danger" disabled=${busy || (plan.needsYes && !ticked)} onClick=${go}>Fail ${vm} over now</button>
        <button type="button" class="quiet" onClick=${() => { setConfirming(false); setTicked(false) }}>Back</button>
      </div>`
  }
  if (plan !== null) {
    return html`
      <${StepTitle} n=${2} of=${4} title="What will happen" />
      <${PlanSummary} lines=${plan.summary} />
      <div class="actions">
        <button type="button" onClick=${() => { setConfirming(true) }}>Next</button>
        <button type="button" class="quiet" onClick=${() => { setPlan(null) }}>Back</button>
      </div>`
  }
  const review = (e: Event): void => {
    e.preventDefault()
    call(api.post<FailoverPlanInfo>(`${base(vm)}/plan`, { action: 'unplanned', ...(point === null ? {} : { point }) }), setPlan)
  }
  return html`
    <${StepTitle} n=${1} of=${4} title="Choose a point" />
    <form class="stack" onSubmit=${review} aria-describedby="unplanned-error">
      ${points === null ? html`<p class="loading">Loading…</p>` : html`<${PointPicker} points=${points.points} value=${point} onChange=${setPoint} />`}
      <${FormError} id="unplanned-error" text=${error} />
      <button type="submit" disabled=${busy || point === null}>Review</button>
    </form>`
}

/** A failover that waits: complete it (the loss confirmed) or cancel it, each after its summary. */
function FailoverWaiting ({ api, live, replica, onChanged, failover }: WizardProps & { failover: FailoverInfo }): ComponentChildren {
  const vm = replica.vm
  const [action, setAction] = useState<'complete' | 'cancel' | null>(null)
  const [plan, setPlan] = useState<FailoverPlanInfo | null>(null)
  const [ticked, setTicked] = useState(false)
  const [started, setStarted] = useState<JobInfo | null>(null)
  const [cancelled, setCancelled] = useState<FailoverCancelResult | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, started)
  useEffect(() => { if (job !== null && job.state !== 'running') onChanged() }, [job?.state])
  if (cancelled !== null) return html`<p class="card done" role="status">The failover of ${vm} is cancelled: back to receiving replication at term ${cancelled.term}; no recovery point changed.</p>`
  if (job !== null) {
    return html`
      <h2 tabindex="-1">Completing</h2>
      <${JobProgress} job=${job} label=${`Completion of ${vm}`} />
      ${job.state === 'ok' ? html`<p class="card done" role="status">The failover of ${vm} is complete: its disks are its own, and point ${failover.point.id} is kept as the base of a later failback.</p>` : null}`
  }
  const ask = (a: 'complete' | 'cancel'): void => { setAction(a); setTicked(false); call(api.post<FailoverPlanInfo>(`${base(vm)}/plan`, { action: a }), setPlan) }
  return html`
    <h2 tabindex="-1">Failed over: complete or cancel</h2>
    <div class="card" role="status">
      <p><strong>${vm}</strong> ${failover.kind === 'vm' ? `runs here (${failover.vmState ?? 'unknown'})` : 'has its disks here as raw files'}, from point ${failover.point.id}, at term ${failover.term}.</p>
      <p class="why">${failover.reason}</p>
      ${failover.nics.filter(n => n.warning !== null).map(n => html`<p class="warning-line">${n.warning}</p>`)}
    </div>
    <div class="actions">
      <button type="button" aria-pressed=${action === 'complete'} disabled=${busy} onClick=${() => { ask('complete') }}>Complete…</button>
      <button type="button" aria-pressed=${action === 'cancel'} disabled=${busy} onClick=${() => { ask('cancel') }}>Cancel the failover…</button>
    </div>
    ${plan === null || plan.action !== action ? null : html`
      <${PlanSummary} lines=${plan.summary} />
      ${action === 'complete'
        ? html`
          <div class="check-line">
            <input type="checkbox" id="complete-yes" checked=${ticked} onChange=${(e: Event) => { setTicked((e.target as HTMLInputElement).checked) }} />
            <label for="complete-yes">${plan.dropAtComplete === 0
              ? `I understand: point ${plan.point.id} becomes the only recovery point of ${vm} here`
              : `I understand: the ${counted(plan.dropAtComplete, 'other recovery point')} of ${vm} will be dropped`}</label>
          </div>
          <button type="button" class="danger" disabled=${busy || !ticked} onClick=${() => { call(api.post<JobInfo>(`${base(vm)}/complete`, { yes: true }), setStarted) }}>Complete the failover</button>`
        : html`<button type="button" class="danger" disabled=${busy} onClick=${() => { call(api.post<FailoverCancelResult>(`${base(vm)}/cancel`), r => { setCancelled(r); onChanged() }) }}>Yes, cancel the failover</button>`}`}
    <${FormError} id="waiting-error" text=${error} />`
}
