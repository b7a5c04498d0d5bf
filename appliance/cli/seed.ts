/**
 * `tandem seed export|import`: one recovery point as one portable file, to
 * carry on removable media for initial replication (docs/seeds.md, format
 * docs/seed-format.md), in two ways on one help page:
 * - through the daemon (`--data`): `seed export NAME --to PATH` on the
 *   primary writes the VM's disks as they are now, for its relationship
 *   (`replication enable --initial seed:PATH` starts the same export);
 *   `seed import --from PATH` on the Replica imports it into the
 *   relationship the seed names. Both run as daemon jobs, followed here with
 *   a progress line; Ctrl-C cancels the job.
 * - offline, on a bare store (`--store`): `seed export --store DIR --out
 *   FILE` writes one of its points; `seed import FILE --store DIR` imports.
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import { exportSeed, importSeed, readSeedHeader } from '../../core/seed/index.ts'
import { AppError, AppErrorCode, type JobInfo, type LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { forceOption, jsonOption, progressOption, STORE_ENV } from './common-options.ts'
import { formatBytes, plural, pointJson, pointLine } from './format.ts'
import { followJob } from './job-follow.ts'
import { parsePoint, type PointSelector } from './option-values.ts'
import { resolvePoint } from './selection.ts'
import { withSession } from './session.ts'

interface ExportOptions {
  store?: string
  point: PointSelector
  out?: string
  to?: string
  data: string
  force?: boolean
  json?: boolean
  progress?: boolean
}

interface ImportOptions {
  store?: string
  from?: string
  data: string
  json?: boolean
  progress?: boolean
}

export function seedCommand (box: LocalBox): Command {
  return new Command('seed')
    .description('carry a recovery point on removable media: export a seed for a VM\'s initial replication and import it on the Replica (daemon), or export / import a point of a bare store (offline)')
    .addCommand(seedExportCommand(box))
    .addCommand(seedImportCommand(box))
}

/** `--store` on the command line (TANDEM_STORE alone does not make a daemon command offline). */
const storeGiven = (command: Command): boolean => command.getOptionValueSource('store') === 'cli'

