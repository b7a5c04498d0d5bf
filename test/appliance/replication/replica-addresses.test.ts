/**
 * The Replica's addresses kept with the primary's state: recorded from the
 * node's peer store once it reached the Replica, given back to a node that
 * knows none (a restarted daemon), so that a dial by peer id reaches it; a
 * damaged file is only a lost hint.
 */
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  learnReplicaAddresses, readReplicaAddresses, rememberReplicaAddresses, restoreReplicaAddresses, REPLICA_ADDRESSES_FILE
} from '../../../appliance/replication/replica-addresses.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { startNode } from '../../helpers/boxes.ts'

t.test('remembered after contact, restored into a node that knows nothing', async t => {
  const dir = await tempDir(t)
  const replica = await startNode(t, join(dir, 'r.key'))
  const primary = await startNode(t, join(dir, 'p.key'))
  t.same(await rememberReplicaAddresses(dir, primary, replica.peerId), [], 'nothing known, nothing written')
  t.same(await readReplicaAddresses(dir), [])

  await primary.peerStore.merge(replica.peerId, { multiaddrs: replica.getMultiaddrs() })
  const kept = await rememberReplicaAddresses(dir, primary, replica.peerId)
  t.ok(kept.length > 0)
  t.same(await readReplicaAddresses(dir), kept)

  // A restarted primary: a new node with the same state directory.
  const restarted = await startNode(t, join(dir, 'p2.key'))
  await restoreReplicaAddresses(dir, restarted, replica.peerId)
  const known = (await restarted.peerStore.get(replica.peerId)).addresses.map(a => a.multiaddr.toString()).sort()
  t.same(known, kept)
  await restarted.dial(replica.peerId)
  t.equal(restarted.getConnections(replica.peerId).length > 0, true, 'dialled by peer id')
})

t.test('a damaged file is no addresses', async t => {
  const dir = await tempDir(t)
  await writeFile(join(dir, REPLICA_ADDRESSES_FILE), '{ not json')
  t.same(await readReplicaAddresses(dir), [])
  await writeFile(join(dir, REPLICA_ADDRESSES_FILE), JSON.stringify({ version: 1, addresses: ['/ip4/127.0.0.1/tcp/1', 7, 'x'.repeat(300)] }))
  t.same(await readReplicaAddresses(dir), ['/ip4/127.0.0.1/tcp/1'], 'only addresses that can be one are kept')
  t.match(await readFile(join(dir, REPLICA_ADDRESSES_FILE), 'utf8'), /tcp/, 'reading never rewrites')
})

t.test('the addresses a new Replica named in its answer to reverse: learnt, remembered, dialled; what does not parse is skipped', async t => {
  const dir = await tempDir(t)
  const replica = await startNode(t, join(dir, 'r.key'))
  const primary = await startNode(t, join(dir, 'p.key'))
  await learnReplicaAddresses(primary, replica.peerId, ['not a multiaddr', '/nope/1', ...replica.getMultiaddrs().map(String)])
  const kept = await rememberReplicaAddresses(dir, primary, replica.peerId)
  t.same(kept, replica.getMultiaddrs().map(a => a.decapsulateCode(421).toString()).sort(), 'only the listen addresses, recorded')
  await primary.dial(replica.peerId)
  t.equal(primary.getConnections(replica.peerId).length > 0, true, 'dialled by peer id')
  await learnReplicaAddresses(primary, replica.peerId, [])
  t.same(await readReplicaAddresses(dir), kept, 'none named: nothing changes')
})
