/**
 * A fake qemu-guest-agent on a unix socket, for tests: stale output first,
 * guest-sync-delimited, guest-ping and guest-fsfreeze-* with modes where a
 * freeze is refused or hangs (answered late), and a silent mode.
 */
import { join } from 'node:path'
import { tempDir, type Teardown } from './fixtures.ts'
import { serveUnixSocket } from './unix-server.ts'

export type FreezeMode = 'ok' | 'error' | 'hang'

export interface FakeAgent {
  path: string
  /** Commands received (sync included), in order. */
  received: string[]
  /** Set when a command arrived while another was unanswered: the client did not serialize. */
  overlapped: boolean
  /** Whether the fake guest's filesystems are frozen now. */
  frozen: boolean
}

/**
 * A fake agent: on connect it writes stale output (an old sync reply,
 * garbage, a cut-off line); it implements guest-sync-delimited (0xFF then
 * the reply), guest-ping and guest-fsfreeze-*. A hanging freeze is
 * answered late, just before the reply to the next sync (as a real agent
 * that finishes a slow freeze would). `silent`: accepts and never answers.
 */
export async function fakeAgent (t: Teardown, options: { freeze?: FreezeMode, silent?: boolean } = {}): Promise<FakeAgent> {
  const path = join(await tempDir(t), 'qga.sock')
  const fake: FakeAgent = { path, received: [], overlapped: false, frozen: false }
  await serveUnixSocket(t, path, socket => {
    if (options.silent === true) return
    // stale output of an earlier session, with a real 0xFF sync marker in it
    socket.write(Buffer.concat([Buffer.from('{"return": 4242}\n'), Buffer.from([0xff]), Buffer.from('{"return": 17}\ngarbage that is not json\n{"retu')]))
    let lateFreeze: string | undefined
    let unanswered = false
    const reply = (line: string): void => { unanswered = false; socket.write(line + '\n') }
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a)) {
        const text = buf.subarray(0, i).toString('latin1').replace(/^\xff+/, '')
        buf = buf.subarray(i + 1)
        const cmd = JSON.parse(text) as { execute: string, arguments?: { id?: number } }
        fake.received.push(cmd.execute)
        if (cmd.execute === 'guest-sync-delimited') {
          if (lateFreeze !== undefined) { socket.write(lateFreeze + '\n'); lateFreeze = undefined }
          socket.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ return: cmd.arguments?.id }) + '\n')]))
          continue
        }
        if (unanswered) fake.overlapped = true
        unanswered = true
        switch (cmd.execute) {
          case 'guest-ping': reply('{"return": {}}'); break
          case 'guest-fsfreeze-status': reply(JSON.stringify({ return: fake.frozen ? 'frozen' : 'thawed' })); break
          case 'guest-fsfreeze-thaw': reply(JSON.stringify({ return: fake.frozen ? 2 : 0 })); fake.frozen = false; break
          case 'guest-fsfreeze-freeze':
            if (options.freeze === 'error') { reply('{"error": {"class": "GenericError", "desc": "failed to freeze /: Device or resource busy"}}'); break }
            fake.frozen = true
            if (options.freeze === 'hang') { lateFreeze = '{"return": 2}'; unanswered = false; break }
            reply('{"return": 2}')
            break
          default: reply(JSON.stringify({ error: { class: 'CommandNotFound', desc: `The command ${cmd.execute} has not been found` } }))
        }
      }
    })
  })
  return fake
}
