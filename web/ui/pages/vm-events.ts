/**
 * The VM page's event log (docs/web.md "VM page"): newest first, each time
 * in words ("3 min ago") with the exact time on hover (`title`) and for
 * machines (`datetime`); what happened, the reason, and how long work
 * ended (long work shows once: its end, or its begin while it runs). The page adds the events the live channel brings.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import type { EventInfo } from '../../../appliance/service/replica-types.ts'
import { duration } from '../format.ts'

/** Events shown: a screenful or two of the newest; `tandem events NAME` shows them all. */
export const MAX_EVENTS_ON_PAGE = 100

/** `3 min ago`, `just now` (under 5 s: clocks differ by that much), `in 2 min` (a clock ahead). */
export function ago (iso: string, now: number): string {
  const ms = now - new Date(iso).getTime()
  if (Math.abs(ms) < 5000) return 'just now'
  return ms > 0 ? `${duration(ms)} ago` : `in ${duration(-ms)}`
}

/** The exact time, with seconds and the date. */
export const exactTime = (iso: string): string => new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' })

/** A kind in words: `point-received` -> `Point received`. */
const kindText = (kind: string): string => `${kind.charAt(0).toUpperCase()}${kind.slice(1).replaceAll('-', ' ')}`

const OUTCOME_WORDS: Record<NonNullable<EventInfo['outcome']>, string> = { ok: 'done', failed: 'failed', interrupted: 'interrupted' }

export function EventLog ({ events, now }: { events: readonly EventInfo[], now: number }): ComponentChildren {
  if (events.length === 0) return html`<p>No event yet.</p>`
  // A begin whose end is here is said by its end (`Cycle: done`): shown once, not twice.
  const ended = new Set(events.flatMap(e => e.begin === undefined ? [] : [e.begin]))
  const shown = events.filter(e => e.phase !== 'begin' || !ended.has(e.seq)).sort((a, b) => b.seq - a.seq).slice(0, MAX_EVENTS_ON_PAGE)
  return html`
    <ol class="events" aria-label="Events, newest first">
      ${shown.map(e => html`
        <li key=${e.seq} class=${e.outcome === 'failed' || (e.code !== undefined && e.outcome !== 'ok') ? 'event failed' : 'event'}>
          <time datetime=${e.time} title=${exactTime(e.time)}>${ago(e.time, now)}</time>
          <span class="event-kind">${kindText(e.kind)}${e.phase === 'begin' ? ' started' : e.outcome === undefined ? '' : `: ${OUTCOME_WORDS[e.outcome]}`}</span>
          <span class="event-reason">${e.reason}${e.code === undefined ? '' : html` <code>${e.code}</code>`}</span>
        </li>`)}
    </ol>
    ${events.length > MAX_EVENTS_ON_PAGE ? html`<p class="why">The newest ${MAX_EVENTS_ON_PAGE} are shown; <code>tandem events NAME</code> shows them all.</p>` : null}`
}
