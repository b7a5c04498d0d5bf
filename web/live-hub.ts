/**
 * The live channel's streams and the one poll they share (docs/web.md
 * "Live updates"). The service has no change notifications, so the hub asks
 * it every LIVE_POLL_MS while at least one stream is open, and sends each
 * stream what changed: a new snapshot when one differs (live-snapshot.ts
 * `steadyKey`), the event log's new entries. The hub keeps one cursor in
 * the log for all streams (listEvents({ cursor })), so a poll reads only
 * what was appended since the last one; a stream that reconnects behind
 * the others catches up by seq. Joins and polls run one at a time, so a
 * stream never sees an older snapshot after a newer one nor an event twice
 * (every frame carries only seqs above the stream's last).
 */
import type { ServerResponse } from 'node:http'
import { MAX_EVENTS_SHOWN, type ApplianceService, type EventInfo } from '../appliance/service/index.ts'
import { WebError, WebErrorCode } from './errors.ts'
import { fetchSnapshot, steadyKey, type LiveSnapshot } from './live-snapshot.ts'

/**
 * How often the service is asked: a second is what a person watching a
 * failover's progress notices, and one poll costs five in-memory reads for
 * every stream together, and of the event log only what was appended.
 */
export const LIVE_POLL_MS = 1000
/**
 * Pages of new events (MAX_EVENTS_SHOWN each, at most 1 MiB of the log
 * read each) one poll reads at most: the log is two files of 8 MiB, so a
 * cursor the log no longer holds (re-read from the oldest event) is read
 * through in one poll; what is left waits for the next.
 */
export const MAX_EVENT_PAGES_PER_POLL = 32
/** A comment line this often: proxies (nginx drops a silent one after 60 s) and phones keep a stream that talks. */
export const LIVE_HEARTBEAT_MS = 15_000
/**
 * A snapshot whose only changes are ages (steadyKey) is still sent this
 * often, so the durations in its texts, in minutes past the first one, are
 * at most a minute behind.
 */
export const LIVE_REFRESH_MS = 60_000
/** Open streams at most: a box has one admin or a few, each page one stream; each stream holds a socket and up to MAX_LIVE_BUFFER_BYTES. */
export const MAX_LIVE_CLIENTS = 32
/**
 * Bytes written to a stream and not yet taken by its client: a snapshot is
 * tens of KiB, a page of events a few hundred; a client this far behind is
 * not reading (a sleeping phone), and is cut so the box's memory stays bounded.
 */
export const MAX_LIVE_BUFFER_BYTES = 1024 * 1024
/** How long a browser waits before it reconnects (the stream's `retry:`). */
export const LIVE_RETRY_MS = 2000

/** Timers and clock, injected so tests drive the poll and the heartbeat. */
export interface LiveClock {
  now: () => number
  /** Calls `fn` every `ms`, the next call only once the last one's promise settled, until the returned function is called. */
  every: (ms: number, fn: () => Promise<void>) => () => void
}

export const realClock: LiveClock = {
  now: Date.now,
  every (ms, fn) {
    let timer: NodeJS.Timeout | undefined
    let stopped = false
    const next = (): void => {
      timer = setTimeout(() => { void fn().finally(() => { if (!stopped) next() }) }, ms)
      timer.unref()
    }
    next()
    return () => { stopped = true; clearTimeout(timer) }
  }
}

/** The data of a snapshot and of an events frame as JSON, through their schemas (live-schemas.ts). */
export interface LiveSerializers {
  snapshot: (value: LiveSnapshot) => string
  events: (value: { events: EventInfo[] }) => string
}

export interface LiveHubInit {
  service: ApplianceService
  clock?: LiveClock
  pollMs?: number
  heartbeatMs?: number
  maxClients?: number
  maxBufferBytes?: number
  /** Told of a poll that failed (the service threw) after one that did not; the streams go on. */
  onPollError?: (err: unknown) => void
}

interface Client {
  res: ServerResponse
  /** The newest event seq this stream was sent or told of: the `id` of its frames. */
  seq: number
}

