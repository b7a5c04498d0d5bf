/**
 * The test failover wizard, on the Replica (docs/failover.md "Test
 * failover"): a recovery point, optionally a check (a drill) with its sign
 * of life, the daemon's summary, then the start; a running test shows its
 * VM and NBD disks, and stops after its own summary; a running drill says
 * what it waits for, and its result shows its screenshot (the VM page's
 * screenshotUrl) at QEMU's text screen size, 720x400, where the console is
 * readable (the timeline's are half that), and the file's path on the box.
 * A test changes nothing of the relationship: replication goes on.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { DrillSignInfo, TestFailoverInfo, TestPlanInfo, TestPlanRequest, TestStopPlanInfo } from '../../../appliance/service/failover-types.ts'
import type { JobInfo } from '../../../appliance/service/job-types.ts'
import { segment, type Api } from '../api.ts'
import { duration, when } from '../format.ts'
import { useNow } from '../now.ts'
import { FormError } from './form-error.ts'
import { screenshotUrl } from './vm-points.ts'
import { JobProgress, PlanSummary, PointPicker, StepTitle, useCall, usePoints, useJob, type WizardProps } from './failover-parts.ts'

const base = (vm: string): string => `/v1/failover/${segment(vm)}`

export function TestWizard ({ api, live, replica, onChanged }: WizardProps): ComponentChildren {
  const vm = replica.vm
  const { points, point, setPoint } = usePoints(api, vm)
  const [check, setCheck] = useState(false)
  const [signKind, setSignKind] = useState<'agent' | 'serial'>(replica.drill?.sign.kind ?? 'agent')
  const [pattern, setPattern] = useState(replica.drill?.sign.kind === 'serial' ? replica.drill.sign.pattern : '')
  const [plan, setPlan] = useState<TestPlanInfo | null>(null)
  const [started, setStarted] = useState<TestFailoverInfo | null>(null)
  const [drill, setDrill] = useState<JobInfo | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, drill)
  const now = useNow()
  useEffect(() => { if (job !== null && job.state !== 'running') onChanged() }, [job?.state])

  const running = started ?? replica.test
  if (running !== null && drill === null) return html`<${RunningTest} api=${api} test=${running} onStopped=${() => { setStarted(null); setPlan(null); onChanged() }} />`

  const sign: DrillSignInfo = signKind === 'agent' ? { kind: 'agent' } : { kind: 'serial', pattern }
  const request: TestPlanRequest = { ...(point === null ? {} : { point }), ...(check ? { check: true, sign } : {}) }
  const review = (e: Event): void => {
    e.preventDefault()
    call(api.post<TestPlanInfo>(`${base(vm)}/test/plan`, request), setPlan)
  }
  const start = (): void => {
    const at = point === null ? {} : { point }
    if (check) call(api.post<JobInfo>(`${base(vm)}/drill`, { ...at, sign }), setDrill)
    else call(api.post<TestFailoverInfo>(`${base(vm)}/test`, at), t => { setStarted(t); onChanged() })
  }

  if (job !== null) {
    return html`
      <${StepTitle} n=${3} of=${3} title="The drill" />
      <${JobProgress} job=${job} label=${`Drill of ${vm}`} />
      ${job.state === 'running' && plan?.check != null ? html`<p class="why">${drillWaitText(plan.point.id, plan.check)} Started ${when(job.startedAt, now)}.</p>` : null}
      ${job.drill === null ? null : html`
        <div class="card done" role="status">
          <p>Point ${job.drill.point} of ${vm} is proven: ${job.drill.reason}</p>
          <figure class="proof">
            <img src=${screenshotUrl(job.drill.relationship, job.drill.proof.screenshot)} width="720" height="400"
              alt=${`The screen of point ${job.drill.point}'s test VM when the drill saw it boot`} />
            <figcaption>Sign of life after ${duration(job.drill.proof.signOfLifeMs)}. Screenshot on the box: <code>${job.drill.proof.screenshot}</code></figcaption>
          </figure>
        </div>`}
      ${job.state === 'running' ? null : html`<button type="button" class="quiet" onClick=${() => { setDrill(null); setPlan(null) }}>Another test</button>`}`
  }
  if (plan !== null) {
    return html`
      <${StepTitle} n=${2} of=${3} title="What will happen" />
      <${PlanSummary} lines=${plan.summary} />
      <${FormError} id="test-error" text=${error} />
      <div class="actions">
        <button type="button" onClick=${start} disabled=${busy}>${check ? 'Start the drill' : 'Start the test'}</button>
        <button type="button" class="quiet" onClick=${() => { setPlan(null) }}>Back</button>
      </div>`
  }
  return html`
    <${StepTitle} n=${1} of=${3} title="Choose a point" />
    <form class="stack" onSubmit=${review} aria-describedby="test-error">
      ${points === null ? html`<p class="loading">Loading…</p>` : html`<${PointPicker} points=${points.points} value=${point} onChange=${setPoint} />`}
      <div class="check-line">
        <input type="checkbox" id="test-check" checked=${check} onChange=${(e: Event) => { setCheck((e.target as HTMLInputElement).checked) }} />
        <label for="test-check">Check it (a drill), waiting for a sign of life, then a screenshot, a stop, and the point marked proven</label>
      </div>
      ${check ? html`
        <fieldset>
          <legend>Sign of life</legend>
          <div class="check-line">
            <input type="radio" name="sign" id="sign-agent" checked=${signKind === 'agent'} onChange=${() => { setSignKind('agent') }} />
            <label for="sign-agent">The guest agent answers</label>
          </div>
          <div class="check-line">
            <input type="radio" name="sign" id="sign-serial" checked=${signKind === 'serial'} onChange=${() => { setSignKind('serial') }} />
            <label for="sign-serial">A serial console line matches a pattern</label>
          </div>
          ${signKind === 'serial' ? html`
            <label for="sign-pattern">Pattern, a regular expression</label>
            <input id="sign-pattern" placeholder="login: " required maxlength="256" autocapitalize="off" spellcheck=${false} value=${pattern} onInput=${(e: Event) => { setPattern((e.target as HTMLInputElement).value) }} />` : null}
        </fieldset>` : null}
      <${FormError} id="test-error" text=${error} />
      <button type="submit" disabled=${busy || point === null}>Review</button>
    </form>`
}

/**
 * What a running drill does, in words: the job's progress alone says
 * nothing while the guest boots, which may take minutes.
 */
