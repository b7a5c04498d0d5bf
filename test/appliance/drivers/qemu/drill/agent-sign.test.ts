/**
 * waitForAgent: resolves once guest-ping is answered (a fake
 * qemu-guest-agent on a real socket); tries again after failed attempts
 * (no socket, no sync reply, a ping error), closing every connection it
 * opened; ends only by CORE_ABORTED, also in the middle of an attempt.
 */
import t from 'tap'
import { join } from 'node:path'
import { CoreErrorCode } from '../../../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../../../../appliance/errors.ts'
import { waitForAgent, type AgentPing } from '../../../../../appliance/drivers/qemu/drill/index.ts'
import { fakeAgent } from '../../../../helpers/fake-guest-agent.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'

const never = new AbortController().signal

t.test('a running agent answers at once', async t => {
  const fake = await fakeAgent(t)
  await waitForAgent(fake.path, { signal: never })
  t.ok(fake.received.includes('guest-ping'))
})

t.test('failed attempts are tried again, and each connection is closed', async t => {
  const script: Array<'no-socket' | 'ping-fails' | 'ok'> = ['no-socket', 'no-socket', 'ping-fails', 'ok']
  let attempts = 0
  let open = 0
  const connect = async (): Promise<AgentPing> => {
    const step = script[attempts++]!
    if (step === 'no-socket') throw new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'no socket')
    open++
    return {
      ping: async () => { if (step === 'ping-fails') throw new AppError(AppErrorCode.APP_AGENT_TIMEOUT, 'no answer') },
      close: async () => { open-- }
    }
  }
  await waitForAgent('/unused.sock', { signal: never, connect, retryMs: 1 })
  t.equal(attempts, 4, 'until the ping was answered')
  t.equal(open, 0, 'every connection closed')
})

t.test('only an abort ends the wait', async t => {
  const ac = new AbortController()
  let attempts = 0
  const waiting = waitForAgent(join(await tempDir(t), 'none.sock'), {
    signal: ac.signal,
    retryMs: 1,
    connect: async () => {
      if (++attempts === 3) ac.abort()
      throw new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'no socket')
    }
  })
  await t.rejects(waiting, { code: CoreErrorCode.CORE_ABORTED })
  t.equal(attempts, 3)
})

t.test('an abort in the middle of an attempt (an agent that never answers the sync)', async t => {
  const fake = await fakeAgent(t, { silent: true })
  const ac = new AbortController()
  const waiting = waitForAgent(fake.path, { signal: ac.signal })
  setImmediate(() => { ac.abort() })
  await t.rejects(waiting, { code: CoreErrorCode.CORE_ABORTED })
})
