/**
 * Shared by the vm/ suites: the tiny test guest as a VM definition, a wait
 * for a serial console line, and file hashes.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { ensureTestGuest } from '../../../helpers/guest/build-guest.ts'

/** Bound for a TCG boot on a loaded machine (readiness, not a measured time). */
const SERIAL_WAIT_MS = 120_000

export async function testGuestDefinition (name: string, disk: { path: string, format: 'raw' | 'qcow2' }, extra: Partial<VmDefinition> = {}): Promise<VmDefinition> {
  const guest = await ensureTestGuest()
  return {
    name,
    vcpus: 1,
    memoryMiB: 128,
    disks: [{ name: 'system', ...disk }],
    nics: [],
    guestAgent: false,
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=4' },
    ...extra
  }
}

/**
 * Resolves once the serial log (written by QEMU through a file chardev)
 * has a line matching `pattern`. QEMU gives no event for a file's growth,
 * so this polls the file; it fails after SERIAL_WAIT_MS or when `alive()` turns false.
 */
export async function waitForSerial (log: string, pattern: RegExp, alive: () => boolean): Promise<string> {
  for (const until = Date.now() + SERIAL_WAIT_MS; ;) {
    const text = await readFile(log, 'latin1').catch(() => '')
    const line = text.split(/\r?\n/).find(l => pattern.test(l))
    if (line !== undefined) return line
    if (!alive()) throw new Error(`the VM ended before a serial line matching ${String(pattern)}:\n${text.slice(-2000)}`)
    if (Date.now() > until) throw new Error(`no serial line matching ${String(pattern)}:\n${text.slice(-2000)}`)
    await sleep(50)
  }
}

export async function sha256File (path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/** Whether a process with that pid exists (signal 0 sends nothing). */
export function processExists (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
