#!/usr/bin/env node
// The `tandem` command (docs/cli.md). Plain JavaScript so it runs without a
// build step: it registers tsx, then runs the TypeScript CLI, which sets the
// exit status.
import { register } from 'tsx/esm/api'

register()
await import('./cli-main.ts')
