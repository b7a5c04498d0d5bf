/**
 * The job routes (docs/api.md "Jobs"): long work started by one call and
 * followed by asking for the job: seed export on a primary, seed import on
 * a Replica.
 */
import type { FastifyInstance } from 'fastify'
import type { ApplianceService, SeedExportRequest, SeedImportRequest } from '../../appliance/service/index.ts'
import { vmParams } from '../replication-schemas.ts'
import { jobListSchema, jobParams, jobSchema, seedExportBody, seedImportBody } from './job-schemas.ts'

export function registerJobRoutes (app: FastifyInstance, service: ApplianceService, errors: Record<string, unknown>): void {
  const id = (request: { params: unknown }): string => (request.params as { id: string }).id

  app.post('/v1/seeds/export/:name', { schema: { params: vmParams, body: seedExportBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.seedExport((request.params as { name: string }).name, request.body as SeedExportRequest))

  app.post('/v1/seeds/import', { schema: { body: seedImportBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.seedImport(request.body as SeedImportRequest))

  app.get('/v1/jobs', { schema: { response: { 200: jobListSchema, ...errors } } }, async () => await service.jobs())

  app.get('/v1/jobs/:id', { schema: { params: jobParams, response: { 200: jobSchema, ...errors } } }, async request => await service.job(id(request)))

  app.delete('/v1/jobs/:id', { schema: { params: jobParams, response: { 200: jobSchema, ...errors } } }, async request => await service.jobCancel(id(request)))
}
