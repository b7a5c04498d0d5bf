/**
 * Per-block compression on the VM-like image (docs/compression.md):
 *   npx node test/bench/compression-bench.ts
 *
 * Compresses every non-zero block of a generated image (in memory, no file)
 * with zstd level 1 and level 3 (zstd-napi, one reused context, one thread,
 * the way the scan workers do) and applies the store-raw rule
 * (MIN_COMPRESSION_SAVING); zero blocks are never stored, so they cost
 * nothing with any codec. Reports ratio and MB/s, per kind of data too, and
 * what other store-raw thresholds would give. Timings are medians of
 * TANDEM_BENCH_RUNS passes (default 3). TANDEM_BENCH_GIB sets the sample
 * (default 1), TANDEM_BENCH_BLOCK_KIB the block size (default the engine's).
 */
import binding from 'zstd-napi/binding.js'
import { DEFAULT_BLOCK_SIZE, MIN_COMPRESSION_SAVING } from '../../core/index.ts'
import { isZero } from '../../core/hash.ts'
import { GIB, KIB, MIB, envNumber, median, note, round } from './measure.ts'
import { KINDS, imageChunks, makePools, planRegions, type RegionKind } from './vm-image.ts'

const SAMPLE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 1) * GIB / MIB) * MIB
const BLOCK = Math.round(envNumber('TANDEM_BENCH_BLOCK_KIB', DEFAULT_BLOCK_SIZE / KIB)) * KIB
const RUNS = Math.max(1, Math.round(envNumber('TANDEM_BENCH_RUNS', 3)))
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const LEVELS = [1, 3] as const
/** Store-raw thresholds compared with the engine's (fraction of the block a compressed copy must save). */
const THRESHOLDS = [0, MIN_COMPRESSION_SAVING, 1 / 8]

interface Block { kind: RegionKind, data: Buffer }

function sample (): { blocks: Block[], zeroBytes: number } {
  const blocks: Block[] = []
  let zeroBytes = 0
  for (const chunk of imageChunks(planRegions(SAMPLE_BYTES, SEED), makePools(SEED))) {
    for (let at = 0; at < chunk.data.byteLength; at += BLOCK) {
      const data = chunk.data.subarray(at, Math.min(at + BLOCK, chunk.data.byteLength))
      if (isZero(data)) zeroBytes += data.byteLength
      else blocks.push({ kind: chunk.kind, data })
    }
  }
  return { blocks, zeroBytes }
}

interface Pass { seconds: number, packed: number[], secondsByKind: Map<RegionKind, number> }

/** One timed pass compressing every block; returns the compressed sizes and time spent per kind. */
function compressPass (cctx: InstanceType<typeof binding.CCtx>, blocks: Block[], dest: Buffer): Pass {
  const packed = new Array<number>(blocks.length)
  const secondsByKind = new Map<RegionKind, number>()
  const t0 = performance.now()
  let last = t0
  for (let i = 0; i < blocks.length; i++) {
    packed[i] = cctx.compress2(dest, blocks[i]!.data)
    const now = performance.now()
    secondsByKind.set(blocks[i]!.kind, (secondsByKind.get(blocks[i]!.kind) ?? 0) + (now - last) / 1000)
    last = now
  }
  return { seconds: (performance.now() - t0) / 1000, packed, secondsByKind }
}

