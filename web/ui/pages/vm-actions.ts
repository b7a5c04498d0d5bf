/**
 * The VM page's actions on the primary (docs/web.md "VM page"): suspend,
 * resume, resync (`POST /v1/replication/:name/<action>`) and remove
 * (`DELETE /v1/replication/:name`, after a confirmation step that says
 * what it does: docs/cli.md `replication remove`). An action the state
 * does not allow (docs/relationships.md, the transition table) is disabled
 * with the reason beside it; a refusal is shown in words.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ReplicationInfo, ReplicationRemoveResult } from '../../../appliance/service/replication-types.ts'
import { ApiError, segment, type Api } from '../api.ts'
import { stateText } from '../format.ts'
import { failureText } from './form-error.ts'

export type Action = 'suspend' | 'resume' | 'resync' | 'remove'

/** The states each action starts from (docs/relationships.md, "Transitions"); remove is the server's to refuse. */
const FROM: Record<Exclude<Action, 'remove'>, ReadonlySet<string>> = {
  suspend: new Set(['waiting-initial-replication', 'replicating', 'resynchronization-required', 'resynchronizing', 'error']),
  resume: new Set(['suspended', 'error']),
  resync: new Set(['resynchronization-required', 'replicating', 'error'])
}

/** Pure: why each action cannot run in `state` (null: it can). */
export function actionBlocks (state: string): Record<Action, string | null> {
  const now = `it is ${stateText(state).toLowerCase()}`
  return {
    suspend: FROM.suspend.has(state) ? null : state === 'suspended' ? 'Already suspended.' : `Nothing to suspend: ${now}.`,
    resume: FROM.resume.has(state) ? null : `Only a suspended replication resumes: ${now}.`,
    resync: FROM.resync.has(state) ? null : state === 'resynchronizing' ? 'A resynchronization runs already.' : `Not now: ${now}.`,
    remove: null
  }
}

const LABELS: Record<Exclude<Action, 'remove'>, string> = { suspend: 'Suspend', resume: 'Resume', resync: 'Resynchronize' }

const DONE: Record<Exclude<Action, 'remove'>, string> = {
  suspend: 'Replication suspended: no cycle starts until you resume it.',
  resume: 'Replication resumed.',
  resync: 'Resynchronization started: block hashes are compared on both boxes and only the differing blocks are sent.'
}

/** Words for the refusals these calls meet; any other shows the server's message. */
function refusalText (err: unknown): string {
  if (err instanceof ApiError && err.code === 'APP_INVALID_STATE') return `Not possible in this state: ${err.message}`
  if (err instanceof ApiError && err.code === 'APP_RELATIONSHIP_NOT_FOUND') return 'This box no longer protects this VM (removed meanwhile?). Reload the page.'
  return failureText(err)
}

export interface ActionsProps {
  api: Api
  rel: ReplicationInfo
  /** The Replica's name, in the words of the confirmation. */
  replica: string
  onChanged: (rel: ReplicationInfo) => void
  onRemoved: (result: ReplicationRemoveResult) => void
}

export function VmActions ({ api, rel, replica, onChanged, onRemoved }: ActionsProps): ComponentChildren {
  const [busy, setBusy] = useState<Action | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [confirming, setConfirming] = useState(false)
  const confirmTitle = useRef<HTMLHeadingElement>(null)
  useEffect(() => { if (confirming) confirmTitle.current?.focus() }, [confirming])
  const blocks = actionBlocks(rel.state)
  const path = `/v1/replication/${segment(rel.vm)}`

  const run = (action: Exclude<Action, 'remove'>): void => {
    setBusy(action); setError(null); setMessage(null)
    api.post<ReplicationInfo>(`${path}/${action}`, {}).then(info => { onChanged(info); setMessage(DONE[action]) }, (err: unknown) => { setError(refusalText(err)) })
      .finally(() => { setBusy(null) })
  }
  const remove = (): void => {
    setBusy('remove'); setError(null); setMessage(null)
    api.delete<ReplicationRemoveResult>(path).then(result => { setConfirming(false); onRemoved(result) }, (err: unknown) => { setError(refusalText(err)) })
      .finally(() => { setBusy(null) })
  }

  return html`
    <ul class="vm-actions">
      ${(['suspend', 'resume', 'resync'] as const).map(a => html`
        <li key=${a}>
          <button type="button" disabled=${blocks[a] !== null || busy !== null} aria-describedby=${blocks[a] === null ? undefined : `why-${a}`} onClick=${() => { run(a) }}>
            ${busy === a ? `${LABELS[a]}…` : LABELS[a]}
          </button>
          ${blocks[a] === null ? null : html`<span id=${`why-${a}`} class="why">${blocks[a]}</span>`}
        </li>`)}
      <li>
        <button type="button" class="danger" disabled=${busy !== null || confirming} onClick=${() => { setConfirming(true); setMessage(null); setError(null) }}>Remove replication…</button>
      </li>
    </ul>
    ${confirming
      ? html`
        <section class="confirm card" aria-labelledby="remove-title">
          <h3 id="remove-title" tabindex="-1" ref=${confirmTitle}>Stop protecting ${rel.vm}?</h3>
          <p>The schedule stops (a cycle in flight is cut short), this box forgets the relationship and its replication state, and ${replica} is told.</p>
          <p><strong>${replica} keeps every recovery point it holds</strong>: they may be all that is left of ${rel.vm}, and only its own operator deletes them. No new recovery point comes after this: until you protect ${rel.vm} again, what it writes is not copied anywhere.</p>
          <div class="actions">
            <button type="button" class="danger" disabled=${busy !== null} onClick=${remove}>${busy === 'remove' ? 'Removing…' : `Remove the replication of ${rel.vm}`}</button>
            <button type="button" class="quiet" disabled=${busy !== null} onClick=${() => { setConfirming(false) }}>Keep protecting it</button>
          </div>
        </section>`
      : null}
    <p class="form-error" role="alert">${error ?? ''}</p>
    <p class="ok-line" role="status">${message ?? ''}</p>`
}
