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
      const { runDaemon } = await import('./daemon.ts')
      await runDaemon({ dataDir, signal, version: v, onReady })
    }
  }
}

process.exitCode = await main(process.argv, localBox())
