/**
 * The browser's client of the JSON API (docs/api.md): JSON in and out,
 * failures as ApiError with the server's `{ code, message }`. State-changing
 * requests carry the session's CSRF token in `x-csrf-token` (docs/web.md,
 * the auth contract); a 401 (but a wrong password's) tells the listeners
 * given to `onLoginRequired` (the app shows the login page) before the call
 * fails.
 */

/** What a failed call throws: the server's code (or UI_NETWORK when no answer came), message and status. */
export class ApiError extends Error {
  readonly code: string
  readonly status: number
  constructor (code: string, message: string, status: number) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = status
  }
}

/** The code of a call that got no HTTP answer (network down, box restarting): never sent by the server. */
export const UI_NETWORK = 'UI_NETWORK'

/** `GET /v1/auth/state`. */
export interface AuthState { passwordSet: boolean, loggedIn: boolean, csrfToken: string | null }

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export class Api {
  private csrfToken: string | null = null
  private readonly loginListeners = new Set<() => void>()

  /** Remembers the session's token (from the auth state, setup or login); null after logout. */
  setCsrfToken (token: string | null): void { this.csrfToken = token }

  /** Calls `fn` whenever a request is answered 401 WEB_LOGIN_REQUIRED; returns the unsubscribe. */
  onLoginRequired (fn: () => void): () => void {
    this.loginListeners.add(fn)
    return () => { this.loginListeners.delete(fn) }
  }

  async get<T> (path: string): Promise<T> { return await this.request<T>('GET', path) }
  async post<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('POST', path, body) }
  async put<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('PUT', path, body) }
  async delete<T> (path: string, body?: unknown): Promise<T> { return await this.request<T>('DELETE', path, body) }

  async authState (): Promise<AuthState> {
    const state = await this.get<AuthState>('/v1/auth/state')
    this.setCsrfToken(state.csrfToken)
    return state
  }

  async request<T> (method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (STATE_CHANGING.has(method) && this.csrfToken !== null) headers['x-csrf-token'] = this.csrfToken
    let response: Response
    try {
      response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    } catch (err) {
      throw new ApiError(UI_NETWORK, `the box did not answer (${err instanceof Error ? err.message : String(err)})`, 0)
    }
    const data = await readJson(response)
    if (response.ok) return data as T
    const error = errorOf(data, response)
    // A wrong password at login is a 401 too, but not a lost session.
    if (response.status === 401 && error.code !== 'WEB_LOGIN_FAILED') for (const fn of this.loginListeners) fn()
    throw error
  }
}

async function readJson (response: Response): Promise<unknown> {
  const text = await response.text()
  if (text === '') return null
  try { return JSON.parse(text) } catch { return { message: text.slice(0, 200) } }
}

function errorOf (data: unknown, response: Response): ApiError {
  const body = (typeof data === 'object' && data !== null ? data : {}) as { code?: unknown, message?: unknown }
  const code = typeof body.code === 'string' ? body.code : `HTTP_${response.status}`
  const message = typeof body.message === 'string' ? body.message : response.statusText
  return new ApiError(code, message, response.status)
}

/** A path segment for a name the operator chose (a VM's name may hold any character the API allows). */
export const segment = (name: string): string => encodeURIComponent(name)
