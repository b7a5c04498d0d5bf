/**
 * What the failover wizards share (docs/web.md "Failover and salvage"): the
 * plan's summary as the daemon wrote it (the CLI's `--dry-run` words), the
 * recovery-point picker, a job followed to its end, the relationships as
 * the live channel shows them, and a wizard's step heading.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { JobInfo } from '../../../appliance/service/job-types.ts'
import type { PointInfo, PointsResult, ReplicaStatusInfo } from '../../../appliance/service/replica-types.ts'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import { segment, type Api } from '../api.ts'
import type { Live } from '../live.ts'
import { size, when } from '../format.ts'
import { useNow } from '../now.ts'
import { failureText } from './form-error.ts'

/**
 * How often a running job is asked for while a wizard shows it: often
 * enough for a progress bar to move, rare enough to cost the box nothing
 * (the live channel's snapshots update it in between).
 */
export const JOB_POLL_MS = 1000

/**
 * A plan's `summary` lines: the first says what command it is, each
 * `  - ` line one thing that would happen (a `warning:` line under it is
 * shown as such). The words are the daemon's, unchanged.
 */
export function PlanSummary ({ lines, label = 'What will happen' }: { lines: string[], label?: string }): ComponentChildren {
  const [head, ...rest] = lines
  const items: Array<{ text: string, warning: boolean }> = []
  for (const line of rest) {
    const warning = /^\s+warning: /.test(line)
    items.push({ text: line.replace(/^\s*(?:- )?/, ''), warning })
  }
  return html`
    <section class="plan-summary card" aria-label=${label}>
      <h3>${label}</h3>
      ${head === undefined ? null : html`<p class="why">${head}</p>`}
      <ul>${items.map(i => html`<li class=${i.warning ? 'warning-line' : undefined}>${i.text}</li>`)}</ul>
    </section>`
}

/** What a wizard of a relationship held here as Replica gets. */
export interface WizardProps { api: Api, live: Live, replica: ReplicaStatusInfo, onChanged: () => void }

/** Runs `p`, keeping the busy flag and the failure line; `then` gets the answer. */
export function useCall (): { busy: boolean, error: string | null, call: <T>(p: Promise<T>, then: (v: T) => void) => void } {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const call = <T>(p: Promise<T>, then: (v: T) => void): void => {
    setBusy(true)
    setError(null)
    p.then(v => { setBusy(false); then(v) }, (err: unknown) => { setBusy(false); setError(failureText(err)) })
  }
  return { busy, error, call }
}

/** A wizard's step: its number of the total and its name, as the heading a screen reader lands on. */
export function StepTitle ({ n, of, title }: { n: number, of: number, title: string }): ComponentChildren {
  return html`<h2 class="step-title" tabindex="-1">Step ${n} of ${of}: ${title}</h2>`
}

/** `3 newer points` / `1 newer point`. */
export const counted = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** The points of a relationship held here, newest first, one to choose (`value`: its id). */
export function PointPicker ({ points, value, onChange }: { points: PointInfo[], value: number | null, onChange: (id: number) => void }): ComponentChildren {
  const now = useNow()
  if (points.length === 0) return html`<p>No recovery point is held here yet.</p>`
  const newest = [...points].sort((a, b) => b.id - a.id)
  return html`
    <fieldset class="points">
      <legend>Recovery point</legend>
      <ul>${newest.map((p, i) => html`
        <li key=${p.id}>
          <input type="radio" name="point" id=${`point-${p.id}`} value=${p.id} checked=${value === p.id} onChange=${() => { onChange(p.id) }} />
          <label for=${`point-${p.id}`}>
            <strong>Point ${p.id}</strong>${i === 0 ? ' (the latest)' : ''}, ${when(p.time, now)}
            <span class="why">${p.consistency === 'app' ? 'App-consistent' : 'Crash-consistent'}, ${size(p.size)}${p.proven === undefined ? ', not proven by a drill' : `, proven by a drill ${when(p.proven.time, now)}`}</span>
          </label>
        </li>`)}
      </ul>
    </fieldset>`
}