/** One frame of the stream (the HTML Living Standard's "Server-sent events"); `data` is one line of JSON. */
const frame = (event: string, id: number, data: string): string => `id: ${id}\nevent: ${event}\ndata: ${data}\n\n`

export class LiveHub {
  private readonly init: LiveHubInit
  private readonly clock: LiveClock
  private readonly clients = new Set<Client>()
  /** Slots taken by joins not yet attached: counted against maxClients. */
  private joining = 0
  private tail: Promise<unknown> = Promise.resolve()
  private stopTimers: Array<() => void> = []
  private serializers: LiveSerializers | undefined
  /** While streams are open: the newest snapshot, the key of the last one sent and when. */
  private snapshot: LiveSnapshot | undefined
  private sentKey = ''
  private sentFull = ''
  private sentAt = 0
  /** The newest event seq sent (or, at the first join, the newest in the log): every stream at it is up to date. */
  private head = 0
  /** Where the log was last read to (listEvents' cursor): the next poll reads what follows. */
  private cursor = ''
  private closed = false
  /** The last poll failed. */
  private failing = false

  constructor (init: LiveHubInit) {
    this.init = init
    this.clock = init.clock ?? realClock
  }

  /** Open streams. */
  get size (): number {
    return this.clients.size
  }

  /** Takes a slot for a new stream: false when MAX_LIVE_CLIENTS are open or joining. A slot taken is given back by join. */
  reserve (): boolean {
    if (this.closed || this.clients.size + this.joining >= (this.init.maxClients ?? MAX_LIVE_CLIENTS)) return false
    this.joining++
    return true
  }

  /**
   * Attaches a stream, in a reserved slot: gets its snapshot (and, with
   * `lastEventId`, the events after it), then `open()` (which writes the
   * response's head and returns it) and sends them. Rejects with the
   * service's error before anything is opened, and with WEB_LIVE_BUSY
   * after close(). Runs in turn with the polls.
   */
  async join (lastEventId: number | undefined, serializers: LiveSerializers, open: () => ServerResponse): Promise<void> {
    this.serializers ??= serializers
    try {
      await this.run(async () => {
        if (this.closed) throw new WebError(WebErrorCode.WEB_LIVE_BUSY, 'the server is closing')
        if (this.snapshot === undefined) {
          // both read before either is kept: a failure leaves the hub as it was
          const snapshot = await fetchSnapshot(this.init.service)
          // the newest event and the log's end, read together: the polls go on from there
          const end = await this.init.service.listEvents({ last: 1 })
          this.snapshot = snapshot
          this.head = end.events.at(-1)?.seq ?? 0
          this.cursor = end.cursor
          this.sent(snapshot)
        }
        const seq = lastEventId === undefined ? this.head : Math.min(lastEventId, this.head)
        const data = this.serializers!.snapshot(this.snapshot)
        const client: Client = { res: open(), seq }
        client.res.write(`retry: ${LIVE_RETRY_MS}\n\n`)
        this.write(client, frame('snapshot', seq, data))
        this.clients.add(client)
        client.res.on('close', () => { this.leave(client) })
        // a client gone while its snapshot was read closed before the listener was there
        const socket = client.res.socket
        if (socket === null || socket.destroyed) { this.leave(client); return }
        // the response is open now: a failure is the next poll's to mend, never an error answer
        if (client.seq < this.head) await this.catchUp([client], client.seq).catch(err => { this.failed(err) })
        if (this.stopTimers.length === 0) this.startTimers()
      })
    } finally {
      this.joining--
    }
  }

  /** Ends every stream and stops the poll; joins after it are refused. Idempotent. */
  close (): void {
    this.closed = true
    this.stop()
    for (const c of this.clients) c.res.end()
    this.clients.clear()
  }

  private startTimers (): void {
    this.stopTimers = [
      this.clock.every(this.init.pollMs ?? LIVE_POLL_MS, async () => { await this.run(async () => { await this.poll() }) }),
      this.clock.every(this.init.heartbeatMs ?? LIVE_HEARTBEAT_MS, async () => { for (const c of this.clients) this.write(c, ': ping\n\n') })
    ]
  }

