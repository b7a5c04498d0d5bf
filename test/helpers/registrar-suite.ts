/**
 * The compliance suite of RelationshipRegistrar (p2p/relationship/registrar.ts,
 * docs/relationship-protocol.md "What the Replica does with a request"):
 * every implementation (the in-memory reference in the p2p tests, the
 * appliance's persisted one) runs it. It observes only through the
 * interface: what is accepted, and which code a refusal carries.
 */
import type { Test } from 'tap'
import type { RelationshipDescription, RelationshipRegistrar } from '../../p2p/relationship/index.ts'
import { sampleDescription } from '../p2p/fixtures/relationship.ts'

const A = '12D3KooWPrimaryA'
const B = '12D3KooWPrimaryB'

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'accepted'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

/** Runs the suite; `make` gives a fresh, empty registrar for each subtest. */
export function registrarSuite (t: Test, make: (t: Test) => Promise<RelationshipRegistrar>): void {
  const signal = new AbortController().signal
  const desc = (over: Partial<RelationshipDescription> = {}): RelationshipDescription => sampleDescription(over)

  t.test('offer, then the same offer again: both accepted (idempotent)', async t => {
    const r = await make(t)
    t.equal(await codeOf(r.offer(A, desc(), signal)), 'accepted')
    t.equal(await codeOf(r.offer(A, desc(), signal)), 'accepted')
    t.equal(await codeOf(r.update(A, desc(), signal)), 'accepted', 'the relationship is held')
  })

  t.test('a relationship id held for another peer: refused, and it stays the other\'s', async t => {
    const r = await make(t)
    await r.offer(A, desc(), signal)
    t.equal(await codeOf(r.offer(B, desc({ vm: { ...desc().vm, name: 'other-vm' } }), signal)), 'P2P_RELATIONSHIP_REFUSED')
    t.equal(await codeOf(r.update(B, desc(), signal)), 'P2P_RELATIONSHIP_UNKNOWN', 'another peer cannot update it')
    t.equal(await codeOf(r.remove(B, { relationship: 'web-1', term: 9 }, signal)), 'P2P_RELATIONSHIP_UNKNOWN', 'nor remove it')
    t.equal(await codeOf(r.update(A, desc(), signal)), 'accepted', 'it is still the first peer\'s')
  })

  t.test('a VM name this box protects under another relationship: refused', async t => {
    const r = await make(t)
    await r.offer(A, desc(), signal)
    t.equal(await codeOf(r.offer(B, desc({ relationship: 'web-2' }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'from another peer')
    t.equal(await codeOf(r.offer(A, desc({ relationship: 'web-2' }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'from the same peer')
    t.equal(await codeOf(r.update(A, desc({ vm: { ...desc().vm, name: 'renamed' } }), signal)), 'accepted', 'its own relationship may rename it')
  })

  t.test('terms: a lower one is stale, an equal or higher one is taken', async t => {
    const r = await make(t)
    await r.offer(A, desc({ term: 5 }), signal)
    t.equal(await codeOf(r.offer(A, desc({ term: 4 }), signal)), 'P2P_STALE_TERM', 'offer')
    t.equal(await codeOf(r.update(A, desc({ term: 4, suspended: true }), signal)), 'P2P_STALE_TERM', 'update')
    t.equal(await codeOf(r.remove(A, { relationship: 'web-1', term: 4 }, signal)), 'P2P_STALE_TERM', 'remove')
    t.equal(await codeOf(r.update(A, desc({ term: 5, suspended: true }), signal)), 'accepted', 'an equal term with other settings')
    t.equal(await codeOf(r.update(A, desc({ term: 6 }), signal)), 'accepted', 'a raised term')
    t.equal(await codeOf(r.update(A, desc({ term: 5 }), signal)), 'P2P_STALE_TERM', 'the raised term is now the one held')
  })

  t.test('update and remove of a relationship not held: P2P_RELATIONSHIP_UNKNOWN', async t => {
    const r = await make(t)
    t.equal(await codeOf(r.update(A, desc(), signal)), 'P2P_RELATIONSHIP_UNKNOWN')
    t.equal(await codeOf(r.remove(A, { relationship: 'web-1', term: 1 }, signal)), 'P2P_RELATIONSHIP_UNKNOWN')
  })

  t.test('remove forgets the relationship and frees its id and VM name', async t => {
    const r = await make(t)
    await r.offer(A, desc(), signal)
    t.equal(await codeOf(r.remove(A, { relationship: 'web-1', term: 1 }, signal)), 'accepted')
    t.equal(await codeOf(r.remove(A, { relationship: 'web-1', term: 1 }, signal)), 'P2P_RELATIONSHIP_UNKNOWN', 'a second removal: already gone')
    t.equal(await codeOf(r.update(A, desc(), signal)), 'P2P_RELATIONSHIP_UNKNOWN')
    t.equal(await codeOf(r.offer(B, desc(), signal)), 'accepted', 'another peer may now take the id and the name')
  })
}
