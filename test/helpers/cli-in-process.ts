/**
 * Runs the `tandem` CLI in this process against a service given here (a
 * fake, or a real in-process Appliance): what the command printed on
 * stdout and stderr, and its exit status. TANDEM_* variables in `env` are
 * set for the run only.
 */
import { main } from '../../appliance/cli/main.ts'
import type { ApplianceService, LocalBox } from '../../appliance/service/index.ts'

export interface CliRun { status: number, out: string, err: string }

export async function runCli (args: string[], service: ApplianceService, env: Record<string, string> = {}): Promise<CliRun> {
  const unused = async (): Promise<never> => { throw new Error('not used') }
  const box: LocalBox = { init: unused, run: unused, offlineStatus: unused, connect: async () => service }
  let out = ''
  let err = ''
  const write = process.stdout.write.bind(process.stdout)
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  Object.assign(process.env, env)
  process.stdout.write = ((s: string) => { out += s; return true }) as typeof process.stdout.write
  try {
    const status = await main(['node', 'tandem', ...args], box, { write: (s: string) => { err += s; return true } } as unknown as NodeJS.WritableStream)
    return { status, out, err }
  } finally {
    process.stdout.write = write
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
}
