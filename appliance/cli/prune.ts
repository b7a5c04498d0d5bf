/**
 * `tandem prune --store <dir> --keep <N> [--interval <dur>] --yes`: applies a
 * retention policy now. It deletes recovery points, so it refuses without
 * `--yes` (APP_CONFIRMATION_REQUIRED, docs/design.md invariant 4) and says what it
 * would remove; the store is not changed then, not even repaired.
 */
import { Command, Option } from 'commander'
import { prune, selectRetained, type RetentionPolicy } from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import { intervalOption, jsonOption, keepOption, storeOption } from './common-options.ts'
import { isoTime, plural } from './format.ts'
import { prunedText, retentionRule } from './retention-rule.ts'
import { withSession } from './session.ts'

interface PruneOptions {
  store: string
  keep: number
  interval: number
  yes?: boolean
  json?: boolean
}

export function pruneCommand (): Command {
  return new Command('prune')
    .description('remove the recovery points outside a retention policy (latest + the first of each of the last N intervals); needs --yes')
    .addOption(storeOption())
    .addOption(keepOption(true))
    .addOption(intervalOption())
    .addOption(new Option('--yes', 'confirm: recovery points outside the policy are deleted for good'))
    .addOption(jsonOption())
    .action(async (opts: PruneOptions) => {
      await withSession(opts, async session => {
        const policy: RetentionPolicy = { additional: opts.keep, intervalMs: opts.interval }
        // Without --yes nothing may change: the store is opened read-only.
        const store = await session.openStore(opts.store, { write: opts.yes === true })
        const points = await store.listPoints()
        const kept = new Set(selectRetained(points, policy))
        const doomed = points.filter(p => !kept.has(p.id))
        if (opts.yes !== true) {
          const what = doomed.length === 0
            ? 'prune would remove no recovery point'
            : `prune would remove ${plural(doomed.length, 'recovery point')}: ${doomed.map(p => `${p.id} (${isoTime(p.time)})`).join(', ')}`
          throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, `${what}; ${retentionRule(policy)}: ${[...kept].join(', ') || 'none'}. Run again with --yes to do it`)
        }
        const report = await prune(store, policy)
        const rule = retentionRule(policy)
        const doc = { ...report, keptPoints: (await store.listPoints()).map(p => p.id), retention: { keep: policy.additional, intervalMs: policy.intervalMs, rule } }
        session.output(doc, d => `${rule}: kept ${d.keptPoints.join(', ') || 'none'}; ${prunedText(d)}`)
      })
    })
}
