/**
 * `tandem points`: recovery points, oldest first, in two ways on one help
 * page (docs/cli.md "points"):
 * - `tandem points NAME [--data DIR]` asks the daemon for the points of a
 *   relationship this box holds as Replica (NAME: the VM's name or the
 *   relationship id), read from its store while the daemon owns it;
 * - `tandem points --store DIR` reads a bare store (offline tool, read-only;
 *   TANDEM_STORE may name it).
 */
import { Command, Option } from 'commander'
import type { RecoveryPoint } from '../../core/index.ts'
import { AppError, AppErrorCode, type LocalBox, type PointsResult } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption, STORE_ENV } from './common-options.ts'
import { formatBytes, peerLabel, peerNames, plural, pointJson, pointLine, type PeerNames, type PointJson } from './format.ts'
import { Session, withSession } from './session.ts'

interface PointsOptions {
  store?: string
  data: string
  json?: boolean
}

/** The `--json` document of `points --store`. */
interface PointsJson {
  store: string
  blockSize: number
  points: PointJson[]
}

export function pointsCommand (box: LocalBox): Command {
  const command: Command = new Command('points')
    .description('list recovery points, oldest first: of a relationship this box holds as Replica (NAME, from the daemon), or of a bare store (--store DIR, offline)')
    .argument('[name]', 'the protected VM\'s name or the relationship id (asks the daemon of --data)')
    .addOption(new Option('--store <dir>', 'read this store instead of asking the daemon (offline tool; may be on a removable disk)').env(STORE_ENV))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem points web --data /var/lib/tandem      # a VM this box protects as Replica, from its daemon',
      'tandem points web --json',
      'tandem points --store /mnt/usb/store          # a bare store, no daemon needed'
    ]))
    .action(async (name: string | undefined, opts: PointsOptions) => {
      const storeGiven = command.getOptionValueSource('store') === 'cli'
      if (name !== undefined && storeGiven) throw new AppError(AppErrorCode.APP_USAGE, 'give NAME (asks the daemon) or --store DIR (reads a bare store), not both')
      if (name !== undefined) {
        const service = await box.connect(dataPath(opts.data))
        const [result, names] = await Promise.all([service.points(name), peerNames(service, opts)])
        new Session(opts).output(result, r => replicaPointsText(r, names))
        return
      }
      if (opts.store === undefined) throw new AppError(AppErrorCode.APP_USAGE, `give NAME (a relationship this box holds as Replica) or --store DIR (or ${STORE_ENV})`)
      await offlinePoints(opts.store, opts)
    })
  return command
}

async function offlinePoints (dir: string, opts: PointsOptions): Promise<void> {
  await withSession(opts, async session => {
    const store = await session.openStore(dir, { write: false })
    const points = await store.listPoints()
    const doc: PointsJson = { store: store.dir, blockSize: store.blockSize, points: points.map(pointJson) }
    session.output(doc, d => pointsText(d, points))
  })
}

function pointsText (doc: PointsJson, points: RecoveryPoint[]): string {
  const head = `store ${doc.store}: ${formatBytes(doc.blockSize)} blocks, ${plural(points.length, 'recovery point')}`
  return [head, ...points.map(p => `  ${pointLine(p)}`)].join('\n')
}

function replicaPointsText (r: PointsResult, names: PeerNames): string {
  const what = r.vm === null ? `relationship ${r.relationship}` : `${r.vm} (relationship ${r.relationship})`
  const head = `${what} from ${peerLabel(r.peer, names)}: ${plural(r.points.length, 'recovery point')}${r.removed ? ' (the primary removed the relationship; these points are kept)' : ''}`
  const proven = (p: PointsResult['points'][number]): string => p.proven === undefined ? '' : `  proven ${p.proven.time} (sign of life after ${p.proven.signOfLifeMs} ms)`
  const lines = r.points.map(p => `  point ${p.id}  ${p.time}  ${p.consistency}  ${formatBytes(p.size)}  ${p.disks.map(d => d.name).join(', ')}${proven(p)}`)
  return [head, ...lines].join('\n')
}
