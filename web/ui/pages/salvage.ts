/**
 * Salvage copies (docs/failover.md "Salvage"): what an old primary wrote
 * after the last point both boxes shared, kept when it became the Replica.
 * Each is listed (state, time, since, size) with restore (one disk written
 * as a raw file at a path on this box, followed as a job) and delete (after
 * a confirmation that says it is then lost: only then is `yes` sent).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import type { JobInfo } from '../../../appliance/service/job-types.ts'
import type { SalvageInfo, SalvageRestoreRequest } from '../../../appliance/service/planned-types.ts'
import { segment } from '../api.ts'
import type { PageProps } from '../app.ts'
import { size, when } from '../format.ts'
import { useNow } from '../now.ts'
import { failureText, FormError } from './form-error.ts'
import { JobProgress, useCall, useJob } from './failover-parts.ts'

const STATE_WORDS: Record<SalvageInfo['state'], string> = {
  saving: 'Being saved',
  kept: 'Kept',
  failed: 'Failed',
  prepared: 'Kept, waiting for the reversal'
}

export function SalvagePage ({ api, live }: PageProps): ComponentChildren {
  const [copies, setCopies] = useState<SalvageInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = useCallback(() => {
    api.get<SalvageInfo[]>('/v1/salvage').then(setCopies, (err: unknown) => { setError(failureText(err)) })
  }, [api])
  useEffect(reload, [reload])
  return html`
    <h1 id="page-title" tabindex="-1">Salvage copies</h1>
    <p>When a box that was the primary of a VM becomes its Replica, what it wrote after the last point both boxes shared is kept here, outside retention, until you restore or delete it.</p>
    ${error === null ? null : html`<p class="form-error" role="alert">${error}</p>`}
    ${copies === null
      ? html`<p class="loading">Loading…</p>`
      : copies.length === 0
        ? html`<p>No salvage copy is kept on this box.</p>`
        : html`<ul class="salvages">${copies.map(c => html`<${Copy} key=${c.id} ...${{ api, live }} copy=${c} onDeleted=${reload} />`)}</ul>`}`
}

function Copy ({ api, live, copy, onDeleted }: PageProps & { copy: SalvageInfo, onDeleted: () => void }): ComponentChildren {
  const now = useNow()
  const [action, setAction] = useState<'restore' | 'delete' | null>(null)
  const bytes = copy.disks.reduce((n, d) => n + (d.size ?? 0), 0)
  const titleId = `salvage-${copy.id}`
  return html`
    <li class="card salvage" aria-labelledby=${titleId}>
      <h2 id=${titleId}>${copy.vm} <span class="badge ${copy.state === 'failed' ? 'critical' : copy.state === 'saving' ? 'warning' : 'normal'}">${STATE_WORDS[copy.state]}</span></h2>
      <dl class="facts">
        <dt>Kept</dt><dd>${when(copy.time, now)}</dd>
        <dt>Holds the writes since</dt><dd>${copy.since === null ? 'no point was shared: the whole disks' : when(copy.since, now)}</dd>
        <dt>Size</dt><dd>${size(bytes)} (${copy.disks.map(d => d.name).join(', ')})</dd>
        <dt>Name</dt><dd><code>${copy.id}</code></dd>
      </dl>
      <p class="why">${copy.reason}</p>
      ${copy.state === 'kept' || copy.state === 'prepared' ? html`
        <div class="actions">
          <button type="button" aria-pressed=${action === 'restore'} aria-label=${`Restore ${copy.vm}'s salvage copy`} onClick=${() => { setAction(action === 'restore' ? null : 'restore') }}>Restore…</button>
          <button type="button" class="quiet" aria-pressed=${action === 'delete'} aria-label=${`Delete ${copy.vm}'s salvage copy`} onClick=${() => { setAction(action === 'delete' ? null : 'delete') }}>Delete…</button>
        </div>` : null}
      ${action === 'restore' ? html`<${Restore} ...${{ api, live }} copy=${copy} />` : null}
      ${action === 'delete' ? html`<${Delete} ...${{ api, live }} copy=${copy} onDeleted=${onDeleted} onKept=${() => { setAction(null) }} />` : null}
    </li>`
}

/** Where the raw file goes: an absolute path on the box (the API refuses any other). */
const ABSOLUTE = /^\//

