/**
 * The lint rule against import cycles closed by a type-only import (scripts/lint/type-import-cycles.js),
 * which import-x/no-cycle leaves out: run by ESLint, as `npm run lint` runs it, on a small project.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {ESLint} from 'eslint'
import {parser} from 'typescript-eslint'

const RULE = path.resolve(import.meta.dirname, '../../scripts/lint/type-import-cycles.js')

/** The messages of the rule for each file of a project made of `files`, type-checked as tokenctl's is. */
async function lint(files: Record<string, string>): Promise<Record<string, string[]>> {
  const root = mkdtempSync(path.join(tmpdir(), 'tokenctl-lint-'))
  try {
    const compilerOptions = {module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, verbatimModuleSyntax: true}
    writeFileSync(path.join(root, 'tsconfig.json'), JSON.stringify({compilerOptions, include: ['*.ts']}))
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, name), text)
    const {plugin} = (await import(pathToFileURL(RULE).href)) as {plugin: ESLint.Plugin}
    const eslint = new ESLint({
      cwd: root,
      overrideConfig: {
        files: ['*.ts'],
        languageOptions: {parser, parserOptions: {project: './tsconfig.json', tsconfigRootDir: root}},
        plugins: {tokenctl: plugin},
        rules: {'tokenctl/no-type-import-cycle': 'error'},
      },
      overrideConfigFile: true,
    })
    const results = await eslint.lintFiles(Object.keys(files))
    return Object.fromEntries(results.map((result) => [path.basename(result.filePath), result.messages.map((message) => message.message)]))
  } finally {
    rmSync(root, {force: true, recursive: true})
  }
}

describe('lint: no import cycle through a type-only import', function () {
  // Each case builds a TypeScript program.
  this.timeout(60_000)

  it('reports each type-only import of a cycle, with the way back; an import of a type that closes no cycle passes', async () => {
    const messages = await lint({
      'command.ts': "import {run} from './operation.js'\nexport const flags = {verbose: true}\nexport const command = () => run({verbose: true})\n",
      'operation.ts': "import type {flags} from './command.js'\nexport const run = (input: {[K in keyof typeof flags]: boolean}) => input\n",
      'reader.ts': "import type {flags} from './command.js'\nexport type Flags = typeof flags\n",
    })
    assert.deepEqual(messages, {
      'command.ts': [],
      'operation.ts': ['Import cycle through a type-only import: operation.ts → command.ts → operation.ts'],
      'reader.ts': [],
    })
  })

  it('reports a cycle of type-only imports on both sides, and one several modules long', async () => {
    const messages = await lint({
      'a.ts': "import type {B} from './b.js'\nexport type A = {b?: B}\n",
      'b.ts': "import type {A} from './a.js'\nexport type B = {a?: A}\n",
      'c.ts': "import {e} from './e.js'\nexport const c = e\n",
      'd.ts': "import {c} from './c.js'\nexport const d = c\n",
      'e.ts': "import type {d} from './d.js'\nexport const e = 1 as unknown as typeof d\n",
    })
    assert.deepEqual(messages, {
      'a.ts': ['Import cycle through a type-only import: a.ts → b.ts → a.ts'],
      'b.ts': ['Import cycle through a type-only import: b.ts → a.ts → b.ts'],
      'c.ts': [],
      'd.ts': [],
      'e.ts': ['Import cycle through a type-only import: e.ts → d.ts → c.ts → e.ts'],
    })
  })
})