function drillWaitText (point: number, check: { sign: DrillSignInfo, timeoutMs: number }): string {
  const sign = check.sign.kind === 'agent' ? 'the guest agent to answer' : `a serial console line matching /${check.sign.pattern}/`
  return `Point ${point} boots in a test VM on an isolated network; the drill waits up to ${duration(check.timeoutMs)} for ${sign}, then takes a screenshot of its screen and stops it.`
}

/** A test that runs: its VM and disks; stop shows its summary first. */
function RunningTest ({ api, test, onStopped }: { api: Api, test: TestFailoverInfo, onStopped: () => void }): ComponentChildren {
  const now = useNow()
  const [plan, setPlan] = useState<TestStopPlanInfo | null>(null)
  const { busy, error, call: act } = useCall()
  const t = test.timings
  return html`
    <h2 tabindex="-1">The running test</h2>
    <div class="card test-running" role="status">
      <p>${test.testVm === null
        ? html`Point ${test.point.id} of ${test.vm} is served; no VM runs here: ${test.note ?? ''}`
        : html`<strong>${test.testVm}</strong> is ${test.state ?? 'unknown'}, on point ${test.point.id} (${when(test.point.time, now)}), its network cards on an isolated network.`}</p>
      <dl class="facts">
        <dt>Since</dt><dd>${when(test.since, now)}</dd>
        ${test.disks.map(d => html`<dt>Disk ${d.name} (NBD)</dt><dd><code>${d.uri}</code></dd>`)}
        <dt>Started in</dt><dd>${t.serveMs} ms to serve${t.startMs === null ? '' : `, ${t.startMs} ms to run`}</dd>
      </dl>
      <p class="why">Replication goes on, and point ${test.point.id} is kept while the test runs.</p>
    </div>
    ${plan === null
      ? html`<button type="button" onClick=${() => { act(api.get<TestStopPlanInfo>(`${base(test.vm)}/test/stop-plan`), setPlan) }} disabled=${busy}>Stop the test…</button>`
      : html`
        <${PlanSummary} lines=${plan.summary} label="What stopping does" />
        <div class="actions">
          <button type="button" class="danger" disabled=${busy} onClick=${() => { act(api.delete(`${base(test.vm)}/test`), onStopped) }}>Yes, stop the test</button>
          <button type="button" class="quiet" onClick=${() => { setPlan(null) }}>Keep it running</button>
        </div>`}
    <${FormError} id="stop-error" text=${error} />`
}
