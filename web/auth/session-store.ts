/**
 * The server's sessions (docs/web.md "Server and login"), a store for
 * @fastify/session kept in memory: a session can be listed and revoked, and
 * none survives a daemon restart (everyone logs in again).
 *
 * Only logged-in sessions are kept, and only `admit` adds one: the plugin's
 * `set` updates a session that is here and ignores any other, so a request
 * in flight cannot bring back a session revoked meanwhile, and a visitor who
 * never logged in costs no memory.
 */
import { randomBytes } from 'node:crypto'
import type { Session } from 'fastify'
import { MAX_SESSION_IDLE_MS, MAX_SESSION_MS, MAX_SESSIONS, MAX_USER_AGENT_CHARS } from './constants.ts'

declare module 'fastify' {
  interface Session {
    /** Set once logged in. */
    auth?: SessionAuth
  }
}

/** What a logged-in session records about itself (times in ms since the epoch). */
export interface SessionAuth {
  /** A non-secret name of the session, for the list and for revoking: never the cookie's id. */
  handle: string
  created: number
  lastSeen: number
  address: string
  userAgent: string
}

/** One session as `GET /v1/auth/sessions` lists it. */
export interface SessionInfo {
  id: string
  created: string
  lastSeen: string
  address: string
  userAgent: string
  /** The session of the request that asked. */
  current: boolean
}

/** A kept session's data: the plugin's fields (the CSRF secret among them) and ours. */
type SessionData = Record<string, unknown> & { auth: SessionAuth }

type Callback<T = void> = (err?: Error | null, value?: T) => void

export const SESSION_HANDLE_BYTES = 12
/** base64url of SESSION_HANDLE_BYTES. */
export const SESSION_HANDLE_PATTERN = '^[A-Za-z0-9_-]{16}$'

export class SessionStore {
  readonly #now: () => number
  /** By session id (the cookie's value, unsigned). */
  readonly #sessions = new Map<string, SessionData>()

  constructor (now: () => number = Date.now) {
    this.#now = now
  }

  /** A new login's record, for `admit`. */
  newAuth (address: string, userAgent: string | undefined): SessionAuth {
    const now = this.#now()
    return { handle: randomBytes(SESSION_HANDLE_BYTES).toString('base64url'), created: now, lastSeen: now, address, userAgent: (userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS) }
  }

  /** Keeps a session that just logged in; past MAX_SESSIONS, the least recently used one ends. */
  admit (sessionId: string, session: Session): void {
    if (session.auth === undefined) throw new TypeError('SessionStore.admit: the session is not logged in')
    this.#sweep()
    while (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.#sessions].reduce((a, b) => b[1].auth.lastSeen < a[1].auth.lastSeen ? b : a)
      this.#sessions.delete(oldest[0])
    }
    this.#sessions.set(sessionId, copyData(session))
  }

  /** @fastify/session: updates a kept session (never adds one). */
  set (sessionId: string, session: Session, callback: Callback): void {
    if (this.#sessions.has(sessionId) && session.auth !== undefined) this.#sessions.set(sessionId, copyData(session))
    callback()
  }

  /** @fastify/session: the session, unless it is unknown or expired (it is then dropped). */
  get (sessionId: string, callback: Callback<Session | null>): void {
    const session = this.#sessions.get(sessionId)
    if (session !== undefined && this.#expired(session.auth)) this.#sessions.delete(sessionId)
    callback(null, (this.#sessions.get(sessionId) ?? null) as Session | null)
  }

  /** @fastify/session: ends the session (logout, regenerate at login). */
  destroy (sessionId: string, callback: Callback): void {
    this.#sessions.delete(sessionId)
    callback()
  }

  /** Marks the session used now (its idle limit starts again). */
  touch (sessionId: string): void {
    const session = this.#sessions.get(sessionId)
    if (session !== undefined) session.auth.lastSeen = this.#now()
  }

  /** The live sessions, oldest first; `currentId` marks the caller's. */
  list (currentId: string | undefined): SessionInfo[] {
    this.#sweep()
    return [...this.#sessions].sort((a, b) => a[1].auth.created - b[1].auth.created).map(([id, { auth }]) => ({
      id: auth.handle,
      created: new Date(auth.created).toISOString(),
      lastSeen: new Date(auth.lastSeen).toISOString(),
      address: auth.address,
      userAgent: auth.userAgent,
      current: id === currentId
    }))
  }

  /** Ends the session of that handle; false when none has it. */
  revoke (handle: string): boolean {
    for (const [id, { auth }] of this.#sessions) {
      if (auth.handle === handle) return this.#sessions.delete(id)
    }
    return false
  }

  /** Ends every session but `keepId`'s; answers how many ended. */
  revokeAllBut (keepId: string | undefined): number {
    let ended = 0
    for (const id of [...this.#sessions.keys()]) {
      if (id !== keepId) ended += this.#sessions.delete(id) ? 1 : 0
    }
    return ended
  }

  #expired (auth: SessionAuth): boolean {
    const now = this.#now()
    return now - auth.created >= MAX_SESSION_MS || now - auth.lastSeen >= MAX_SESSION_IDLE_MS
  }

  #sweep (): void {
    for (const [id, { auth }] of this.#sessions) {
      if (this.#expired(auth)) this.#sessions.delete(id)
    }
  }
}

/** The session's own string-keyed fields (the plugin's Session object also holds its request: not kept); the cookie is the plugin's. */
function copyData (session: Session): SessionData {
  const data: Record<string, unknown> = {}
  for (const key in session) {
    if (key !== 'cookie') data[key] = (session as unknown as Record<string, unknown>)[key]
  }
  return data as SessionData
}
