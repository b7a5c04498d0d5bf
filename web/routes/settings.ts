/**
 * The settings routes (docs/api.md "Settings"): config.json's name, listen
 * addresses and web address, over the service's SettingsApi. A change
 * takes effect when the daemon restarts (`restartNeeded`).
 */
import type { FastifyInstance } from 'fastify'
import type { SettingsApi, SettingsUpdateRequest } from '../../appliance/service/index.ts'
import { errorSchema } from '../schemas.ts'
import { settingsSchema, settingsUpdateBody } from './settings-schemas.ts'

const errors = { '4xx': errorSchema, '5xx': errorSchema }

export function registerSettingsRoutes (app: FastifyInstance, service: SettingsApi): void {
  app.get('/v1/settings', { schema: { response: { 200: settingsSchema, ...errors } } }, async () => await service.settings())

  app.patch('/v1/settings', { schema: { body: settingsUpdateBody, response: { 200: settingsSchema, ...errors } } },
    async request => await service.settingsUpdate(request.body as SettingsUpdateRequest))
}
