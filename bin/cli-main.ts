/**
 * The `tandem` command's composition root: gives the CLI (appliance/cli/)
 * its LocalBox, which reaches the daemon through the local API client
 * (web/) and runs the daemon for `tandem start` (bin/daemon.ts). Running
 * this module runs the CLI on process.argv and sets process.exitCode.
 */
import { main, version } from '../appliance/cli/main.ts'
// The modules themselves, not the folders' index.ts: these need neither libp2p's node nor
// fastify, which only `tandem start` loads (below), so every other command starts faster.
import { dataLayout } from '../appliance/daemon/data-dir.ts'
import { initDataDir } from '../appliance/daemon/init.ts'
import { offlineStatus } from '../appliance/daemon/offline-status.ts'
import { daemonRelaunch, relaunchEnvNames } from '../appliance/daemon/process-settings.ts'
import type { LocalBox } from '../appliance/service/index.ts'
import { ApiClient } from '../web/api-client.ts'

export function localBox (): LocalBox {
  const v = version()
  return {
    init: initDataDir,
    offlineStatus: async dataDir => await offlineStatus(dataDir, v),
    connect: async dataDir => new ApiClient({ socketPath: dataLayout(dataDir).socket }),
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
