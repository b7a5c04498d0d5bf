/**
 * JSON schemas of the live channel (live.ts, docs/web.md "Live updates"):
 * its request (no query; a `Last-Event-ID` that is a seq) and the data of
 * its two events, which are serialized through them (an unknown property
 * is never sent).
 */
import { replicationListSchema } from './replication-schemas.ts'
import { testFailoversSchema } from './routes/failover-schemas.ts'
import { jobListSchema } from './routes/job-schemas.ts'
import { eventSchema, replicaStatusSchema } from './routes/replica-schemas.ts'
import { object, statusSchema } from './schemas.ts'

/** `GET /v1/live` takes no query. */
export const liveQuery = object({}, [])

/** What the browser sends back on a reconnection: the `id` of the last event it got, a seq (at most 15 digits: a safe integer). */
export const liveHeaders = { type: 'object', properties: { 'last-event-id': { type: 'string', pattern: '^[0-9]{1,15}$' } } }

/** `event: snapshot`. */
export const liveSnapshotSchema = object({
  status: statusSchema,
  replication: replicationListSchema,
  replica: replicaStatusSchema,
  jobs: jobListSchema,
  tests: testFailoversSchema
})

/** `event: events`: new entries of the event log, oldest first. */
export const liveEventsSchema = object({ events: { type: 'array', items: eventSchema } })