function Restore ({ api, live, copy }: PageProps & { copy: SalvageInfo }): ComponentChildren {
  const [out, setOut] = useState('')
  const [disk, setDisk] = useState(copy.disks[0]?.name ?? '')
  const [force, setForce] = useState(false)
  const [started, setStarted] = useState<JobInfo | null>(null)
  const [invalid, setInvalid] = useState<string | null>(null)
  const { busy, error, call } = useCall()
  const job = useJob(api, live, started)
  const id = `restore-${copy.id}`
  const submit = (e: Event): void => {
    e.preventDefault()
    const path = out.trim()
    if (!ABSOLUTE.test(path)) { setInvalid('Give an absolute path on the box, starting with /.'); return }
    setInvalid(null)
    const request: SalvageRestoreRequest = { out: path, ...(copy.disks.length > 1 ? { disk } : {}), ...(force ? { force: true } : {}) }
    call(api.post<JobInfo>(`/v1/salvage/${segment(copy.id)}/restore`, request), setStarted)
  }
  if (job !== null) {
    return html`
      <${JobProgress} job=${job} label=${`Restore of ${copy.vm}`} />
      ${job.salvageRestore === null ? null : html`<p class="done" role="status">Disk ${job.salvageRestore.disk} written to <code>${job.salvageRestore.path}</code> (${size(job.salvageRestore.bytes)}, every block verified).</p>`}
      ${job.state === 'running' ? null : html`<button type="button" class="quiet" onClick=${() => { setStarted(null) }}>Restore again</button>`}`
  }
  return html`
    <form class="stack restore" onSubmit=${submit} aria-describedby=${`${id}-error`}>
      ${copy.disks.length > 1 ? html`
        <label for=${`${id}-disk`}>Disk</label>
        <select id=${`${id}-disk`} value=${disk} onChange=${(e: Event) => { setDisk((e.target as HTMLSelectElement).value) }}>
          ${copy.disks.map(d => html`<option value=${d.name}>${d.name}</option>`)}
        </select>` : null}
      <label for=${`${id}-out`}>Write the disk to (a path on the box)</label>
      <input id=${`${id}-out`} required autocapitalize="off" spellcheck=${false} placeholder="/srv/restore/web.raw" aria-describedby=${`${id}-rules`} value=${out} onInput=${(e: Event) => { setOut((e.target as HTMLInputElement).value) }} />
      <p id=${`${id}-rules`} class="why">An absolute path on this box (it starts with /), in a folder that exists. The disk is written there as a raw image, byte for byte, every block checked as it is read. A file already there is kept, and the restore refused, unless you tick the box below.</p>
      <div class="check-line">
        <input type="checkbox" id=${`${id}-force`} checked=${force} onChange=${(e: Event) => { setForce((e.target as HTMLInputElement).checked) }} />
        <label for=${`${id}-force`}>Replace a file already at that path</label>
      </div>
      <${FormError} id=${`${id}-error`} text=${invalid ?? error} />
      <button type="submit" disabled=${busy}>Restore</button>
    </form>`
}

function Delete ({ api, copy, onDeleted, onKept }: PageProps & { copy: SalvageInfo, onDeleted: () => void, onKept: () => void }): ComponentChildren {
  const { busy, error, call } = useCall()
  return html`
    <div class="confirm">
      <p>Delete this salvage copy of ${copy.vm}? What the old primary wrote after ${copy.since === null ? 'it was replaced' : 'the shared point'} is then lost: it cannot be restored.</p>
      <${FormError} id=${`delete-${copy.id}-error`} text=${error} />
      <div class="actions">
        <button type="button" class="danger" disabled=${busy} onClick=${() => { call(api.delete(`/v1/salvage/${segment(copy.id)}`, { yes: true }), onDeleted) }}>Yes, delete it</button>
        <button type="button" class="quiet" onClick=${onKept}>Keep it</button>
      </div>
    </div>`
}
