/**
 * The `tandem` command's composition root: gives the CLI (appliance/cli/)
 * its LocalBox, which reaches the daemon through the local API client
 * (web/) and runs the daemon for `tandem start` (bin/daemon.ts). Running
 * this module runs the CLI on process.argv and sets process.exitCode.
 */
import { main, version } from '../appliance/cli/main.ts'
// The modules themselves, not the folders' index.ts: these need neither libp2p's node nor
// fastify, which only `tandem start` loads (below), so every other command starts faster.
import { requireConfig } from '../appliance/daemon/config.ts'
import { dataLayout } from '../appliance/daemon/data-dir.ts'
import { initDataDir } from '../appliance/daemon/init.ts'
import { offlineStatus } from '../appliance/daemon/offline-status.ts'
import { daemonRelaunch, relaunchEnvNames } from '../appliance/daemon/process-settings.ts'
import type { LocalBox, WebStatusInfo } from '../appliance/service/index.ts'
import { ApiClient } from '../web/api-client.ts'
import { initWeb, webStatusOf } from './web-box.ts'

export function localBox (): LocalBox {
  const v = version()
  return {
    // The appliance's data directory first (its config, identity and web/), then web's certificate in it.
    init: async (dataDir, options) => {
      const box = await initDataDir(dataDir, options)
      const layout = dataLayout(dataDir)
      return { ...box, web: await initWeb(layout.web, await requireConfig(layout.config)) }
    },
    offlineStatus: async dataDir => {
      const layout = dataLayout(dataDir)
      // config.json is read twice (here and by offlineStatus): a few hundred bytes, and it keeps appliance/ unaware of web/.
      const web = async (): Promise<WebStatusInfo | null> => await webStatusOf(layout.web, await requireConfig(layout.config))()
      return await offlineStatus(dataDir, v, web)
    },
    connect: async (dataDir, options = {}) => new ApiClient({ socketPath: dataLayout(dataDir).socket, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) }),
    // Loaded only by `tandem start`: the other commands do not need fastify or the node.
    run: async (dataDir, signal, onReady) => {
      if (signal.aborted) return
      runWithDaemonSettings()
      const { runDaemon } = await import('./daemon.ts')
      await runDaemon({ dataDir, signal, version: v, onReady })
    }
  }
}

/**
 * Replaces this process (same pid, same stdio, nothing started yet) with one
 * that has the daemon's V8 options and malloc settings, which only a start
 * can give (appliance/daemon/process-settings.ts); returns in the process
 * that has them, after taking the variables it added out of the environment
 * its children get. Where the system cannot execve, the daemon runs on as
 * it is: the settings save memory, nothing depends on them.
 */
function runWithDaemonSettings (): void {
  const again = daemonRelaunch({ execPath: process.execPath, execArgv: process.execArgv, argv: process.argv, env: process.env })
  if (again !== undefined) {
    try {
      if (process.execve === undefined) throw new Error('this system has no execve')
      process.execve(again.file, again.args, again.env)
    } catch (err) {
      process.stderr.write(`warning: the daemon runs without its memory settings: ${(err as Error).message}\n`)
    }
  }
  for (const name of relaunchEnvNames(process.env)) delete process.env[name]
}

process.exitCode = await main(process.argv, localBox())
