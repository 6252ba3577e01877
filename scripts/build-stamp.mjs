/**
 * What dist/ was built from: a SHA-256 of every file under src/, written as dist/build-stamp.json at
 * the end of `npm run build`. The end-to-end tests run dist/ (through bin/run.js) and compare the
 * stamp with src/ as it is, so that they refuse to test a stale build instead of old code passing
 * for new. Run as a script, it writes the stamp; imported, it compares.
 */
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

export const STAMP = 'dist/build-stamp.json'

/** relative path → SHA-256 of its bytes, for every file under root/src. */
export function sourceHashes(root) {
  const source = join(root, 'src')
  const hashes = {}
  for (const entry of readdirSync(source, {recursive: true, withFileTypes: true})) {
    if (!entry.isFile()) continue
    const file = join(entry.parentPath ?? entry.path, entry.name)
    hashes[relative(root, file)] = createHash('sha256').update(readFileSync(file)).digest('hex')
  }

  return Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => a.localeCompare(b)))
}

/** Why dist/ does not match src/ (the first difference), or undefined when it does. */
export function staleBuild(root) {
  let built
  try {
    built = JSON.parse(readFileSync(join(root, STAMP), 'utf8')).sources
  } catch {
    return `${STAMP} is missing: dist/ was not built by \`npm run build\``
  }

  const now = sourceHashes(root)
  for (const [file, hash] of Object.entries(now)) {
    if (!(file in built)) return `${file} was added since the last build`
    if (built[file] !== hash) return `${file} changed since the last build`
  }

  for (const file of Object.keys(built)) if (!(file in now)) return `${file} was removed since the last build`
  return undefined
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  writeFileSync(join(root, STAMP), `${JSON.stringify({sources: sourceHashes(root)}, null, 1)}\n`)
}
