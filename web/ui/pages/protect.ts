/**
 * Protect a VM (docs/web.md "Protect"): a short wizard, one form per step
 * (the VM, the box that keeps the copy, how often, recovery points, the
 * first copy), then the choices in words and `PUT /v1/replication/:name`.
 * A refusal is shown in words on the last step with every choice kept.
 * Once enabled, the initial replication's progress (protect-progress.ts)
 * until it is done, then links to the VM's page and the dashboard.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import type { PeerInfo, StatusInfo } from '../../../appliance/service/types.ts'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { VmInfo } from '../../../appliance/service/vm-types.ts'
import { segment } from '../api.ts'
import type { PageProps } from '../app.ts'
import { href } from '../route.ts'
import { failureText, FormError } from './form-error.ts'
import {
  APP_WORDS, DEFAULT_CHOICES, enableRequest, FREQUENCY_WORDS, INITIAL_WORDS, stepProblem, summary,
  type AppEvery, type Choices, type Frequency, type InitialKind
} from './protect-choices.ts'
import { AddManualVm } from './protect-add-vm.ts'
import { InitialProgress } from './protect-progress.ts'

const STEPS: ReadonlyArray<{ id: string, title: string }> = [
  { id: 'vm', title: 'The VM' },
  { id: 'box', title: 'The box that keeps the copy' },
  { id: 'frequency', title: 'How often' },
  { id: 'points', title: 'Recovery points' },
  { id: 'initial', title: 'The first copy' },
  { id: 'review', title: 'Check and protect' }
]

interface Data { status: StatusInfo, vms: VmInfo[], peers: PeerInfo[] }

export function ProtectPage ({ api, live }: PageProps): ComponentChildren {
  const [data, setData] = useState<Data | null>(null)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [choices, setChoices] = useState<Choices>(DEFAULT_CHOICES)
  const [step, setStep] = useState(0)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [enabled, setEnabled] = useState<ReplicationInfo | null>(null)
  const stepTitle = useRef<HTMLHeadingElement>(null)
  const moved = useRef(false)

  const load = useCallback(() => {
    Promise.all([api.get<StatusInfo>('/v1/status'), api.get<VmInfo[]>('/v1/vms'), api.get<PeerInfo[]>('/v1/peers')])
      .then(([status, vms, peers]) => { setData({ status, vms, peers }); setLoadError(null) }, (err: unknown) => { setLoadError(failureText(err)) })
  }, [api])
  useEffect(load, [load])
  // A new step takes the focus to its heading (not on the first render: the page's heading has it).
  useEffect(() => { if (moved.current) stepTitle.current?.focus() }, [step])

  const title = html`<h1 id="page-title" tabindex="-1">Protect a VM</h1>`
  if (data === null) return html`${title}${loadError === null ? html`<p class="loading">Loading…</p>` : html`<p role="alert" class="form-error">Could not load: ${loadError}</p>`}`
  const peerName = (id: string): string => data.peers.find(p => p.peerId === id)?.name ?? 'the other box'
  if (enabled !== null) {
    return html`${title}<${InitialProgress} live=${live} first=${enabled} peerName=${peerName(enabled.peer)} />`
  }

  const set = <K extends keyof Choices>(key: K, value: Choices[K]): void => { setChoices(c => ({ ...c, [key]: value })) }
  const current = STEPS[step]!
  const go = (to: number): void => { moved.current = true; setError(null); setStep(to) }
  const next = (e: Event): void => {
    e.preventDefault()
    const problem = stepProblem(current.id, choices)
    if (problem !== null) { setError(problem); return }
    go(step + 1)
  }
  const protect = (e: Event): void => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    api.put<ReplicationInfo>(`/v1/replication/${segment(choices.vm)}`, enableRequest(choices))
      .then(info => { setBusy(false); setEnabled(info) }, (err: unknown) => { setBusy(false); setError(failureText(err)) })
  }
  const back = step === 0 ? null : html`<button type="button" class="quiet" onClick=${() => { go(step - 1) }}>Back</button>`
  const body = stepBody(current.id, { data, choices, set, peerName, reload: load, api })
  return html`
    ${title}
    <p>Choose a VM of this box and a paired box: that box keeps a copy of the VM's disks, as recovery points you can fail over to.</p>
    <ol class="protect-steps" aria-label="Steps">
      ${STEPS.map((s, i) => html`<li aria-current=${i === step ? 'step' : undefined} class=${i < step ? 'done' : undefined}>${s.title}</li>`)}
    </ol>
    <form class="card stack protect-step" onSubmit=${current.id === 'review' ? protect : next} aria-labelledby="step-title" aria-describedby="step-error" novalidate>
      <h2 id="step-title" tabindex="-1" ref=${stepTitle}>Step ${step + 1} of ${STEPS.length}: ${current.title}</h2>
      ${body}
      <${FormError} id="step-error" text=${error} />
      <div class="actions">
        ${back}
        <button type="submit" disabled=${busy}>${current.id === 'review' ? (busy ? 'Protecting…' : `Protect ${choices.vm}`) : 'Next'}</button>
      </div>
    </form>`
}

interface StepProps {
  data: Data
  choices: Choices
  set: <K extends keyof Choices>(key: K, value: Choices[K]) => void
  peerName: (id: string) => string
  reload: () => void
  api: PageProps['api']
}

const value = (e: Event): string => (e.target as HTMLInputElement).value

function stepBody (id: string, p: StepProps): ComponentChildren {
  const { data, choices: c, set } = p
  // A VM another program runs: Tandem cannot ask its guest to flush, so its points stay crash-consistent (docs/replication.md, step 4).
  const manual = data.vms.find(v => v.name === c.vm)?.driver === 'manual'
  const noFlush = (id: string): ComponentChildren => html`<p id=${id} class="why">${c.vm} is run by another program: Tandem cannot ask its guest to flush its writes, so its points are crash-consistent whatever is chosen here.</p>`
  switch (id) {
    case 'vm': {
      const free = data.vms.filter(v => v.relationship === null)
      const taken = data.vms.filter(v => v.relationship !== null)
      return html`
        ${free.length === 0
          ? html`<p>Every VM of this box is protected already, or it has none yet.</p>`
          : html`<fieldset class="choices"><legend>Which VM?</legend>
              ${free.map(v => html`
                <label class="choice"><input type="radio" name="vm" value=${v.name} checked=${c.vm === v.name} onChange=${() => { set('vm', v.name) }} />
                  <span><strong>${v.name}</strong><span class="why">${vmWords(v)}</span></span></label>`)}
            </fieldset>`}
        ${taken.length === 0 ? null : html`<p class="why">Protected already: ${taken.map(v => v.name).join(', ')}.</p>`}
        <${NotListed}>
          <p>A VM this box runs is added on the box with <code>tandem vm add NAME --disk PATH</code> (see <code>tandem vm add --help</code>). A disk image that another program runs can be added here:</p>
          <${AddManualVm} api=${p.api} onAdded=${(name: string) => { set('vm', name); p.reload() }} />
        <//>`
    }
    case 'box':
      return data.peers.length === 0
        ? html`<p>No box is paired with this one yet. <a href=${href('pairing')}>Pair with another box</a> first.</p>`
        : html`<fieldset class="choices"><legend>Which box keeps the copy of ${c.vm}?</legend>
            ${data.peers.map(b => html`
              <label class="choice"><input type="radio" name="peer" value=${b.peerId} checked=${c.peer === b.peerId} onChange=${() => { set('peer', b.peerId) }} />
                <span><strong>${b.name}</strong><span class="why">${b.connected ? 'connected now' : 'not connected now: it is asked when you protect'}</span></span></label>`)}
          </fieldset>`
    case 'frequency':
      return html`<fieldset class="choices"><legend>How often is a new recovery point made?</legend>
        ${(Object.keys(FREQUENCY_WORDS) as Frequency[]).map(f => html`
          <label class="choice"><input type="radio" name="frequency" value=${f} checked=${c.frequency === f} onChange=${() => { set('frequency', f) }} /><span>${cap(FREQUENCY_WORDS[f])}</span></label>`)}
        </fieldset>
        <p class="why">More often means less data lost in a failover, and more traffic between the boxes.</p>`
    case 'points':
      return html`
        <label for="recovery-points">Hourly recovery points kept besides the latest</label>
        <input id="recovery-points" inputmode="numeric" autocomplete="off" aria-describedby="recovery-points-help" value=${c.recoveryPoints} onInput=${(e: Event) => { set('recoveryPoints', value(e)) }} />
        <p id="recovery-points-help" class="why">With 24 you can go back to any hour of the last day. 0 keeps only the latest point.</p>
        <label for="app-every">App-consistent points</label>
        <select id="app-every" aria-describedby=${manual ? 'app-every-help app-every-manual' : 'app-every-help'} value=${c.appConsistentEvery} onChange=${(e: Event) => { set('appConsistentEvery', value(e) as AppEvery) }}>
          ${(Object.keys(APP_WORDS) as AppEvery[]).map(a => html`<option value=${a}>${cap(APP_WORDS[a])}</option>`)}
        </select>
        <p id="app-every-help" class="why">An app-consistent point asks the guest (through its agent) to flush its writes first, so databases start cleanly from it.</p>
        ${manual ? noFlush('app-every-manual') : null}`
    case 'initial':
      return html`<fieldset class="choices"><legend>How is the first full copy made?</legend>
        ${(Object.keys(INITIAL_WORDS) as InitialKind[]).map(k => html`
          <label class="choice"><input type="radio" name="initial" value=${k} checked=${c.initial === k} onChange=${() => { set('initial', k) }} /><span>${cap(INITIAL_WORDS[k])}</span></label>`)}
        </fieldset>
        ${c.initial === 'at' ? html`
          <label for="initial-at">Start at (this browser's time)</label>
          <input id="initial-at" type="datetime-local" value=${c.at} onInput=${(e: Event) => { set('at', value(e)) }} />` : null}
        ${c.initial === 'seed' ? html`
          <label for="seed-path">Seed file on this box</label>
          <input id="seed-path" autocomplete="off" autocapitalize="off" spellcheck=${false} placeholder="/mnt/usb/${c.vm}.seed" aria-describedby="seed-help" value=${c.seedPath} onInput=${(e: Event) => { set('seedPath', value(e)) }} />
          <p id="seed-help" class="why">For a slow link: carry the file to the other box and import it there (<code>tandem seed import</code>).</p>` : null}`
    case 'review':
      return html`<ul class="protect-summary">${summary(c, data.status.name, p.peerName(c.peer)).map(line => html`<li>${line}</li>`)}</ul>
        ${manual && c.appConsistentEvery !== 'none' ? noFlush('review-manual') : null}`
    default: return null
  }
}

/** A button that shows or hides what to do about a VM not in the list (a button, not `<details>`: a control every browser and test walks the same). */
function NotListed ({ children }: { children: ComponentChildren }): ComponentChildren {
  const [open, setOpen] = useState(false)
  return html`
    <div class="add-vm">
      <button type="button" class="quiet" aria-expanded=${open ? 'true' : 'false'} aria-controls="add-vm-help" onClick=${() => { setOpen(o => !o) }}>The VM is not in the list</button>
      <div id="add-vm-help" hidden=${!open}>${children}</div>
    </div>`
}

function vmWords (v: VmInfo): string {
  const disks = v.disks.length === 1 ? '1 disk' : `${v.disks.length} disks`
  return `${v.driver === 'manual' ? 'run by another program' : `${v.state} on this box`}, ${disks}`
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
