/**
 * After Protect: the initial replication's progress, from the live
 * channel's snapshots (ReplicationInfo.progress, docs/api.md), as a
 * `<progress>` bar with its label and the time left in words, until the
 * relationship leaves `waiting-initial-replication`; then links to the VM's
 * page and the dashboard. A relationship in error says why.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { Live } from '../live.ts'
import { href } from '../route.ts'
import { duration, size, when } from '../format.ts'
import { useNow } from '../now.ts'

export function InitialProgress ({ live, first, peerName }: { live: Live, first: ReplicationInfo, peerName: string }): ComponentChildren {
  const [info, setInfo] = useState(first)
  const now = useNow()
  useEffect(() => live.subscribe({
    snapshot: s => { const r = s.replication.find(x => x.relationship === first.relationship); if (r !== undefined) setInfo(r) }
  }), [live, first.relationship])
  const vm = info.vm
  const links = html`<p class="actions"><a href=${href('vm', vm)}>See ${vm}</a> <a href=${href('')}>Back to the dashboard</a></p>`
  if (info.state !== 'waiting-initial-replication') {
    const failed = info.state === 'error'
    return html`
      <div class="card protect-done ${failed ? 'failed' : ''}" role="status">
        <h2>${failed ? `${vm}: the initial replication stopped` : `${vm} is protected`}</h2>
        <p>${failed ? info.stateReason : `The first full copy is on ${peerName}. New recovery points follow ${info.settings.frequency === 'continuous' ? 'continuously' : `every ${duration(info.settings.frequency)}`}.`}</p>
        ${links}
      </div>`
  }
  const p = info.progress
  const percent = p === null || p.bytesTotal === 0 ? null : Math.min(100, Math.floor(p.bytesDone * 100 / p.bytesTotal))
  return html`
    <section class="card stack protect-progress" aria-labelledby="progress-title">
      <h2 id="progress-title">Initial replication of ${vm} to ${peerName}</h2>
      <label for="initial-progress">Copied so far</label>
      ${percent === null
        ? html`<progress id="initial-progress" aria-describedby="progress-words"></progress>`
        : html`<progress id="initial-progress" max=${p!.bytesTotal} value=${p!.bytesDone} aria-describedby="progress-words">${percent}%</progress>`}
      <p id="progress-words" role="status">${progressWords(info, percent, now)}</p>
      <p class="why">You may leave this page: the copy goes on, and the dashboard shows it.</p>
      ${links}
    </section>`
}

/** `41%: 215 MB of 512 MB, about 3 min left`, or what the copy waits for. */
function progressWords (info: ReplicationInfo, percent: number | null, now: number): string {
  const p = info.progress
  if (p === null) {
    if (info.seedExportJob !== null || info.settings.initial.startsWith('seed:')) return 'Waiting for the seed: once it is imported on the other box, only what changed since is sent.'
    if (info.settings.initial.startsWith('at:') && info.nextCycleAt !== null) return `Starts ${when(info.nextCycleAt, now)}.`
    return 'Starting…'
  }
  if (percent === null) return 'Starting: opening the disks and asking the other box what it holds…'
  const left = p.etaMs === null ? 'working out the time left' : `about ${duration(p.etaMs)} left`
  return `${percent}%: ${size(p.bytesDone)} of ${size(p.bytesTotal)}, ${left}.`
}
