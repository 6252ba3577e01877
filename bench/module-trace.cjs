// Preload (node --require) beside the loader hook module-trace.mjs: at exit, appends every CommonJS
// module the process loaded (require.cache) to the file in TOKENCTL_MODULE_TRACE, since the loader
// hook sees ES modules only (the fast path's bundle and what it requires are CommonJS).
const {appendFileSync} = require('node:fs')
const {pathToFileURL} = require('node:url')

const out = process.env.TOKENCTL_MODULE_TRACE
if (out) {
  process.on('exit', () => {
    const lines = Object.keys(require.cache).map((file) => `cjs ${pathToFileURL(file).href}\n`)
    appendFileSync(out, lines.join(''))
  })
}
