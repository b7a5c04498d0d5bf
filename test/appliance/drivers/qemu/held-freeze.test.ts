/**
 * holdFreeze: one guest freeze across the points of all of a VM's disks.
 * Against the fake guest agent on a real socket: the disks' freezes make
 * one guest-fsfreeze-freeze, their thaws none, and the final thaw one
 * guest-fsfreeze-thaw; a refused freeze is still followed by a thaw.
 */
import t from 'tap'
import { holdFreeze } from '../../../../appliance/drivers/qemu/held-freeze.ts'
import { GuestAgentClient } from '../../../../appliance/drivers/qemu/qmp/guest-agent-client.ts'
import { fakeAgent } from '../../../helpers/fake-guest-agent.ts'

const count = (received: string[], command: string): number => received.filter(c => c === command).length

t.test('one freeze and one thaw for every disk', async t => {
  const fake = await fakeAgent(t)
  const client = await GuestAgentClient.connect(fake.path)
  t.teardown(async () => { await client.close() })
  const held = holdFreeze(client)
  const counts = await Promise.all([held.agent.fsfreezeFreeze(), held.agent.fsfreezeFreeze()])
  t.equal(counts[0], counts[1], 'every disk sees the one freeze')
  await held.agent.fsfreezeThaw()
  t.ok(fake.frozen, 'a disk\'s thaw leaves the guest frozen for the next disk')
  t.equal(await held.thaw(), undefined, 'the final thaw works')
  t.notOk(fake.frozen, 'the guest is thawed')
  t.equal(count(fake.received, 'guest-fsfreeze-freeze'), 1)
  t.equal(count(fake.received, 'guest-fsfreeze-thaw'), 1)
})

t.test('a refused freeze is thawed anyway; nothing frozen, nothing thawed', async t => {
  const fake = await fakeAgent(t, { freeze: 'error' })
  const client = await GuestAgentClient.connect(fake.path)
  t.teardown(async () => { await client.close() })
  const held = holdFreeze(client)
  await t.rejects(held.agent.fsfreezeFreeze())
  await t.rejects(held.agent.fsfreezeFreeze(), 'the next disk sees the same failure')
  t.equal(await held.thaw(), undefined)
  t.equal(count(fake.received, 'guest-fsfreeze-freeze'), 1)
  t.equal(count(fake.received, 'guest-fsfreeze-thaw'), 1, 'thawed: a failed freeze may have frozen part of the guest')

  const idle = holdFreeze(client)
  t.equal(await idle.thaw(), undefined)
  t.equal(count(fake.received, 'guest-fsfreeze-thaw'), 1, 'no freeze, no thaw')
})
