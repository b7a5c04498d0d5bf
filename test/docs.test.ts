/**
 * The documentation stays inside the repository and agrees with it: every link
 * in README.md and the other markdown files points at a file of the repository
 * that exists (and at a heading that exists, for `page.md#anchor`); a path to a
 * .md file mentioned in text names one too; no comment in the code cites the
 * project's private notes outside the repository (what the code relies on is
 * written under docs/); the README's test command is what .ci/run runs; the
 * README's Node.js minimum is package.json's.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sourceComments, sourceFiles } from './helpers/source-files.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SKIP_DIRS = new Set(['node_modules', '.git', '.tap', 'tmp'])

/** Every .md file of the repository, relative to ROOT. */
function markdownFiles (dir = ROOT): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...markdownFiles(join(dir, entry.name)))
    } else if (entry.name.endsWith('.md')) {
      out.push(relative(ROOT, join(dir, entry.name)))
    }
  }
  return out.sort()
}

/** The text outside fenced code blocks (diagrams and shell examples are not links). */
function prose (text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```\s*$/gm, '')
}

/** Inline links `[text](target "title")`, images included, and reference definitions `[id]: target`, outside code spans. */
function linkTargets (text: string): string[] {
  const noCode = prose(text).replace(/`[^`\n]*`/g, '``')
  const inline = [...noCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(m => m[1]!)
  const defs = [...noCode.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map(m => m[1]!)
  return [...inline, ...defs]
}

/**
 * Paths to .md files written in the text (plain or in code spans), such as
 * `../elsewhere/notes.md`; links to other sites, text included, are not mentions.
 */
function mentionedMarkdownPaths (text: string): string[] {
  const local = prose(text).replace(/\[[^\]]*\]\(\s*[a-z][a-z0-9+.-]*:[^)]*\)/gi, '')
  return [...local.matchAll(/(?<![\w./:-])((?:\.{1,2}\/|\/)?(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w/])/g)].map(m => m[1]!)
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

function anchors (file: string): Set<string> {
  const text = prose(readFileSync(file, 'utf8'))
  return new Set([...text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)].map(m => slug(m[1]!)))
}

const inside = (abs: string): boolean => abs === ROOT || abs.startsWith(ROOT + sep)

/** Why `target`, written in `file`, is not a file of the repository; undefined when it is. */
function problem (file: string, target: string, alsoFromRoot: boolean): string | undefined {
  const [path = '', anchor] = target.split('#')
  const base = dirname(join(ROOT, file))
  // A mention such as docs/cli.md may be relative to the file or to the repository root.
  const fromRoot = alsoFromRoot && !path.startsWith('.') && !path.startsWith('/')
  const candidates = path === '' ? [join(ROOT, file)] : [resolve(base, decodeURI(path)), ...(fromRoot ? [resolve(ROOT, path)] : [])]
  const found = candidates.find(c => inside(c) && existsSync(c))
  if (found === undefined) {
    return candidates.some(inside) ? 'missing file' : 'leaves the repository'
  }
  if (anchor !== undefined && anchor !== '' && found.endsWith('.md') && statSync(found).isFile() && !anchors(found).has(anchor)) {
    return `no heading #${anchor}`
  }
  return undefined
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target)

t.test('every markdown link points at an existing file inside the repository', async t => {
  const files = markdownFiles()
  t.ok(files.includes('README.md') && files.includes(join('docs', 'design.md')), 'README.md and docs/ are checked')
  for (const file of files) {
    for (const target of linkTargets(readFileSync(join(ROOT, file), 'utf8'))) {
      if (isExternal(target)) continue
      const why = problem(file, target, false)
      t.equal(why, undefined, `${file}: link ${target}`)
    }
  }
})

t.test('every .md path written in the text names a file inside the repository', async t => {
  for (const file of markdownFiles()) {
    for (const path of mentionedMarkdownPaths(readFileSync(join(ROOT, file), 'utf8'))) {
      const why = problem(file, path, true)
      t.equal(why, undefined, `${file}: mentions ${path}`)
    }
  }
})

