/**
 * Admission on real libp2p nodes over loopback: a stranger (valid Noise, not
 * paired) is cut off at the handshake; during a pairing window it gets in but
 * can open nothing but the pairing protocol; a paired peer opens anything.
 */
import t from 'tap'
import { join } from 'node:path'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater, pairedOnly } from '../../p2p/gater/index.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { echo, TestPolicy, tryProtocol } from '../helpers/boxes.ts'

const PAIRING = '/tandem/test-pairing/1'
const REPLICATION = '/tandem/test-replication/1'

t.test('strangers, pairing windows and paired peers', async t => {
  const dir = await tempDir(t)
  const policy = new TestPolicy()
  const keys = await Promise.all(['box', 'partner', 'stranger'].map(async n => await loadOrCreateIdentity(join(dir, `${n}.key`))))
  const box = await createTandemNode({ privateKey: keys[0]!, listen: ['/ip4/127.0.0.1/tcp/0'], gater: admissionGater(policy) })
  const partner = await createTandemNode({ privateKey: keys[1]!, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const stranger = await createTandemNode({ privateKey: keys[2]!, listen: ['/ip4/127.0.0.1/tcp/0'] })
  for (const n of [box, partner, stranger]) await n.start()
  t.teardown(async () => { for (const n of [box, partner, stranger]) await n.stop() })
  await box.handle(PAIRING, echo)
  await box.handle(REPLICATION, pairedOnly(policy, echo))
  policy.paired.add(partner.peerId.toString())

  const refused = await tryProtocol(stranger, box, REPLICATION)
  t.comment(`stranger -> replication: ${refused}`)
  t.not(refused, 'echoed', 'a stranger cannot open replication')
  t.not(await tryProtocol(stranger, box, PAIRING), 'echoed', 'nor pairing while no window is open')
  t.equal(box.getConnections(stranger.peerId).length, 0, 'the stranger holds no connection: cut off at the handshake')

  t.equal(await tryProtocol(partner, box, REPLICATION), 'echoed', 'a paired peer opens replication')

  policy.window = true
  t.equal(await tryProtocol(stranger, box, PAIRING), 'echoed', 'during a window an unknown peer reaches pairing')
  const inWindow = await tryProtocol(stranger, box, REPLICATION)
  t.comment(`stranger in a window -> replication: ${inWindow}`)
  t.not(inWindow, 'echoed', 'but still not replication')
  policy.window = false
})
