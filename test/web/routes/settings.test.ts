/**
 * The settings routes through the API client over a real socket: each
 * reaches its SettingsApi method with the request's values and answers its
 * JSON; the schemas refuse bad bodies before the service sees them; the
 * service's APP_USAGE travels as 400 with its code.
 */
import t from 'tap'
import { refusedBeforeService, servedFake } from '../fixtures/served.ts'
import { SETTINGS } from '../fixtures/fake-service.ts'

t.test('get and update through the client', async t => {
  const { service, client } = await servedFake(t)
  t.same(await client.settings(), SETTINGS)
  service.settings_ = { ...SETTINGS, name: 'branch-2', restartNeeded: ['name'] }
  t.same(await client.settingsUpdate({ name: 'branch-2' }), service.settings_)
  await client.settingsUpdate({ listen: ['/ip4/0.0.0.0/tcp/7451', '/ip6/::/tcp/7451'], api: '0.0.0.0:9443' })
  t.same(service.calls, [
    ['settings', undefined],
    ['settingsUpdate', { name: 'branch-2' }],
    ['settingsUpdate', { listen: ['/ip4/0.0.0.0/tcp/7451', '/ip6/::/tcp/7451'], api: '0.0.0.0:9443' }]
  ])
  service.failWith = { code: 'APP_USAGE', message: 'listen /nope is not a multiaddr' }
  await t.rejects(client.settingsUpdate({ listen: ['/nope'] }), { code: 'APP_USAGE' }, 'the service\'s refusal, by its code')
})

t.test('bad bodies are refused before the service', async t => {
  const served = await servedFake(t)
  await refusedBeforeService(t, served, [
    ['an unknown field', { method: 'PATCH', url: '/v1/settings', payload: { name: 'x', role: 'replica' } }],
    ['an empty name', { method: 'PATCH', url: '/v1/settings', payload: { name: '' } }],
    ['no listen address', { method: 'PATCH', url: '/v1/settings', payload: { listen: [] } }],
    ['a listen address that is not a string', { method: 'PATCH', url: '/v1/settings', payload: { listen: [7450] } }],
    ['api null (the web page would switch itself off)', { method: 'PATCH', url: '/v1/settings', payload: { api: null } }],
    ['a name far too long', { method: 'PATCH', url: '/v1/settings', payload: { name: 'x'.repeat(1000) } }]
  ])
})
