/**
 * Two Tandem boxes on loopback for the replication suites: real libp2p
 * nodes (TCP, Noise, yamux) with the admission gater, a Replica that
 * serves the replication protocol into real core stores, and a primary
 * that can dial it.
 */
import { join } from 'node:path'
import type { PeerId, Stream } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater, type AdmissionPolicy } from '../../p2p/gater/index.ts'
import { ReplicationReceiver, type SessionEvent } from '../../p2p/replication/index.ts'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { RecoveryPointStore } from '../../core/store/index.ts'
import type { Teardown } from './fixtures.ts'

export class TestPolicy implements AdmissionPolicy {
  readonly paired = new Set<string>()
  window = false
  isPaired (peer: PeerId): boolean { return this.paired.has(peer.toString()) }
  pairingWindowOpen (): boolean { return this.window }
}

export async function startNode (t: Teardown, keyFile: string, policy?: AdmissionPolicy): Promise<TandemNode> {
  const node = await createTandemNode({
    privateKey: await loadOrCreateIdentity(keyFile),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    ...(policy === undefined ? {} : { gater: admissionGater(policy) })
  })
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

export function loopbackAddress (node: TandemNode): Multiaddr {
  return multiaddr(node.getMultiaddrs().find(m => m.toString().includes('/127.0.0.1/'))!.toString())
}

/** A protocol handler that sends back what it reads. */
export async function echo (stream: Stream): Promise<void> {
  for await (const chunk of stream) stream.send(chunk.subarray())
  await stream.close()
}

/** Opens `protocol` on `to` from `from`, sends one byte; resolves 'echoed', or the error's code or name. */
export async function tryProtocol (from: TandemNode, to: TandemNode, protocol: string, timeoutMs = 5000): Promise<string> {
  try {
    const stream = await from.dialProtocol(loopbackAddress(to), protocol, { signal: AbortSignal.timeout(timeoutMs) })
    stream.send(Uint8Array.from([42]))
    await stream.close()
    const got: number[] = []
    for await (const chunk of stream) got.push(...chunk.subarray())
    return got.length === 1 && got[0] === 42 ? 'echoed' : `got ${got.length} bytes`
  } catch (err) {
    return (err as { code?: string, name?: string }).code ?? (err as Error).name
  }
}

export interface ReplicaBox {
  node: TandemNode
  policy: TestPolicy
  sink: StoreReplicaSink
  receiver: ReplicationReceiver
  address: Multiaddr
  /** Every session's end, in order. */
  sessions: SessionEvent[]
  /** Waits for the next session end. */
  nextSession: () => Promise<SessionEvent>
  /** Waits until `n` sessions have ended; resolves with the n-th. */
  session: (n: number) => Promise<SessionEvent>
  /** Opens the replica store of a peer's relationship (close it before the next session). */
  openStore: (peer: string, relationship: string) => Promise<RecoveryPointStore>
}

export async function startReplica (t: Teardown, dir: string, options: { credit?: number } = {}): Promise<ReplicaBox> {
  const policy = new TestPolicy()
  const node = await startNode(t, join(dir, 'replica.key'), policy)
  const sink = new StoreReplicaSink({ dir: join(dir, 'replicas'), retention: { additional: 100, intervalMs: 0 } })
  const sessions: SessionEvent[] = []
  let waiters: Array<(e: SessionEvent) => void> = []
  const receiver = new ReplicationReceiver({
    node,
    policy,
    sink,
    credit: options.credit,
    onSession: e => {
      sessions.push(e)
      const w = waiters
      waiters = []
      for (const f of w) f(e)
    }
  })
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  const session = async (n: number): Promise<SessionEvent> => {
    while (sessions.length < n) await new Promise(resolve => { waiters.push(resolve) })
    return sessions[n - 1]!
  }
  return {
    node,
    policy,
    sink,
    receiver,
    address: loopbackAddress(node),
    sessions,
    nextSession: async () => await session(sessions.length + 1),
    session,
    openStore: async (peer, relationship) => await RecoveryPointStore.open(sink.replicaDir(peer, relationship))
  }
}
