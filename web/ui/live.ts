/**
 * The live channel (`GET /v1/live`, Server-Sent Events; docs/web.md): one
 * EventSource per page, shared by the pages that subscribe. A `snapshot`
 * event carries the whole picture, an `events` event the event-log entries
 * new since the last one. The browser reconnects by itself after a dropped
 * connection; when the server refuses (an error status, a logged-out
 * session) the EventSource is closed for good, so this reopens it after a
 * back-off, doubling from RECONNECT_FIRST_MS up to MAX_RECONNECT_MS.
 */
import type { StatusInfo } from '../../appliance/service/types.ts'
import type { ReplicationInfo } from '../../appliance/service/replication-types.ts'
import type { EventInfo, ReplicaStatusInfo } from '../../appliance/service/replica-types.ts'
import type { JobInfo } from '../../appliance/service/job-types.ts'
import type { TestFailoverInfo } from '../../appliance/service/failover-types.ts'

/** The first wait before reopening a refused channel: long enough not to hammer a restarting box. */
export const RECONNECT_FIRST_MS = 1000
/** The longest wait between attempts: a box back after an outage shows live data within half a minute. */
export const MAX_RECONNECT_MS = 30_000

/** The `snapshot` event's data. */
export interface Snapshot {
  status: StatusInfo
  replication: ReplicationInfo[]
  replica: ReplicaStatusInfo[]
  jobs: JobInfo[]
  tests: TestFailoverInfo[]
}

/** `closed`: refused, reopened after the back-off; `stopped`: not started, or stopped (logged out). */
export type LiveState = 'connecting' | 'open' | 'closed' | 'stopped'

export interface LiveListener {
  snapshot?: (snapshot: Snapshot) => void
  events?: (events: EventInfo[]) => void
  state?: (state: LiveState) => void
}

export class Live {
  private source: EventSource | null = null
  private retryMs = RECONNECT_FIRST_MS
  private timer: ReturnType<typeof setTimeout> | null = null
  private readonly listeners = new Set<LiveListener>()
  private readonly url: string
  /** The newest snapshot, for a page that subscribes after it came. */
  last: Snapshot | null = null
  state: LiveState = 'stopped'

  constructor (url = '/v1/live') { this.url = url }

  /** Opens the channel (idempotent). */
  start (): void {
    if (this.source !== null || this.timer !== null) return
    this.setState('connecting')
    const source = new EventSource(this.url)
    this.source = source
    source.addEventListener('open', () => { this.retryMs = RECONNECT_FIRST_MS; this.setState('open') })
    source.addEventListener('snapshot', e => {
      const snapshot = parse<Snapshot>(e)
      if (snapshot === undefined) return
      this.last = snapshot
      for (const l of this.listeners) l.snapshot?.(snapshot)
    })
    source.addEventListener('events', e => {
      // The entries, as an array or as `{ events }` (the shape of GET /v1/events).
      const data = parse<EventInfo[] | { events?: EventInfo[] }>(e)
      const events = Array.isArray(data) ? data : data?.events
      if (events !== undefined) for (const l of this.listeners) l.events?.(events)
    })
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) { this.setState('connecting'); return }
      this.source = null
      this.setState('closed')
      this.timer = setTimeout(() => { this.timer = null; this.start() }, this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, MAX_RECONNECT_MS)
    })
  }

  /** Closes the channel and stops reconnecting (logout). */
  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.source?.close()
    this.source = null
    this.last = null
    this.setState('stopped')
  }

  /** Adds a listener; returns its removal (a page calls it when it goes). */
  subscribe (listener: LiveListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private setState (state: LiveState): void {
    if (state === this.state) return
    this.state = state
    for (const l of this.listeners) l.state?.(state)
  }
}

/** An event's JSON data, or undefined (ignored) when it is not JSON. */
function parse<T> (event: Event): T | undefined {
  try { return JSON.parse((event as MessageEvent<string>).data) as T } catch { return undefined }
}
