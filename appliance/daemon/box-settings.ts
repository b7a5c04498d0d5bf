/**
 * The SettingsApi of the daemon (appliance/service/settings-api.ts):
 * config.json's name, listen addresses and web address, read fresh from
 * the file and compared with what the daemon started with; changed one
 * update at a time, checked as `tandem init` checks its options
 * (initialConfig), the whole document checked again (parseConfig), then
 * written atomically (json-file.ts).
 */
import { AppError, AppErrorCode } from '../errors.ts'
import { SerialQueue } from '../serial-queue.ts'
import type { SettingsInfo, SettingsUpdateRequest } from '../service/settings-types.ts'
import { parseConfig, requireConfig, writeConfig, type Config } from './config.ts'
import { initialConfig } from './init.ts'

export class BoxSettings {
  private readonly file: string
  private readonly running: Config
  private readonly queue = new SerialQueue()

  /** `file`: config.json; `running`: the config the daemon started with. */
  constructor (file: string, running: Config) {
    this.file = file
    this.running = running
  }

  async get (): Promise<SettingsInfo> {
    return this.info(await requireConfig(this.file))
  }

  async update (request: SettingsUpdateRequest): Promise<SettingsInfo> {
    if (request.name === undefined && request.listen === undefined && request.api === undefined) throw new AppError(AppErrorCode.APP_USAGE, 'no setting to change: give a name, listen addresses or a web address')
    if (request.listen?.length === 0) throw new AppError(AppErrorCode.APP_USAGE, 'at least one listen address is needed: the box would not be reachable')
    return await this.queue.run(async () => {
      const config = await requireConfig(this.file)
      // tandem init's checks, with the web server's kind kept (plain HTTP stays on loopback).
      const api = request.api ?? config.api
      const checked = initialConfig({
        ...(request.name === undefined ? {} : { name: request.name }),
        ...(request.listen === undefined ? {} : { listen: request.listen }),
        ...(api === null ? {} : { api }),
        plainHttp: config.apiPlainHttp
      })
      const next = parseConfig({
        ...config,
        ...(request.name === undefined ? {} : { name: checked.name }),
        ...(request.listen === undefined ? {} : { listen: checked.listen }),
        ...(request.api === undefined ? {} : { api: checked.api })
      })
      await writeConfig(this.file, next)
      return this.info(next)
    })
  }

  private info (config: Config): SettingsInfo {
    const r = this.running
    const restartNeeded: SettingsInfo['restartNeeded'] = []
    if (config.name !== r.name) restartNeeded.push('name')
    if (JSON.stringify(config.listen) !== JSON.stringify(r.listen)) restartNeeded.push('listen')
    if (config.api !== r.api) restartNeeded.push('api')
    return {
      name: config.name,
      listen: [...config.listen],
      api: config.api,
      apiPlainHttp: config.apiPlainHttp,
      running: { name: r.name, listen: [...r.listen], api: r.api },
      restartNeeded
    }
  }
}
