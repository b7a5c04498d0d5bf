/**
 * The project's own source files and the compiler's view of them, for the
 * tests that read the code itself (test/architecture.test.ts,
 * test/docs.test.ts).
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

/** Folders never read: installed packages and tool output. */
const SKIP_DIRS = new Set(['node_modules', '.git', '.tap', 'tmp'])

/** TypeScript and JavaScript sources. */
export const SOURCE_FILE = /\.(?:[cm]?ts|[cm]?js)$/

/** Every source file under `dir` (absolute paths, sorted); none when `dir` does not exist. */
export function sourceFiles (dir: string): string[] {
  let entries
  try { entries = readdirSync(dir, { withFileTypes: true }) } catch { return [] }
  const out: string[] = []
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...sourceFiles(p))
    } else if (SOURCE_FILE.test(e.name) && !e.name.endsWith('.d.ts')) {
      out.push(p)
    }
  }
  return out.sort()
}

/**
 * The comments of a source text, as written (`// ...` and block comments,
 * JSDoc included), found by the compiler's parser: text inside strings,
 * template literals and regular expressions never counts. Every comment is
 * trivia before some token (the end-of-file token included), so reading the
 * trivia before each token finds them all.
 */
export function sourceComments (text: string, fileName = 'x.ts'): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKind(fileName))
  const ranges = new Map<number, ts.CommentRange>()
  const visit = (node: ts.Node): void => {
    for (const r of ts.getLeadingCommentRanges(text, node.pos) ?? []) ranges.set(r.pos, r)
    for (const r of ts.getTrailingCommentRanges(text, node.pos) ?? []) ranges.set(r.pos, r)
    for (const child of node.getChildren(file)) visit(child)
  }
  visit(file)
  return [...ranges.values()].sort((a, b) => a.pos - b.pos).map(r => text.slice(r.pos, r.end))
}

function scriptKind (fileName: string): ts.ScriptKind {
  return /\.[cm]?js$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS
}
