/**
 * Frame codec: literal encodings, any chunking of the byte stream gives the
 * same frames, hostile lengths fail before buffering, and a fuzz run of
 * random and mutated streams never throws anything but a FrameError.
 */
import t from 'tap'
import { encodeFrame, FrameDecoder, FrameError } from '../../p2p/wire/frame.ts'
import { prng, testSeed } from '../helpers/fixtures.ts'

const MAX = 1024

t.test('literal encoding', async t => {
  t.same([...encodeFrame(Uint8Array.from([7, 8, 9]), MAX)], [0, 0, 0, 3, 7, 8, 9])
  t.throws(() => encodeFrame(new Uint8Array(0), MAX), TypeError)
  t.throws(() => encodeFrame(new Uint8Array(MAX + 1), MAX), TypeError)
})

t.test('any chunking yields the same payloads', async t => {
  const rnd = prng(42)
  const payloads = Array.from({ length: 50 }, (_, i) => Uint8Array.from({ length: 1 + Math.floor(rnd() * MAX) }, (_, j) => (i + j) & 0xff))
  const stream = Buffer.concat(payloads.map(p => encodeFrame(p, MAX)))
  for (const chunkSize of [1, 3, 4, 5, 1000, stream.byteLength]) {
    const d = new FrameDecoder(MAX)
    const got: Uint8Array[] = []
    for (let at = 0; at < stream.byteLength; at += chunkSize) got.push(...d.push(stream.subarray(at, at + chunkSize)))
    t.equal(got.length, payloads.length, `chunks of ${chunkSize}`)
    t.ok(got.every((p, i) => Buffer.from(p).equals(Buffer.from(payloads[i]!))), 'payloads intact')
    t.equal(d.buffered, 0)
  }
})

t.test('hostile lengths fail at the header, and the decoder stays failed', async t => {
  const d = new FrameDecoder(MAX)
  t.throws(() => d.push(Uint8Array.from([0xff, 0xff, 0xff, 0xff])), { code: 'P2P_FRAME_TOO_LARGE' })
  t.equal(d.buffered, 0, 'nothing buffered for it')
  t.throws(() => d.push(encodeFrame(Uint8Array.from([1]), MAX)), { code: 'P2P_FRAME_TOO_LARGE' }, 'still failed')
  t.throws(() => new FrameDecoder(MAX).push(Uint8Array.from([0, 0, 0, 0])), { code: 'P2P_FRAME_EMPTY' })
  const slow = new FrameDecoder(MAX)
  t.same(slow.push(Uint8Array.from([0, 0, 4])), [], 'a partial header waits')
  t.throws(() => slow.push(Uint8Array.from([1])), { code: 'P2P_FRAME_TOO_LARGE' }, 'and is judged when whole')
})

t.test('fuzz: random and mutated streams only ever raise FrameError', async t => {
  const seed = testSeed(t)
  const rnd = prng(seed)
  const good = Buffer.concat(Array.from({ length: 20 }, () => encodeFrame(Uint8Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => rnd() * 256), MAX)))
  let frames = 0
  let errors = 0
  for (let round = 0; round < 2000; round++) {
    const input = round % 2 === 0
      ? Uint8Array.from({ length: Math.floor(rnd() * 2000) }, () => rnd() * 256)
      : Uint8Array.from(good).map(b => rnd() < 0.01 ? Math.floor(rnd() * 256) : b)
    const d = new FrameDecoder(MAX)
    try {
      for (let at = 0; at < input.byteLength;) {
        const n = 1 + Math.floor(rnd() * 64)
        for (const f of d.push(input.subarray(at, at + n))) {
          if (f.byteLength < 1 || f.byteLength > MAX) throw new Error(`seed ${seed}: frame of ${f.byteLength} bytes let through`)
          frames++
        }
        at += n
      }
      if (d.buffered > MAX + 4) throw new Error(`seed ${seed}: ${d.buffered} bytes buffered`)
    } catch (err) {
      if (!(err instanceof FrameError)) throw err
      errors++
    }
  }
  t.ok(frames > 0 && errors > 0, `${frames} frames decoded, ${errors} streams rejected`)
})
