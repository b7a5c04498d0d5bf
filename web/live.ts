/**
 * `GET /v1/live`: the live channel, Server-Sent Events (docs/web.md "Live
 * updates"). The caller mounts it where a session is required; this module
 * checks the `Origin` and the number of streams, and the hub (live-hub.ts)
 * feeds them.
 */
import type { FastifyInstance } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import type { ApplianceService } from '../appliance/service/index.ts'
import { WebErrorCode, httpStatusOf } from './errors.ts'
import { LiveHub, type LiveClock, type LiveSerializers } from './live-hub.ts'
import { liveEventsSchema, liveHeaders, liveQuery, liveSnapshotSchema } from './live-schemas.ts'
import { errorSchema } from './schemas.ts'

export interface LiveOptions {
  /**
   * Whether a page of that origin (`https://host:port`, the request's
   * `Origin` header) may open the stream: the box's own names and
   * addresses (against DNS rebinding and other sites' pages). Called only
   * when the request has an `Origin` (a same-origin EventSource sends none);
   * false answers 403 WEB_ORIGIN_INVALID.
   */
  checkOrigin: (origin: string | undefined) => boolean
  /** Tests: the timers, and the limits of live-hub.ts. */
  clock?: LiveClock
  pollMs?: number
  heartbeatMs?: number
  maxClients?: number
  maxBufferBytes?: number
}

/**
 * The stream's headers: never cached, never compressed (a compressing
 * proxy or encoder would hold events back until its buffer fills), never
 * buffered by nginx.
 */
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'content-encoding': 'identity',
  'x-accel-buffering': 'no'
}

const errors = { '4xx': errorSchema, '5xx': errorSchema }

/**
 * Registers `GET /v1/live` on `app` (in the scope the caller chose: the
 * logged-in one). Returns the hub, whose `size` is the number of open
 * streams. Every stream ends when the app closes (a preClose hook), so
 * `app.close()` never waits for one.
 */
export function registerLiveRoutes (app: FastifyInstance, service: ApplianceService, options: LiveOptions): LiveHub {
  const hub = new LiveHub({
    service,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.maxClients === undefined ? {} : { maxClients: options.maxClients }),
    ...(options.maxBufferBytes === undefined ? {} : { maxBufferBytes: options.maxBufferBytes }),
    onPollError: err => { app.log.warn({ err }, 'the live channel could not ask the service; it asks again at the next poll') }
  })
  app.addHook('preClose', async () => { hub.close() })
  let serializers: LiveSerializers | undefined

  app.get('/v1/live', { schema: { querystring: liveQuery, headers: liveHeaders, response: errors } }, async (request, reply) => {
    const origin = request.headers.origin
    if (origin !== undefined && !options.checkOrigin(origin)) {
      return await reply.status(httpStatusOf(WebErrorCode.WEB_ORIGIN_INVALID)).send({ code: WebErrorCode.WEB_ORIGIN_INVALID, message: `pages of ${origin.slice(0, 100)} may not open the live channel` })
    }
    if (serializers === undefined) {
      const snapshot = reply.compileSerializationSchema(liveSnapshotSchema)
      const events = reply.compileSerializationSchema(liveEventsSchema)
      serializers = { snapshot: value => snapshot({ ...value }), events: value => events({ ...value }) }
    }
    if (!hub.reserve()) {
      return await reply.status(httpStatusOf(WebErrorCode.WEB_LIVE_BUSY)).send({ code: WebErrorCode.WEB_LIVE_BUSY, message: 'too many live streams are open; close a page and reload this one' })
    }
    const lastEventId = request.headers['last-event-id']
    await hub.join(typeof lastEventId === 'string' ? Number(lastEventId) : undefined, serializers, () => {
      // headers the app's hooks set on the reply (security headers) go out with the stream's own
      const headers: OutgoingHttpHeaders = {}
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
      reply.hijack()
      reply.raw.writeHead(200, { ...headers, ...SSE_HEADERS })
      return reply.raw
    })
  })

  return hub
}
