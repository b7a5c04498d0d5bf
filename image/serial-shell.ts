/**
 * A command typed on a booted box's serial console, as an operator at it would:
 * the getty on ttyS0 (the kernel's last console=), root with no password until
 * one is set (image/README.md "Console login"), a shell, the command, `exit`.
 * Driven through QEMU's `-serial stdio`: `input` is QEMU's stdin, `output` what
 * the serial port printed so far (it grows while the guest runs). Prompts end
 * without a newline, so the raw text is watched, not lines. The kernel and
 * tandem-console.service print on the same port: the command's output is what
 * lies between the echoed command line and an end marker with its exit status.
 */
import type { Writable } from 'node:stream'

/** How often the output is looked at while waiting for a prompt. */
const POLL_MS = 250
/** The end marker echoed after the command, with its exit status. */
const END_MARK = 'TANDEM-SERIAL-END'

export interface SerialOutput {
  /** Everything the serial port printed so far, raw. */
  text: string
}

// eslint-disable-next-line no-control-regex
/** `text` without terminal codes and carriage returns. */
export const plain = (text: string): string => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')

/** Waits until `pattern` matches the output printed after `from` (terminal codes removed); the match. */
async function waitFor (output: SerialOutput, from: number, pattern: RegExp, until: number, what: string): Promise<RegExpExecArray> {
  for (;;) {
    const m = pattern.exec(plain(output.text.slice(from)))
    if (m !== null) return m
    if (Date.now() > until) throw new Error(`serial console: no ${what} (the last of it: ${JSON.stringify(plain(output.text.slice(-200)))})`)
    await new Promise(resolve => { setTimeout(resolve, POLL_MS) })
  }
}

/** Logs in as root on the serial console, runs `command` in its shell, logs out; its exit status and output. */
export async function serialCommand (input: Writable, output: SerialOutput, command: string, timeoutMs: number): Promise<{ status: number, out: string }> {
  const until = Date.now() + timeoutMs
  const start = output.text.length
  input.write('\r')
  const prompt = await waitFor(output, start, /(login: *$)|(# *$)/, until, 'login prompt')
  if (prompt[1] !== undefined) {
    const login = output.text.length
    input.write('root\r')
    await waitFor(output, login, /# *$/, until, 'shell prompt after logging in as root (a password asked?)')
  }
  const typed = output.text.length
  input.write(`${command}; echo ${END_MARK} $?\r`)
  const end = await waitFor(output, typed, new RegExp(`\\n${END_MARK} (\\d+)`), until, `${END_MARK} after the command`)
  const text = plain(output.text.slice(typed))
  // The echoed command line first, then its output up to the marker.
  const out = text.slice(text.indexOf('\n') + 1, end.index)
  input.write('exit\r')
  return { status: Number(end[1]), out }
}
