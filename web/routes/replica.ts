/**
 * The Replica routes (docs/api.md "Replica"): the recovery points of a
 * relationship held here, the event log, the Replica relationships.
 */
import type { FastifyInstance } from 'fastify'
import type { ApplianceService, EventsRequest } from '../../appliance/service/index.ts'
import { eventsQuery, eventsSchema, pointsParams, pointsSchema, replicaStatusSchema } from './replica-schemas.ts'

export function registerReplicaRoutes (app: FastifyInstance, service: ApplianceService, errors: Record<string, unknown>): void {
  app.get('/v1/points/:name', { schema: { params: pointsParams, response: { 200: pointsSchema, ...errors } } },
    async request => await service.points((request.params as { name: string }).name))

  app.get('/v1/events', { schema: { querystring: eventsQuery, response: { 200: eventsSchema, ...errors } } }, async request => {
    const q = request.query as { name?: string, last?: string, after?: string, cursor?: string }
    const events: EventsRequest = {}
    if (q.name !== undefined) events.name = q.name
    if (q.last !== undefined) events.last = Number(q.last)
    if (q.after !== undefined) events.after = Number(q.after)
    if (q.cursor !== undefined) events.cursor = q.cursor
    return await service.listEvents(events)
  })

  app.get('/v1/replica/relationships', { schema: { response: { 200: replicaStatusSchema, ...errors } } }, async () => await service.replicaStatus())
}
