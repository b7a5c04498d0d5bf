/**
 * How the CLI reports an error (appliance/cli/main.ts classify): every code
 * of ours, the P2P_ and WEB_ ones that now come back through the API
 * included, keeps its code; anything else is APP_UNEXPECTED.
 */
import t from 'tap'
import { CommanderError } from 'commander'
import { classify } from '../../appliance/cli/main.ts'
import { AppError, AppErrorCode, ServiceError } from '../../appliance/service/index.ts'

t.test('codes of every folder keep their code and exit status', async t => {
  const table: Array<[unknown, number, string]> = [
    [new ServiceError('P2P_PAIRING_FAILED', 'wrong PIN'), 1, 'P2P_PAIRING_FAILED'],
    [new ServiceError('WEB_BAD_REQUEST', 'bad'), 1, 'WEB_BAD_REQUEST'],
    [new ServiceError('CORE_WRITE_FAILED', 'full'), 1, 'CORE_WRITE_FAILED'],
    [new ServiceError('APP_DAEMON_NOT_RUNNING', 'start it'), 1, 'APP_DAEMON_NOT_RUNNING'],
    [new ServiceError('APP_USAGE', 'bad option'), 2, 'APP_USAGE'],
    [new AppError(AppErrorCode.APP_USAGE, 'bad option'), 2, 'APP_USAGE'],
    [new AppError(AppErrorCode.APP_VERIFY_FAILED, 'damaged'), 3, 'APP_VERIFY_FAILED'],
    [new CommanderError(1, 'commander.unknownOption', 'error: unknown option'), 2, 'APP_USAGE'],
    [new Error('a bug'), 1, 'APP_UNEXPECTED'],
    [Object.assign(new Error('odd'), { code: 'ECONNRESET' }), 1, 'APP_UNEXPECTED'],
    [Object.assign(new Error('odd'), { code: 'XYZ_NOT_OURS' }), 1, 'APP_UNEXPECTED'],
    ['a string', 1, 'APP_UNEXPECTED']
  ]
  for (const [err, status, code] of table) t.match(classify(err), { status, code }, `${String((err as { code?: string }).code ?? err)} -> ${code}`)
})
