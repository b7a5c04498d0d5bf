/**
 * Writes a VM-like image (vm-image.ts) in its own process, so that the
 * generator's buffers never count in the benchmark process's peak memory:
 *   npx node test/bench/make-image.ts <path> <bytes> <seed>
 */
import { makePools, planRegions, writeImage } from './vm-image.ts'

const [path, bytes, seed] = process.argv.slice(2)
if (path === undefined || bytes === undefined || seed === undefined) {
  process.stderr.write('usage: make-image.ts <path> <bytes> <seed>\n')
  process.exit(2)
}
await writeImage(path, planRegions(Number(bytes), Number(seed)), makePools(Number(seed)))
