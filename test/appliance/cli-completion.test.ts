/**
 * `tandem completion bash`: the script the real CLI prints, sourced into a
 * real bash, completes commands, subcommands, options and paths.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from '../helpers/fixtures.ts'
import { tandemOk } from '../helpers/tandem-cli.ts'

/** What bash completes for the command line `line` (the last word is the one being completed). */
function complete (script: string, line: string, cwd: string): string[] {
  const words = line.split(' ')
  const program = `${script}
COMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_tandem_complete
printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['--norc', '--noprofile', '-c', program], { cwd, encoding: 'utf8' }).split('\n').filter(w => w !== '').sort()
}

t.test('the bash script completes the command tree, options and paths', async t => {
  const script = await tandemOk(['completion', 'bash'])
  const dir = await tempDir(t)
  await mkdir(join(dir, 'stores'))
  await writeFile(join(dir, 'seed.file'), '')

  t.ok(complete(script, 'tandem st', dir).includes('store'), 'a command')
  t.same(complete(script, 'tandem store ', dir).filter(w => !w.startsWith('-')), ['repair', 'verify'], 'subcommands of a group')
  t.ok(complete(script, 'tandem store verify --st', dir).includes('--store'), 'an option of a subcommand')
  t.same(complete(script, 'tandem verify --store s', dir), ['stores'], 'a <dir> option completes directories')
  t.ok(complete(script, 'tandem restore --out s', dir).includes('seed.file'), 'a <file> option completes files')
  t.ok(complete(script, 'tandem --store x store ', dir).includes('repair'), 'options before the command are skipped')
  t.ok(complete(script, 'tandem completion ', dir).includes('bash'))
})
