/**
 * The `tandem` command's composition root: gives the CLI (appliance/cli/)
 * its LocalBox, which reaches the daemon through the local API client
 * (web/) and runs the daemon for `tandem start` (bin/daemon.ts). Running
 * this module runs the CLI on process.argv and sets process.exitCode.
 */
import { initDataDir, offlineStatus, dataLayout } from '../appliance/daemon/index.ts'
import { main, version } from '../appliance/cli/main.ts'
import type { LocalBox } from '../appliance/service/index.ts'
import { ApiClient } from '../web/index.ts'
import { runDaemon } from './daemon.ts'

export function localBox (): LocalBox {
  const v = version()
  return {
    init: initDataDir,
    offlineStatus: async dataDir => await offlineStatus(dataDir, v),
    connect: async dataDir => new ApiClient({ socketPath: dataLayout(dataDir).socket }),
    run: async (dataDir, signal, onReady) => { await runDaemon({ dataDir, signal, version: v, onReady }) }
  }
}

process.exitCode = await main(process.argv, localBox())