function main (): void {
  note(`building a ${SAMPLE_BYTES / GIB} GiB VM-like sample in memory, ${BLOCK / KIB} KiB blocks`)
  const { blocks, zeroBytes } = sample()
  const nonZero = blocks.reduce((n, b) => n + b.data.byteLength, 0)
  const dest = Buffer.allocUnsafe(binding.compressBound(BLOCK))
  const rows: Array<Record<string, unknown>> = []
  const results: Record<string, unknown> = {}

  for (const level of LEVELS) {
    const cctx = new binding.CCtx()
    cctx.setParameter(binding.CParameter.compressionLevel, level)
    compressPass(cctx, blocks.slice(0, 256), dest) // warm-up
    const passes: Pass[] = []
    for (let r = 0; r < RUNS; r++) { passes.push(compressPass(cctx, blocks, dest)); note(`level ${level} pass ${r + 1}: ${(nonZero / passes.at(-1)!.seconds / 1e6).toFixed(0)} MB/s`) }
    const packed = passes[0]!.packed

    // What the store keeps under each threshold, and how fast it decodes.
    const byThreshold = THRESHOLDS.map(th => {
      let stored = 0
      let raw = 0
      for (let i = 0; i < blocks.length; i++) {
        const len = blocks[i]!.data.byteLength
        if (packed[i]! > len * (1 - th)) { stored += len; raw++ } else stored += packed[i]!
      }
      return { threshold: th, stored, rawBlocks: raw }
    })
    const engine = byThreshold.find(x => x.threshold === MIN_COMPRESSION_SAVING)!

    // Decompression of the blocks kept compressed (raw blocks need no decoding).
    const frames: Buffer[] = []
    for (let i = 0; i < blocks.length; i++) {
      const len = blocks[i]!.data.byteLength
      if (packed[i]! <= len * (1 - MIN_COMPRESSION_SAVING)) frames.push(Buffer.from(dest.subarray(0, cctx.compress2(dest, blocks[i]!.data))))
    }
    const dctx = new binding.DCtx()
    const out = Buffer.allocUnsafe(BLOCK)
    const decodeSeconds: number[] = []
    let decoded = 0
    for (let r = 0; r < RUNS; r++) {
      decoded = 0
      const t0 = performance.now()
      for (const f of frames) decoded += dctx.decompress(out, f)
      decodeSeconds.push((performance.now() - t0) / 1000)
    }

    const perKind: Record<string, number> = {}
    const perKindMbps: Record<string, number> = {}
    for (const k of KINDS) {
      let raw = 0
      let stored = 0
      for (let i = 0; i < blocks.length; i++) {
        if (blocks[i]!.kind !== k) continue
        const len = blocks[i]!.data.byteLength
        raw += len
        stored += packed[i]! > len * (1 - MIN_COMPRESSION_SAVING) ? len : packed[i]!
      }
      if (raw > 0) {
        perKind[k] = round(raw / stored, 2)
        perKindMbps[k] = round(raw / median(passes.map(p => p.secondsByKind.get(k) ?? 0)) / 1e6, 0)
      }
    }
    const row = {
      codec: `zstd ${level}`,
      ratio_nonzero: round(nonZero / engine.stored, 3),
      ratio_image: round(SAMPLE_BYTES / engine.stored, 3),
      compress_mbps: round(nonZero / median(passes.map(p => p.seconds)) / 1e6, 0),
      decompress_mbps: round(decoded / median(decodeSeconds) / 1e6, 0),
      raw_blocks_pct: round(100 * engine.rawBlocks / blocks.length, 1),
      per_kind_ratio: perKind,
      per_kind_compress_mbps: perKindMbps,
      thresholds: byThreshold.map(x => ({ min_saving: round(x.threshold, 4), stored_bytes: x.stored, raw_blocks_pct: round(100 * x.rawBlocks / blocks.length, 1) }))
    }
    rows.push(row)
    results[`zstd${level}`] = row
  }

  // Raw: only zero blocks are skipped; "decoding" is a copy.
  const copySeconds: number[] = []
  const out = Buffer.allocUnsafe(BLOCK)
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now()
    for (const b of blocks) b.data.copy(out)
    copySeconds.push((performance.now() - t0) / 1000)
  }
  const rawRow = { codec: 'raw', ratio_nonzero: 1, ratio_image: round(SAMPLE_BYTES / nonZero, 3), compress_mbps: null, decompress_mbps: round(nonZero / median(copySeconds) / 1e6, 0), raw_blocks_pct: 100 }
  rows.unshift(rawRow)
  results.raw = rawRow

  console.log(`per-block compression, ${BLOCK / KIB} KiB blocks, ${SAMPLE_BYTES / GIB} GiB VM-like sample (${round(100 * zeroBytes / SAMPLE_BYTES, 1)}% zero blocks, never stored), one thread`)
  console.log('codec     ratio(non-zero)  ratio(image)  compress MB/s  decompress MB/s  blocks kept raw')
  for (const r of rows) {
    console.log(`${String(r.codec).padEnd(9)} ${String(r.ratio_nonzero).padStart(15)} ${String(r.ratio_image).padStart(13)} ${String(r.compress_mbps ?? '-').padStart(14)} ${String(r.decompress_mbps).padStart(16)} ${String(r.raw_blocks_pct).padStart(15)}%`)
  }
  for (const level of LEVELS) {
    const r = results[`zstd${level}`] as { per_kind_ratio: Record<string, number>, per_kind_compress_mbps: Record<string, number>, thresholds: Array<{ min_saving: number, stored_bytes: number, raw_blocks_pct: number }> }
    console.log(`zstd ${level} per kind, ratio @ compress MB/s: ${Object.entries(r.per_kind_ratio).map(([k, v]) => `${k} ${v} @ ${r.per_kind_compress_mbps[k]}`).join(', ')}`)
    console.log(`zstd ${level} store-raw threshold: ${r.thresholds.map(t => `saving >= ${t.min_saving}: ${(t.stored_bytes / 1e6).toFixed(1)} MB, ${t.raw_blocks_pct}% raw`).join('; ')}`)
  }
  const sweep = mixedSweep(blocks)
  console.log('blocks mixing random and text pages (zstd 1): where the store-raw rule starts to apply')
  console.log('random pages  saving   stored as  zstd decode MB/s')
  for (const m of sweep) console.log(`${String(m.random_pages).padStart(5)}/${BLOCK / 4096}  ${(100 * m.saving).toFixed(1).padStart(7)}%  ${m.stored_as.padStart(9)}  ${String(m.zstd_decode_mbps).padStart(16)}`)
  console.log(JSON.stringify({ block_size: BLOCK, sample_bytes: SAMPLE_BYTES, zero_bytes: zeroBytes, nonzero_bytes: nonZero, min_compression_saving: MIN_COMPRESSION_SAVING, ...results, mixed_sweep: sweep, node: process.version, date: new Date().toISOString() }))
}

