import { readFile } from 'node:fs/promises'

/*
 * Telling whether a pid still is a given VM's QEMU, for finding a VM again
 * after the appliance restarted (QemuDriver.adopt). Pids are reused: a pid
 * file left by a QEMU that has since ended may name an unrelated process.
 * So the pid's command line must show this VM's own arguments (its `-name
 * guest=NAME` and its QMP socket in its run directory) before the pid is
 * trusted or signalled; the QMP greeting on that socket then proves a live
 * QEMU answers there.
 */

/** The pid in a `qemu.pid` file, or undefined when there is none or it holds no positive integer. */
export async function readPidFile (file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined || !/^[1-9][0-9]{0,9}\s*$/.test(text)) return undefined
  return Number(text.trim())
}

/** The argument vector of a live process, or undefined when it is gone (or a zombie: its cmdline is empty). */
export async function processArgs (pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined)
  if (raw === undefined || raw.length === 0) return undefined
  const args = raw.toString('utf8').split('\0')
  if (args.at(-1) === '') args.pop()
  return args
}

/**
 * Whether `args` (a process's argument vector) are those of the QEMU that
 * buildQemuArgs made for the VM `name` with its QMP socket at `qmpSocket`.
 * Pure.
 */
export function isVmQemu (args: readonly string[], name: string, qmpSocket: string): boolean {
  const after = (flag: string): string | undefined => {
    const i = args.indexOf(flag)
    return i < 0 ? undefined : args[i + 1]
  }
  return after('-name') === `guest=${name}` && after('-qmp') === `unix:${qmpSocket.replaceAll(',', ',,')},server=on,wait=off`
}

/** The accelerator a QEMU was started with (its `-accel` argument), when it is one the driver uses. */
export function accelOf (args: readonly string[]): 'kvm' | 'tcg' | undefined {
  const i = args.indexOf('-accel')
  const v = i < 0 ? undefined : args[i + 1]
  return v === 'kvm' || v === 'tcg' ? v : undefined
}