  private stop (): void {
    for (const stop of this.stopTimers) stop()
    this.stopTimers = []
    // the next join starts from a fresh snapshot
    this.snapshot = undefined
  }

  private leave (client: Client): void {
    if (!this.clients.delete(client)) return
    if (this.clients.size === 0) this.stop()
  }

  /** `fn` after every join and poll called before it has settled. */
  private async run<T> (fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    this.tail = result.catch(() => {})
    return await result
  }

  private async poll (): Promise<void> {
    if (this.clients.size === 0) return
    try {
      const snapshot = await fetchSnapshot(this.init.service)
      this.snapshot = snapshot
      const key = steadyKey(snapshot)
      const stale = this.clock.now() - this.sentAt >= LIVE_REFRESH_MS && JSON.stringify(snapshot) !== this.sentFull
      if (key !== this.sentKey || stale) {
        this.sent(snapshot)
        const data = this.serializers!.snapshot(snapshot)
        for (const c of this.clients) this.write(c, frame('snapshot', c.seq, data))
      }
    } catch (err) {
      this.failed(err)
      return
    }
    try {
      await this.sendNew()
      // streams behind the others (a reconnection) catch up a page a poll
      for (const seq of new Set([...this.clients].filter(c => c.seq < this.head).map(c => c.seq))) {
        await this.catchUp([...this.clients].filter(c => c.seq === seq), seq)
      }
    } catch (err) {
      this.failed(err)
      return
    }
    this.failing = false
  }

  /** Tells onPollError of the first failure of a run of them only: a service down for an hour is one line in the log, not 3600. */
  private failed (err: unknown): void {
    if (!this.failing) this.init.onPollError?.(err)
    this.failing = true
  }

  private sent (snapshot: LiveSnapshot): void {
    this.sentKey = steadyKey(snapshot)
    this.sentFull = JSON.stringify(snapshot)
    this.sentAt = this.clock.now()
  }

  /**
   * What the log gained since the last read, from the hub's cursor, to the
   * streams that are up to date (at `head`). Only seqs above `head` are
   * sent: after a reset (the log re-read from its oldest event) nothing is
   * sent twice.
   */
  private async sendNew (): Promise<void> {
    for (let page = 0; page < MAX_EVENT_PAGES_PER_POLL; page++) {
      const read = await this.init.service.listEvents({ cursor: this.cursor, last: MAX_EVENTS_SHOWN })
      const fresh = read.events.filter(e => e.seq > this.head)
      const newest = fresh.at(-1)?.seq
      if (newest !== undefined) {
        const text = frame('events', newest, this.serializers!.events({ events: fresh }))
        for (const c of this.clients) {
          if (c.seq !== this.head) continue
          this.write(c, text)
          c.seq = newest
        }
        this.head = newest
      }
      this.cursor = read.cursor
      if (!read.more) return
    }
  }

  /**
   * The next page of events after `seq`, up to `head`, to `clients` (all
   * at `seq`, behind the others: a reconnection). When the log no longer
   * holds any (they fell off with a rotated file), they are up to date.
   */
  private async catchUp (clients: Client[], seq: number): Promise<void> {
    const { events } = await this.init.service.listEvents({ after: seq, last: MAX_EVENTS_SHOWN })
    const missed = events.filter(e => e.seq <= this.head)
    const newest = missed.at(-1)?.seq
    const text = newest === undefined ? undefined : frame('events', newest, this.serializers!.events({ events: missed }))
    for (const c of clients) {
      if (text !== undefined) this.write(c, text)
      c.seq = newest ?? this.head
    }
  }

  /** Writes to a stream still open; one whose client does not read (MAX_LIVE_BUFFER_BYTES waiting) is cut. */
  private write (client: Client, text: string): void {
    const { res } = client
    if (res.destroyed || res.writableEnded) return
    res.write(text)
    if (res.writableLength > (this.init.maxBufferBytes ?? MAX_LIVE_BUFFER_BYTES)) res.destroy()
  }
}
