#!/bin/sh
':' //; r=$(readlink -f -- "$0" 2>/dev/null) && n="${r%/*}/../node_modules/.bin/node" && [ -x "$n" ] || n=node; exec "$n" "$0" "$@"
// The `tandem` command (docs/cli.md, "Runtime"). Plain JavaScript, so that
// any Node can start it, and a shell script too: the line above is a no-op
// string and a comment to JavaScript, and to sh it replaces the shell with
// the project's own Node (package.json devDependency `node`, found from this
// file's real path) running this file, or with the `node` on PATH before
// `npm install`. One process, so signals and the exit status are the CLI's.
//
// Started by another Node (`node bin/tandem.js` with an older Node, or the
// shell line's fallback), this file runs the CLI in a child process on the
// project's Node. The CLI is TypeScript that Node runs by stripping its types.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
// A namespace import: Node 20 has no enableCompileCache, and must still load this file.
import * as nodeModule from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** appliance/errors.ts AppErrorCode.APP_RUNTIME_UNAVAILABLE (this file cannot import TypeScript). */
const RUNTIME_UNAVAILABLE = 'APP_RUNTIME_UNAVAILABLE'

/** The project's Node (binary and version), or undefined before `npm install`. */
function projectNode () {
  const require = nodeModule.createRequire(import.meta.url)
  let manifest
  try {
    manifest = require.resolve('node/package.json')
  } catch {
    return undefined
  }
  return { path: join(dirname(manifest), 'bin', 'node'), version: `v${JSON.parse(readFileSync(manifest, 'utf8')).version}` }
}

function fail (message) {
  process.stderr.write(`error ${RUNTIME_UNAVAILABLE}: ${message}\n`)
  process.exitCode = 1
}

/**
 * Runs this file again on `node` with the same arguments and ends as it
 * ends (same status, or killed by the same signal).
 *
 * Ctrl-C (SIGINT, SIGQUIT) and a terminal hang-up reach the whole foreground
 * process group, so the child gets them from the terminal: this process only
 * outlives them. Passing them on as well would deliver them twice, and a
 * second SIGINT that arrives after the CLI's handler has run ends it before
 * its clean abort. SIGTERM is usually
 * sent to this process alone (kill PID, a service manager): it is passed on.
 */
function relaunch (node) {
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  const ignore = () => {}
  const forward = signal => { child.kill(signal) }
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP']) process.on(signal, ignore)
  process.on('SIGTERM', forward)
  child.on('error', err => { fail(`cannot start ${node}: ${err.message}`) })
  child.on('exit', (status, signal) => {
    process.off('SIGTERM', forward)
    for (const s of ['SIGINT', 'SIGQUIT', 'SIGHUP']) process.off(s, ignore)
    if (signal !== null) process.kill(process.pid, signal)
    else process.exitCode = status ?? 1
  })
}

const own = projectNode()
if (own !== undefined && process.version !== own.version) {
  relaunch(own.path)
} else if (process.features.typescript) {
  // Node keeps each module's compiled code (types stripped) here and reuses it
  // while the file is unchanged: start-up needs ~40% of the CPU it needs without
  // (docs/benchmarks.md "CLI start-up"). In the checkout, not the shared temp directory, where
  // another user could plant code; when it cannot be written, nothing is cached.
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off.
  const cache = nodeModule.enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/node-compile-cache', import.meta.url)))
  // Worker threads (the daemon's scan threads) do not share this call, only the environment:
  // without the cache each one loads the type stripper, ~10 MiB apiece, and strips its
  // modules again each time it starts (docs/benchmarks.md "Memory of the daemon").
  const { ENABLED, ALREADY_ENABLED } = nodeModule.constants.compileCacheStatus
  if (cache.status === ENABLED || cache.status === ALREADY_ENABLED) process.env.NODE_COMPILE_CACHE = cache.directory
  await import('./cli-main.ts')
} else if (own === undefined) {
  fail(`Node ${process.version} cannot run TypeScript and the project's Node is not installed: run \`npm install\` in ${fileURLToPath(new URL('..', import.meta.url))}`)
} else {
  fail(`type stripping is turned off in this Node (--no-experimental-strip-types, maybe in NODE_OPTIONS); Tandem runs on it`)
}
