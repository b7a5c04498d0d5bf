/**
 * GuestAgentClient against a fake qemu-guest-agent on a unix socket in the
 * test: sync through stale output, the freeze/thaw round trip, a freeze
 * the agent refuses, a freeze that hangs (and answers late), calls
 * serialized, and a socket with no agent behind it.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { GuestAgentClient } from '../../../../../appliance/drivers/qemu/qmp/index.ts'
import { join } from 'node:path'
import { tempDir, type Teardown } from '../../../../helpers/fixtures.ts'
import { fakeAgent } from '../../../../helpers/fake-guest-agent.ts'

async function connect (t: Teardown, path: string): Promise<GuestAgentClient> {
  const agent = await GuestAgentClient.connect(path, { syncTimeoutMs: 2_000 })
  t.teardown(async () => { await agent.close() })
  return agent
}

t.test('sync works through stale output; ping', async t => {
  const fake = await fakeAgent(t)
  const agent = await connect(t, fake.path)
  await agent.ping()
  t.same(fake.received, ['guest-sync-delimited', 'guest-sync-delimited', 'guest-ping'], 'a sync at connect and before every command')
})

t.test('freeze, status, thaw round trip', async t => {
  const fake = await fakeAgent(t)
  const agent = await connect(t, fake.path)
  t.equal(await agent.fsfreezeStatus(), 'thawed')
  t.equal(await agent.fsfreezeFreeze(), 2, 'the number of frozen filesystems')
  t.equal(await agent.fsfreezeStatus(), 'frozen')
  t.equal(await agent.fsfreezeThaw(), 2)
  t.equal(await agent.fsfreezeStatus(), 'thawed')
  t.equal(await agent.fsfreezeThaw(), 0, 'thawing a thawed guest is harmless')
})

t.test('a freeze the agent refuses: APP_AGENT_ERROR with class and desc; the client stays usable', async t => {
  const fake = await fakeAgent(t, { freeze: 'error' })
  const agent = await connect(t, fake.path)
  await t.rejects(agent.fsfreezeFreeze(), { code: AppErrorCode.APP_AGENT_ERROR, details: { command: 'guest-fsfreeze-freeze', class: 'GenericError', desc: /Device or resource busy/ } })
  await t.rejects(agent.execute('guest-no-such'), { code: AppErrorCode.APP_AGENT_ERROR, details: { class: 'CommandNotFound' } })
  t.equal(await agent.fsfreezeStatus(), 'thawed')
})

t.test('a hanging freeze: APP_AGENT_TIMEOUT; its late answer is skipped by the next sync and thaw works', async t => {
  const fake = await fakeAgent(t, { freeze: 'hang' })
  const agent = await connect(t, fake.path)
  await t.rejects(agent.fsfreezeFreeze({ timeoutMs: 200 }), { code: AppErrorCode.APP_AGENT_TIMEOUT })
  t.equal(await agent.fsfreezeStatus(), 'frozen', 'the late freeze reply was not taken for the status')
  t.equal(await agent.fsfreezeThaw(), 2)
})

t.test('concurrent calls are serialized: one command at a time, each gets its own answer', async t => {
  const fake = await fakeAgent(t)
  const agent = await connect(t, fake.path)
  const results = await Promise.all([agent.fsfreezeStatus(), agent.fsfreezeFreeze(), agent.fsfreezeStatus(), agent.ping(), agent.fsfreezeThaw(), agent.fsfreezeStatus()])
  t.same(results, ['thawed', 2, 'frozen', undefined, 2, 'thawed'])
  t.equal(fake.overlapped, false, 'the agent never saw a command while another was unanswered')
})

t.test('a call queued behind a hanging one times out without being sent', async t => {
  const fake = await fakeAgent(t, { freeze: 'hang' })
  const agent = await connect(t, fake.path)
  const freeze = agent.fsfreezeFreeze({ timeoutMs: 500 })
  const queued = agent.ping({ timeoutMs: 100 })
  await t.rejects(queued, { code: AppErrorCode.APP_AGENT_TIMEOUT })
  await t.rejects(freeze, { code: AppErrorCode.APP_AGENT_TIMEOUT })
  t.notOk(fake.received.includes('guest-ping'), 'the ping was never sent')
  await agent.ping()
})

t.test('a socket that accepts with no agent behind it: APP_AGENT_UNAVAILABLE', async t => {
  const fake = await fakeAgent(t, { silent: true })
  await t.rejects(GuestAgentClient.connect(fake.path, { syncTimeoutMs: 200 }), { code: AppErrorCode.APP_AGENT_UNAVAILABLE })
})

t.test('no socket, or the agent socket closing: APP_AGENT_UNAVAILABLE', async t => {
  await t.rejects(GuestAgentClient.connect(join(await tempDir(t), 'absent.sock')), { code: AppErrorCode.APP_AGENT_UNAVAILABLE })
  const fake = await fakeAgent(t, { freeze: 'hang' })
  const agent = await connect(t, fake.path)
  const freeze = agent.fsfreezeFreeze({ timeoutMs: 60_000 })
  const closing = agent.close()
  await t.rejects(freeze, { code: AppErrorCode.APP_AGENT_UNAVAILABLE })
  await closing
  t.equal(await agent.closed, undefined, 'closed by its owner')
  await t.rejects(agent.ping(), { code: AppErrorCode.APP_AGENT_UNAVAILABLE })
})
