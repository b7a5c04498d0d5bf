/** `tandem points --store <dir>`: the recovery points a store holds, oldest first. Read-only. */
import { Command } from 'commander'
import type { RecoveryPoint } from '../../core/index.ts'
import { jsonOption, storeOption } from './common-options.ts'
import { formatBytes, plural, pointJson, pointLine, type PointJson } from './format.ts'
import { withSession } from './session.ts'

interface PointsOptions {
  store: string
  json?: boolean
}

/** The `--json` document of `points`. */
interface PointsJson {
  store: string
  blockSize: number
  points: PointJson[]
}

export function pointsCommand (): Command {
  return new Command('points')
    .description('list the recovery points of a store, oldest first')
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (opts: PointsOptions) => {
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: false })
        const points = await store.listPoints()
        const doc: PointsJson = { store: store.dir, blockSize: store.blockSize, points: points.map(pointJson) }
        session.output(doc, d => pointsText(d, points))
      })
    })
}

function pointsText (doc: PointsJson, points: RecoveryPoint[]): string {
  const head = `store ${doc.store}: ${formatBytes(doc.blockSize)} blocks, ${plural(points.length, 'recovery point')}`
  return [head, ...points.map(p => `  ${pointLine(p)}`)].join('\n')
}