/**
 * Citations in a comment of notes kept outside the repository: the parent
 * folder's shared notes, its upper-case design and style pages (docs/design.md
 * is the repository's own), or an absolute path into the machine's work
 * folder. Public specifications cited by their project (NBD's doc/proto.md)
 * are fine.
 */
const OUTSIDE_CITATION = /\.\.\/shared\b|\bshared\/(?:notes|DESIGN|STYLE)\b|(?<![\w-])notes\/[\w-]+(?:\.[\w-]+)*|\/work\/|\b(?:DESIGN|STYLE)\.md\b/g

function outsideCitations (comment: string): string[] {
  return [...comment.matchAll(OUTSIDE_CITATION)].map(m => m[0])
}

t.test('no source comment cites notes outside the repository', async t => {
  let files = 0
  for (const file of sourceFiles(ROOT)) {
    files++
    const cited = sourceComments(readFileSync(file, 'utf8'), file).flatMap(outsideCitations)
    t.same(cited, [], `${relative(ROOT, file)}: cite docs/ instead`)
  }
  t.ok(files > 100, 'the sources were read')
})

t.test('the checks catch what they are for', async t => {
  t.same(linkTargets('See [design](../shared/DESIGN.md) and [x](https://example.org).\n[ref]: docs/a.md\n'), ['../shared/DESIGN.md', 'https://example.org', 'docs/a.md'])
  t.same(linkTargets('`[not](a link)` and\n```\n[no](link.md)\n```\n'), [])
  t.same(mentionedMarkdownPaths('See `../shared/DESIGN.md` and /work/shared/notes/qemu.md, or docs/cli.md.'), ['../shared/DESIGN.md', '/work/shared/notes/qemu.md', 'docs/cli.md'])
  t.same(mentionedMarkdownPaths('the [doc/proto.md](https://example.org/doc/proto.md) spec'), [], 'a link to another site is not a mention')
  t.equal(problem('README.md', '../shared/DESIGN.md', false), 'leaves the repository')
  t.equal(problem('README.md', '/work/shared/DESIGN.md', true), 'leaves the repository')
  t.equal(problem('README.md', 'docs/no-such-page.md', false), 'missing file')
  t.equal(problem('README.md', 'docs/cli.md#no-such-heading', false), 'no heading #no-such-heading')
  t.equal(problem('README.md', 'docs/cli.md', false), undefined)
  const code = [
    '/** Backpressure: ../shared/notes/stack.md. */',
    "const s = '../shared/notes/x.md' // a string is not a comment; see DESIGN.md",
    'const r = /notes\\/x/ /* STYLE.md: ok? */',
    'function f () {', '  return 1', '  // before the brace: shared/notes/qemu.md', '}',
    '// docs/design.md and docs/platform-notes.md are ours; doc/proto.md of NBD is public'
  ].join('\n')
  t.same(sourceComments(code).flatMap(outsideCitations), ['../shared', 'notes/stack.md', 'DESIGN.md', 'STYLE.md', 'shared/notes'])
})

t.test('.ci/run runs exactly the README\'s test command', async t => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
  const command = /^(npm install [^\n#]*&& npm test)\b/m.exec(readme)?.[1]?.trim()
  t.ok(command, 'the README has a test command')
  const ciLine = ci.split('\n').find(line => /^\s*npm /.test(line))
  t.ok(ciLine?.trim().startsWith(command!), `.ci/run runs it: ${String(ciLine)}`)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.match(pkg.scripts.pretest, /scripts\/system-packages\.sh/, 'npm test installs the system packages first')
})

t.test('the README states the Node.js version package.json requires', async t => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  const minimum = /^>=\s*(\d+\.\d+)$/.exec(pkg.engines.node)?.[1]
  t.ok(minimum, `engines.node is a minimum: ${pkg.engines.node}`)
  t.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), new RegExp(`Node\\.js ${minimum!.replace('.', '\\.')} or newer`))
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  const [wantMajor = 0, wantMinor = 0] = minimum!.split('.').map(Number)
  t.ok(major > wantMajor || (major === wantMajor && minor >= wantMinor), `this runtime (${process.version}) meets it`)
})
