/**
 * The HTTP status of each error code: the table in web/errors.ts, and 500
 * for any code it does not list.
 */
import t from 'tap'
import { DEFAULT_ERROR_STATUS, HTTP_STATUS, httpStatusOf } from '../../web/errors.ts'

t.test('codes map to their statuses', async t => {
  const table: Array<[string, number]> = [
    ['WEB_BAD_REQUEST', 400],
    ['WEB_NOT_FOUND', 404],
    ['WEB_LOGIN_REQUIRED', 401],
    ['WEB_CSRF_INVALID', 403],
    ['WEB_HOST_INVALID', 421],
    ['WEB_ORIGIN_INVALID', 403],
    ['WEB_RATE_LIMITED', 429],
    ['WEB_LOGIN_FAILED', 401],
    ['WEB_PASSWORD_WRONG', 403],
    ['WEB_PASSWORD_NOT_SET', 409],
    ['WEB_PASSWORD_ALREADY_SET', 409],
    ['WEB_SETUP_CODE_INVALID', 403],
    ['WEB_SESSION_NOT_FOUND', 404],
    ['WEB_LIVE_BUSY', 503],
    ['APP_USAGE', 400],
    ['APP_CONFIRMATION_REQUIRED', 400],
    ['APP_PEER_NOT_FOUND', 404],
    ['APP_RELATIONSHIP_NOT_FOUND', 404],
    ['APP_DATA_NOT_INITIALIZED', 409],
    ['P2P_INVITE_INVALID', 400],
    ['P2P_PAIRING_FAILED', 403],
    ['P2P_PAIRING_CLOSED', 409],
    ['P2P_PAIRING_BUSY', 409],
    ['P2P_BOX_NAME_INVALID', 409],
    ['P2P_PAIRING_UNREACHABLE', 502],
    ['P2P_PAIRING_MALFORMED', 502],
    ['P2P_PAIRING_TIMEOUT', 504],
    ['APP_VM_NOT_FOUND', 404],
    ['APP_RELATIONSHIP_EXISTS', 409],
    ['APP_INVALID_STATE', 409],
    ['APP_SETTING_INVALID', 400],
    ['APP_JOB_NOT_FOUND', 404],
    ['APP_POINT_NOT_FOUND', 404],
    ['APP_SCREENSHOT_NOT_FOUND', 404],
    ['APP_SEED_MISMATCH', 409],
    ['APP_SEED_NO_ORIGIN', 400],
    ['CORE_SEED_INVALID', 400],
    ['CORE_SEED_TRUNCATED', 400],
    ['P2P_RELATIONSHIP_REFUSED', 409],
    ['P2P_PEER_UNREACHABLE', 502],
    ['APP_VM_INVALID', 400],
    ['APP_DISK_NOT_FOUND', 400],
    ['APP_DISK_FORMAT_UNSUPPORTED', 400],
    ['APP_VM_EXISTS', 409],
    ['APP_DISK_TAKEN', 409],
    ['APP_DISK_IN_USE', 409],
    ['APP_VM_NOT_MANAGED', 409],
    ['APP_VM_RUNNING', 409],
    ['APP_VM_PROTECTED', 409],
    ['APP_VM_ALREADY_RUNNING', 409],
    ['APP_VM_STOP_TIMEOUT', 409],
    ['APP_BOOT_FILE_MISSING', 409],
    ['APP_VM_NOT_RUNNING', 409],
    ['APP_FAILOVER_COPY_FAILED', 409],
    ['APP_SALVAGE_NOT_FOUND', 404],
    ['P2P_VM_RUNNING', 409],
    ['P2P_FAILOVER_REFUSED', 409],
    ['P2P_STALE_TERM', 409],
    ['P2P_FAILED_OVER', 409],
    ['APP_UNEXPECTED', 500],
    ['CORE_WRITE_FAILED', 500],
    ['NOT_A_CODE', 500],
    ['constructor', 500],
    ['toString', 500]
  ]
  for (const [code, status] of table) t.equal(httpStatusOf(code), status, `${code} -> ${status}`)
  t.equal(DEFAULT_ERROR_STATUS, 500)
  t.same(Object.keys(HTTP_STATUS).sort(), table.filter(([, s]) => s !== 500).map(([c]) => c).sort(), 'the table above covers every listed code')
})