/**
 * Blocks made of 4 KiB pages, some random (say, a compressed file) and the
 * rest text (its neighbour in the filesystem): the saving zstd 1 gets as the
 * random share grows, whether the store keeps the block compressed, and how
 * fast such a block decodes (what the rule trades against a few % of space).
 */
function mixedSweep (blocks: Block[]): Array<{ random_pages: number, saving: number, stored_as: string, zstd_decode_mbps: number }> {
  const pages = BLOCK / 4096
  const text = blocks.filter(b => b.kind === 'text').slice(0, 64)
  const random = blocks.filter(b => b.kind === 'random').slice(0, 64)
  if (pages < 2 || text.length === 0 || random.length === 0) return []
  const cctx = new binding.CCtx()
  cctx.setParameter(binding.CParameter.compressionLevel, 1)
  const dctx = new binding.DCtx()
  const dest = Buffer.allocUnsafe(binding.compressBound(BLOCK))
  const out = Buffer.allocUnsafe(BLOCK)
  const steps = [...new Set([0, pages / 4, pages / 2, (3 * pages) / 4, pages - 2, pages - 1, pages].map(Math.round))]
  return steps.map(k => {
    const built = text.map((t, i) => {
      const b = Buffer.from(t.data)
      for (let p = 0; p < k; p++) random[i % random.length]!.data.copy(b, p * 4096, p * 4096, (p + 1) * 4096)
      return b
    })
    let packed = 0
    const frames = built.map(b => { const n = cctx.compress2(dest, b); packed += n; return Buffer.from(dest.subarray(0, n)) })
    const saving = 1 - packed / (built.length * BLOCK)
    const compressed = saving >= MIN_COMPRESSION_SAVING
    // Decode speed of the zstd frames, kept or not: what a kept frame would cost to read back.
    const rounds = 50
    const t0 = performance.now()
    for (let r = 0; r < rounds; r++) for (const f of frames) dctx.decompress(out, f)
    const decodeMbps = round(rounds * built.length * BLOCK / ((performance.now() - t0) / 1000) / 1e6, 0)
    return { random_pages: k, saving: round(saving, 4), stored_as: compressed ? 'zstd' : 'raw', zstd_decode_mbps: decodeMbps }
  })
}

main()
