/**
 * GET /v1/pairing through the API client over a real socket: the last
 * window and the last pairing come back whole (a window used by a joining
 * box, one still open with an attempt in progress, none at all); a reply
 * the schema does not know is a failure, never a repaired answer.
 */
import t from 'tap'
import { PAIR_STATUS, PEER_ID } from '../fixtures/fake-service.ts'
import { servedFake } from '../fixtures/served.ts'

t.test('pairStatus reaches GET /v1/pairing and comes back whole', async t => {
  const { service, client } = await servedFake(t)
  t.same(await client.pairStatus(), PAIR_STATUS, 'a window a box joined, with its confirmation code')
  service.pairStatus_ = {
    window: { mode: 'pin', expiresAt: '2026-01-01T00:10:00.000Z', open: true, joining: true, failedAttempts: 2, paired: null, pin: '12345678', invite: 'tandem-pair:1:e30' },
    last: { side: 'joiner', peerId: PEER_ID, name: 'box-c', confirmationCode: '654321', pairedAt: '2025-12-31T23:00:00.000Z' }
  }
  t.same(await client.pairStatus(), service.pairStatus_, 'an open window with an attempt in progress; the last pairing made as joiner')
  service.pairStatus_ = { window: null, last: null }
  t.same(await client.pairStatus(), { window: null, last: null }, 'no window opened since the daemon started')
  t.same(service.calls.map(c => c[0]), ['pairStatus', 'pairStatus', 'pairStatus'])
})

t.test('a service answer outside the schema is an error, not a repaired reply', async t => {
  const { service, client } = await servedFake(t)
  service.pairStatus_ = { ...PAIR_STATUS, window: { ...PAIR_STATUS.window!, mode: 'qr' as 'pin' } }
  await t.rejects(client.pairStatus(), { code: 'APP_UNEXPECTED' })
})