/** The points of `vm` held here (null until they came), and the one chosen: the latest at first. */
export function usePoints (api: Api, vm: string): { points: PointsResult | null, point: number | null, setPoint: (id: number) => void } {
  const [points, setPoints] = useState<PointsResult | null>(null)
  const [point, setPoint] = useState<number | null>(null)
  useEffect(() => {
    api.get<PointsResult>(`/v1/points/${segment(vm)}`).then(r => {
      setPoints(r)
      setPoint(r.points.reduce<number | null>((n, p) => n === null || p.id > n ? p.id : n, null))
    }, () => {})
  }, [api, vm])
  return { points, point, setPoint }
}

/**
 * Follows a job until it ends: asked for every JOB_POLL_MS, and taken from
 * the live channel's snapshots in between. Null until a job is given.
 */
export function useJob (api: Api, live: Live, started: JobInfo | null): JobInfo | null {
  const [job, setJob] = useState<JobInfo | null>(started)
  const id = started?.id ?? null
  useEffect(() => { setJob(started) }, [started])
  useEffect(() => {
    if (id === null || started?.state !== 'running') return
    let ended = false
    let unsubscribe = (): void => {}
    const stop = (): void => { ended = true; clearInterval(timer); unsubscribe() }
    const seen = (j: JobInfo): void => {
      if (ended) return
      setJob(j)
      if (j.state !== 'running') stop()
    }
    const timer = setInterval(() => { api.get<JobInfo>(`/v1/jobs/${segment(id)}`).then(seen, () => {}) }, JOB_POLL_MS)
    unsubscribe = live.subscribe({ snapshot: s => { const j = s.jobs.find(x => x.id === id); if (j !== undefined) seen(j) } })
    return stop
  }, [api, live, id, started])
  return job
}

const JOB_STATE_WORDS: Record<JobInfo['state'], string> = { running: 'Running', ok: 'Done', failed: 'Failed', cancelled: 'Cancelled' }

/** A job's progress bar and state in words; its error when it failed. */
export function JobProgress ({ job, label }: { job: JobInfo, label: string }): ComponentChildren {
  const { done, total } = job.progress
  const percent = total === 0 ? null : Math.min(100, Math.round(done / total * 100))
  return html`
    <div class="job card" role="status" aria-live="polite">
      <p><strong>${label}</strong>: ${JOB_STATE_WORDS[job.state]}${job.state === 'running' && percent !== null ? ` (${percent} %)` : ''}</p>
      ${job.state === 'running'
        ? html`<progress aria-label=${`${label}: progress`} max=${total === 0 ? undefined : total} value=${total === 0 ? undefined : done}></progress>
          ${total === 0 ? null : html`<p class="why">${size(done)} of ${size(total)}</p>`}`
        : null}
      ${job.error === null ? null : html`<p class="form-error">${job.error.message} (${job.error.code})</p>`}
    </div>`
}

/** This box's relationships on both sides, as the live channel's newest snapshot has them. */
export interface LiveHeld { replica: ReplicaStatusInfo[], primary: ReplicationInfo[] }

/**
 * The relationships as the live channel's newest snapshot has them (null
 * until one came), for what must follow the boxes while a wizard stays on
 * what the page loaded: a wizard started is never swapped for another when
 * the relationship it acted on changes side.
 */
export function useLiveHeld (live: Live): LiveHeld | null {
  const held = (s: NonNullable<Live['last']>): LiveHeld => ({ replica: s.replica, primary: s.replication })
  const [now, setNow] = useState<LiveHeld | null>(() => live.last === null ? null : held(live.last))
  useEffect(() => live.subscribe({ snapshot: s => { setNow(held(s)) } }), [live])
  return now
}
