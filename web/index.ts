export { buildApiServer, MAX_REQUEST_BYTES, type ApiServerOptions } from './api-server.ts'
export { ApiClient, TIMEOUT_API_MS, MAX_RESPONSE_BYTES, type ApiClientInit } from './api-client.ts'
export { listenOnSocket, socketIsLive, SOCKET_MODE } from './socket.ts'
export { WebError, WebErrorCode, HTTP_STATUS, httpStatusOf } from './errors.ts'
