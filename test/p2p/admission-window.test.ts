/**
 * Strangers cannot lock out the paired peer (real libp2p nodes on
 * loopback): while a pairing window is open at most
 * MAX_UNPAIRED_CONNECTIONS strangers hold a connection, the paired peer
 * still connects, and when the window closes (cancelled, or expired) every
 * stranger's connection is closed.
 */
import t from 'tap'
import { join } from 'node:path'
import { createTandemNode, loadOrCreateIdentity, MAX_CONNECTIONS, MAX_UNPAIRED_CONNECTIONS, type TandemNode } from '../../p2p/node/index.ts'
import { pairedOnly, type AdmissionPolicy } from '../../p2p/gater/index.ts'
import { PairingHost } from '../../p2p/pairing/pairing-service.ts'
import { PairingWindow } from '../../p2p/pairing/window.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { echo, loopbackAddress, tryProtocol } from '../helpers/boxes.ts'

const REPLICATION = '/tandem/test-replication/1'
/** libp2p refuses more than 5 inbound connections a second from one address (inboundConnectionThreshold): dial in groups, a second apart. */
const DIALS_PER_GROUP = 4
const GROUP_PAUSE_MS = 1100

/** `gate` set: the gater admits strangers whatever the host's window says (to connect one before a window's timer runs). */
async function setup (t: Parameters<typeof tempDir>[0], strangers: number, gate?: { open: boolean }): Promise<{ box: TandemNode, host: PairingHost, partner: TandemNode, others: TandemNode[], closed: () => Promise<number> }> {
  const dir = await tempDir(t)
  const paired = new Set<string>()
  let host: PairingHost | undefined
  const policy: AdmissionPolicy = { isPaired: p => paired.has(p.toString()), pairingWindowOpen: () => gate?.open ?? host?.window?.isOpen(Date.now()) === true }
  const node = async (name: string, withPolicy: boolean): Promise<TandemNode> => {
    const n = await createTandemNode({ privateKey: await loadOrCreateIdentity(join(dir, `${name}.key`)), listen: ['/ip4/127.0.0.1/tcp/0'], ...(withPolicy ? { policy } : {}) })
    await n.start()
    return n
  }
  const box = await node('box', true)
  const partner = await node('partner', false)
  const others: TandemNode[] = []
  for (let i = 0; i < strangers; i++) others.push(await node(`stranger-${i}`, false))
  t.teardown(async () => { for (const n of [box, partner, ...others]) await n.stop() })
  paired.add(partner.peerId.toString())
  let waiters: Array<(n: number) => void> = []
  host = new PairingHost({ node: box, me: { name: 'box', role: 'replica' }, store: { add: async () => {} }, policy, onWindowClosed: n => { const w = waiters; waiters = []; for (const f of w) f(n) } })
  await host.start()
  await box.handle(REPLICATION, pairedOnly(policy, echo))
  return { box, host, partner, others, closed: async () => await new Promise(resolve => { waiters.push(resolve) }) }
}

const strangersOn = (box: TandemNode, others: TandemNode[]): number => others.filter(o => box.getConnections(o.peerId).some(c => c.status === 'open')).length

t.test('16 strangers during a window: the paired peer still gets in; closing the window drops them', async t => {
  const { box, host, partner, others, closed } = await setup(t, MAX_CONNECTIONS)
  host.window = PairingWindow.open({ peerId: box.peerId.toString(), addresses: [], now: Date.now() })
  for (let i = 0; i < others.length; i += DIALS_PER_GROUP) {
    await Promise.all(others.slice(i, i + DIALS_PER_GROUP).map(async o => await o.dial(loopbackAddress(box), { signal: AbortSignal.timeout(5000) }).catch(() => undefined)))
    await new Promise(resolve => setTimeout(resolve, GROUP_PAUSE_MS))
  }
  const inWindow = strangersOn(box, others)
  t.comment(`${inWindow} strangers hold a connection during the window`)
  t.ok(inWindow <= MAX_UNPAIRED_CONNECTIONS, `at most ${MAX_UNPAIRED_CONNECTIONS} strangers are let in`)
  t.equal(await tryProtocol(partner, box, REPLICATION), 'echoed', 'the paired peer connects during the window')

  const dropped = closed()
  host.cancelWindow()
  t.equal(await dropped, inWindow, 'closing the window closed every stranger\'s connection')
  t.equal(strangersOn(box, others), 0, 'no stranger holds a connection')
  t.equal(await tryProtocol(partner, box, REPLICATION), 'echoed', 'the paired peer still does')
  t.not(await tryProtocol(others[0]!, box, REPLICATION), 'echoed', 'a stranger is refused again')
})

t.test('an expiring window drops the strangers too', async t => {
  // The stranger connects first (the gate stands in for an open window), so a loaded machine cannot make it miss the window.
  const gate = { open: true }
  const { box, host, others, closed } = await setup(t, 1, gate)
  const opened = new Promise(resolve => { box.addEventListener('connection:open', resolve, { once: true }) })
  await others[0]!.dial(loopbackAddress(box))
  await opened
  t.equal(strangersOn(box, others), 1, 'the stranger got in')
  const dropped = closed()
  host.window = PairingWindow.open({ peerId: box.peerId.toString(), addresses: [], now: Date.now(), durationMs: 200 })
  t.equal(await dropped, 1, 'at the window\'s expiry its connection is closed')
  t.equal(strangersOn(box, others), 0)
})
