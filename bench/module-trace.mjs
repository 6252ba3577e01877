// Node loader hook: appends every ES module URL the process loads to the file in TOKENCTL_MODULE_TRACE
// (module-trace.cjs adds the CommonJS ones at exit),
// so the bench can show what a cache hit really imports (and that openid-client, undici and
// oidc-provider are not among them).
import {appendFileSync} from 'node:fs'

const out = process.env.TOKENCTL_MODULE_TRACE

export async function load(url, context, nextLoad) {
  if (out) appendFileSync(out, `${performance.now().toFixed(1)} ${url}\n`)
  return nextLoad(url, context)
}