function seedExportCommand (box: LocalBox): Command {
  const command: Command = new Command('export')
    .description('write a seed file: of VM NAME\'s disks as they are now, for its relationship\'s initial replication (daemon, --to), or of a point of a bare store (offline, --store and --out)')
    .argument('[name]', 'the VM whose relationship waits for its seed (asks the daemon of --data)')
    .addOption(new Option('--to <file>', 'with NAME: the seed file to write (e.g. on a USB disk)'))
    .addOption(new Option('--store <dir>', 'offline: the store to export a point of').env(STORE_ENV))
    .addOption(new Option('--point <id|latest>', 'offline: the recovery point to export').argParser(parsePoint).default('latest'))
    .addOption(new Option('--out <file>', 'offline: the seed file to write'))
    .addOption(forceOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .addHelpText('after', examples([
      'tandem seed export web --to /mnt/usb/web.seed          # on the primary, through its daemon',
      'tandem seed export --store /srv/tandem/shop --point latest --out /mnt/usb/shop.seed   # offline'
    ]))
    .action(async (name: string | undefined, opts: ExportOptions) => {
      if (name !== undefined) {
        if (storeGiven(command) || opts.out !== undefined) throw new AppError(AppErrorCode.APP_USAGE, 'give NAME --to FILE (through the daemon) or --store DIR --out FILE (offline), not both')
        if (opts.to === undefined) throw new AppError(AppErrorCode.APP_USAGE, 'give the seed file to write: --to FILE')
        await daemonExport(box, name, resolve(opts.to), opts)
        return
      }
      if (opts.to !== undefined) throw new AppError(AppErrorCode.APP_USAGE, '--to goes with NAME (the VM whose seed the daemon writes); offline, give --store DIR --out FILE')
      if (opts.store === undefined || opts.out === undefined) throw new AppError(AppErrorCode.APP_USAGE, `give NAME --to FILE (through the daemon) or --store DIR (or ${STORE_ENV}) --out FILE (offline)`)
      await offlineExport(opts.store, resolve(opts.out), opts)
    })
  return command
}

function seedImportCommand (box: LocalBox): Command {
  const command: Command = new Command('import')
    .description('import a seed file: into the relationship it was written for, held here as Replica (daemon, --from), or as a new point of a bare store (offline, FILE --store; creates the store when missing)')
    .argument('[file]', 'offline: the seed file')
    .addOption(new Option('--from <file>', 'the seed file to import through the daemon of --data'))
    .addOption(new Option('--store <dir>', 'offline: the store to import into').env(STORE_ENV))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .addHelpText('after', examples([
      'tandem seed import --from /mnt/usb/web.seed            # on the Replica, through its daemon',
      'tandem seed import /mnt/usb/shop.seed --store /srv/tandem/shop   # offline'
    ]))
    .action(async (file: string | undefined, opts: ImportOptions) => {
      if (opts.from !== undefined) {
        if (file !== undefined || storeGiven(command)) throw new AppError(AppErrorCode.APP_USAGE, 'give --from FILE (through the daemon) or FILE --store DIR (offline), not both')
        await daemonImport(box, resolve(opts.from), opts)
        return
      }
      if (file === undefined || opts.store === undefined) throw new AppError(AppErrorCode.APP_USAGE, `give --from FILE (through the daemon) or FILE --store DIR (or ${STORE_ENV}, offline)`)
      await offlineImport(opts.store, resolve(file), opts)
    })
  return command
}

async function daemonExport (box: LocalBox, name: string, to: string, opts: ExportOptions): Promise<void> {
  const service = await box.connect(dataPath(opts.data))
  await withSession(opts, async session => {
    const job = await followJob(service, await service.seedExport(name, { to, ...(opts.force === true ? { force: true } : {}) }), session)
    session.output(job, seedExportText)
  })
}

async function daemonImport (box: LocalBox, from: string, opts: ImportOptions): Promise<void> {
  const service = await box.connect(dataPath(opts.data))
  await withSession(opts, async session => {
    const job = await followJob(service, await service.seedImport({ from }), session)
    session.output(job, seedImportText)
  })
}

/** The end of a daemon seed export, in words. */
export function seedExportText (job: JobInfo): string {
  const r = job.seedExport!
  return [
    `seed of ${job.vm} written to ${r.path}: ${plural(r.blocks, 'block')}, ${formatBytes(r.bytes)}, point time ${r.time}`,
    `root ${r.root}`,
    `next: carry it to the Replica and run \`tandem seed import --from ${r.path}\` there; replication then sends only what changed since`
  ].join('\n')
}

function seedImportText (job: JobInfo): string {
  const r = job.seedImport!
  return [
    `seed imported as recovery point ${r.point.id} of ${r.vm} (relationship ${r.relationship}, from ${r.peer})`,
    `root ${r.point.root}`,
    'the primary\'s next cycle sends only what changed since the seed was written'
  ].join('\n')
}

async function offlineExport (storeDir: string, out: string, opts: ExportOptions): Promise<void> {
  await withSession(opts, async session => {
    const store = await session.openStore(storeDir, { write: false })
    const point = await resolvePoint(store, opts.point)
    const result = await exportSeed(store, point.id, out, { force: opts.force === true, signal: session.signal, onProgress: session.progress.listener })
    const doc = { point: point.id, out, bytes: result.bytes, blocks: result.blocks }
    session.output(doc, d => `exported point ${d.point} to ${d.out}: ${plural(d.blocks, 'block')}, ${formatBytes(d.bytes)}`)
  })
}

async function offlineImport (storeDir: string, path: string, opts: ImportOptions): Promise<void> {
  await withSession(opts, async session => {
    // The seed is checked before the store is touched, so a bad seed creates nothing.
    const header = await readSeedHeader(path)
    const store = await session.openStore(storeDir, { write: true, create: true, blockSize: header.blockSize })
    const point = await importSeed(store, path, { signal: session.signal, onProgress: session.progress.listener })
    session.output({ store: store.dir, point: pointJson(point) }, () => `imported ${path} as ${pointLine(point)}`)
  })
}
