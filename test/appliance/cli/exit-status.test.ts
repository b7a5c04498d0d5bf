/**
 * How an error ends the `tandem` command (docs/errors.md "CLI exit status"):
 * a table of errors and the status and code each is reported with. Every
 * TandemError keeps its own code, P2P_* included; anything else is
 * APP_UNEXPECTED.
 */
import t from 'tap'
import { CommanderError } from 'commander'
import { CoreError, CoreErrorCode } from '../../../core/errors.ts'
import { P2pError, P2pErrorCode } from '../../../p2p/errors.ts'
import { IdentityError } from '../../../p2p/node/identity.ts'
import { AppError, AppErrorCode } from '../../../appliance/errors.ts'
import { ServiceError } from '../../../appliance/service/index.ts'
import { classify, EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED } from '../../../appliance/cli/exit-status.ts'

t.test('each error is reported with its status and code', async t => {
  const withCode = (code: string): Error => Object.assign(new Error('x'), { code })
  const table: Array<[string, unknown, number, string]> = [
    ['a P2P_* error keeps its code', new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, 'x'), EXIT_FAILED, 'P2P_PAIRING_FAILED'],
    ['a subclass of P2pError too', new IdentityError('x', { code: P2pErrorCode.P2P_IDENTITY_DAMAGED }), EXIT_FAILED, 'P2P_IDENTITY_DAMAGED'],
    ['a CORE_* error keeps its code', new CoreError(CoreErrorCode.CORE_POINT_NOT_FOUND, 'x'), EXIT_FAILED, 'CORE_POINT_NOT_FOUND'],
    ['an APP_* error keeps its code', new AppError(AppErrorCode.APP_PEERS_CORRUPT, 'x'), EXIT_FAILED, 'APP_PEERS_CORRUPT'],
    ['APP_USAGE is a usage error', new AppError(AppErrorCode.APP_USAGE, 'x'), EXIT_USAGE, 'APP_USAGE'],
    ['APP_VERIFY_FAILED has its own status', new AppError(AppErrorCode.APP_VERIFY_FAILED, 'x'), EXIT_VERIFY_FAILED, 'APP_VERIFY_FAILED'],
    ['a code that came back through the API keeps it', new ServiceError('P2P_PAIRING_FAILED', 'x'), EXIT_FAILED, 'P2P_PAIRING_FAILED'],
    ['a WEB_* code through the API too', new ServiceError('WEB_NOT_FOUND', 'x'), EXIT_FAILED, 'WEB_NOT_FOUND'],
    ['the API refusing what the command sent is a usage error', new ServiceError('WEB_BAD_REQUEST', 'x'), EXIT_USAGE, 'WEB_BAD_REQUEST'],
    ['APP_USAGE through the API is a usage error', new ServiceError('APP_USAGE', 'x'), EXIT_USAGE, 'APP_USAGE'],
    ['a plain Error is unexpected', new Error('x'), EXIT_FAILED, 'APP_UNEXPECTED'],
    ['a code on an error no layer raised is not trusted', withCode('P2P_TIMEOUT'), EXIT_FAILED, 'APP_UNEXPECTED'],
    ['nor a CORE_-looking one', withCode('CORE_POINT_NOT_FOUND'), EXIT_FAILED, 'APP_UNEXPECTED'],
    ['a system error is unexpected', withCode('ENOENT'), EXIT_FAILED, 'APP_UNEXPECTED'],
    ['a thrown string is unexpected', 'boom', EXIT_FAILED, 'APP_UNEXPECTED'],
    ['a programmer mistake is unexpected', new TypeError('x'), EXIT_FAILED, 'APP_UNEXPECTED'],
    ['commander\'s errors are usage errors', new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), EXIT_USAGE, 'APP_USAGE'],
    ['a command group without a command is a usage error', new CommanderError(1, 'commander.help', '(outputHelp)'), EXIT_USAGE, 'APP_USAGE'],
    ['--help and --version succeed', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), EXIT_OK, '']
  ]
  for (const [name, err, status, code] of table) {
    const got = classify(err)
    t.same({ status: got.status, code: got.code }, { status, code }, name)
  }
})
