/**
 * NBD-backed overlays: the URI QEMU opens (the socket path percent-encoded,
 * so any path works), and a real overlay over core's NbdServer whose socket
 * path holds a space, `&`, `?` and a comma: qemu-img reads the export's
 * bytes through it, and writes into the overlay leave the export as it was.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { createNbdOverlay, nbdUnixUri } from '../../../../appliance/drivers/qemu/index.ts'
import { NbdServer } from '../../../../core/nbd/index.ts'
import { tempDir } from '../../../helpers/fixtures.ts'
import { requireTools } from '../../../helpers/tools.ts'
import { memoryExport, patterned } from '../../../core/nbd/server-fixtures.ts'

requireTools(t, ['qemu-img', 'qemu-io'])
const run = promisify(execFile)

t.test('the URI names the export and carries the socket path percent-encoded', async t => {
  const cases: Array<[string, string, string]> = [
    ['/run/tandem/p1.sock', 'disk0', 'nbd+unix:///disk0?socket=/run/tandem/p1.sock'],
    ['/tmp/a b&c?d,e#f%/s.sock', 'sys.v1_x-2', 'nbd+unix:///sys.v1_x-2?socket=/tmp/a%20b%26c%3Fd%2Ce%23f%25/s.sock']
  ]
  for (const [socket, exportName, uri] of cases) t.equal(nbdUnixUri({ socket, export: exportName }), uri, socket)
  t.throws(() => nbdUnixUri({ socket: 'rel.sock', export: 'disk0' }), TypeError, 'a relative socket path')
  t.throws(() => nbdUnixUri({ socket: '/s.sock', export: 'a/b' }), TypeError, 'an export name that is not a disk name')
})

t.test('an overlay over core\'s NBD server reads as the export and takes the writes', async t => {
  const dir = join(await tempDir(t), 'we ird&dir?,x')
  await mkdir(dir)
  const bytes = patterned(4 * 1024 * 1024)
  const server = new NbdServer({ socketPath: join(dir, 'n b.sock'), exports: [memoryExport('disk0', bytes)] })
  await server.start()
  t.teardown(async () => { await server.stop() })
  const overlay = join(dir, 'disk0.overlay.qcow2')
  await writeFile(overlay, 'a leftover of an earlier run')
  await createNbdOverlay(overlay, { socket: server.socketPath, export: 'disk0' })

  const out = join(dir, 'out.raw')
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', overlay, out])
  t.ok((await readFile(out)).equals(bytes), 'the overlay reads as the export (the leftover was replaced)')
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 64k', overlay])
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', overlay, out])
  const written = await readFile(out)
  t.ok(written.subarray(1024 * 1024, 1024 * 1024 + 65536).every(b => b === 0xab), 'the write is in the overlay')
  t.ok(written.subarray(0, 1024 * 1024).equals(bytes.subarray(0, 1024 * 1024)), 'the rest still reads through')
  const exported = join(dir, 'export.raw')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbdUnixUri({ socket: server.socketPath, export: 'disk0' }), exported])
  t.ok((await readFile(exported)).equals(bytes), 'the export reads as before')
})

t.test('nothing serving the socket is APP_QEMU_IMG_FAILED', async t => {
  const dir = await tempDir(t)
  await t.rejects(createNbdOverlay(join(dir, 'o.qcow2'), { socket: join(dir, 'none.sock'), export: 'disk0' }), { code: AppErrorCode.APP_QEMU_IMG_FAILED })
})
