/**
 * The QEMU guest agent and QMP of a booted box (smoke.ts, qemu-box.ts): a
 * JSON-lines socket, a synchronised agent session, and commands run in the
 * guest to their end or started and awaited later. Bounded: every wait has
 * a timeout (`within`), every reply line a size limit.
 */
import { createConnection, type Socket } from 'node:net'

/** One command in the guest (a Node start under TCG takes seconds). */
export const TIMEOUT_GUEST_EXEC_MS = 120_000
/** Largest guest-agent reply line read (a command's captured output, base64). */
const MAX_AGENT_LINE_BYTES = 4 * 1024 * 1024

export function delay (ms: number): Promise<void> {
  return new Promise(resolve => { setTimeout(resolve, ms) })
}

/** Resolves with the first value `body` gives, or rejects after `ms`. */
export async function within<T> (ms: number, what: string, body: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([body, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${ms / 1000} s`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** A JSON-lines connection to a unix socket (QMP, the guest agent): send, and read the next reply. */
export class JsonSocket {
  private readonly socket: Socket
  private buffered = ''
  private waiting: Array<(line: string) => void> = []
  private lines: string[] = []

  constructor (path: string) {
    this.socket = createConnection(path)
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8')
      if (this.buffered.length > MAX_AGENT_LINE_BYTES) this.socket.destroy(new Error('reply too long'))
      let nl
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).replace(/^[^{]*/, '').trim()
        this.buffered = this.buffered.slice(nl + 1)
        if (line === '') continue // the agent's 0xFF delimiter (decoded as U+FFFD) and blank lines
        const next = this.waiting.shift()
        if (next !== undefined) next(line)
        else this.lines.push(line)
      }
    })
    this.socket.on('error', () => {})
  }

  connected (): Promise<void> {
    return new Promise((resolve, reject) => { this.socket.once('connect', resolve); this.socket.once('error', reject) })
  }

  send (value: unknown, prefix = ''): void {
    this.socket.write(prefix + JSON.stringify(value) + '\n')
  }

  next (): Promise<Record<string, unknown>> {
    const line = this.lines.shift()
    if (line !== undefined) return Promise.resolve(JSON.parse(line))
    return new Promise(resolve => { this.waiting.push(l => { resolve(JSON.parse(l)) }) })
  }

  close (): void {
    this.socket.destroy()
  }
}

/** A guest-agent connection, synchronised: the replies that follow are to this client's commands. */
export async function agentSession (agentPath: string): Promise<JsonSocket> {
  const agent = new JsonSocket(agentPath)
  try {
    await agent.connected()
    // docs/platform-notes.md "QEMU", guest agent: a 0xFF byte and guest-sync-delimited first, skip to its id.
    const id = Math.floor(Math.random() * 2 ** 31)
    agent.send({ execute: 'guest-sync-delimited', arguments: { id } }, '\xff')
    while ((await agent.next()).return !== id) { /* a late reply of an earlier client */ }
    return agent
  } catch (err) {
    agent.close()
    throw err
  }
}

/** Runs a command in the guest through the QEMU guest agent; its exit status and output. */
export async function guestExec (agentPath: string, path: string, args: string[]): Promise<{ status: number, out: string }> {
  return await guestEnded(agentPath, await guestStart(agentPath, path, args))
}

/** Starts a command in the guest through the QEMU guest agent without waiting for it; its guest pid. */
export async function guestStart (agentPath: string, path: string, args: string[]): Promise<number> {
  const agent = await agentSession(agentPath)
  try {
    agent.send({ execute: 'guest-exec', arguments: { path, arg: args, 'capture-output': true } })
    const started = await agent.next()
    const pid = (started.return as { pid: number } | undefined)?.pid
    if (pid === undefined) throw new Error(`guest-exec: ${JSON.stringify(started)}`)
    return pid
  } finally {
    agent.close()
  }
}

/** A command started by guestStart, once it has exited: its status and output. */
export async function guestEnded (agentPath: string, pid: number): Promise<{ status: number, out: string }> {
  const agent = await agentSession(agentPath)
  try {
    for (;;) {
      agent.send({ execute: 'guest-exec-status', arguments: { pid } })
      const status = (await agent.next()).return as { exited: boolean, exitcode?: number, 'out-data'?: string, 'err-data'?: string }
      if (status.exited) {
        const decode = (b?: string): string => b === undefined ? '' : Buffer.from(b, 'base64').toString('utf8')
        return { status: status.exitcode ?? -1, out: decode(status['out-data']) + decode(status['err-data']) }
      }
      await delay(1000)
    }
  } finally {
    agent.close()
  }
}
