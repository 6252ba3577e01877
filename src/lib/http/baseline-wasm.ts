import {setFlagsFromString} from 'node:v8'

/**
 * fetch (undici, built into Node) parses HTTP with llhttp compiled to WebAssembly. V8 compiles it
 * with its baseline compiler (Liftoff) at once, then again with its optimising one on background
 * threads; and a process does not exit before its background compilations end. For a command that
 * makes a request or two, whose small responses the baseline code parses just as well, that second
 * compilation only delays the exit: by 40–50 ms of a one-request `token client --no-cache` (measured
 * with `node --liftoff-only` and without). So V8 keeps the baseline code only. Nothing but llhttp is WebAssembly here.
 *
 * Set it as late as possible: once V8's flags change, the code cache node ships for its own modules
 * no longer matches them, and every such module loaded afterwards is compiled from source (loading
 * the fetch built into Node took 27 ms more CPU after the flag than before it). Requests that go
 * straight over node:https (./direct.ts) parse with node's C parser and need neither.
 *
 * --liftoff-only is in V8 11–13 (Node 20–24); with a V8 that does not know it, setFlagsFromString
 * would print an error, so it is only set where it is known.
 */
let done = false

export function baselineWasmOnly(): void {
  if (done) return
  done = true
  const major = Number(process.versions.v8.split('.')[0])
  if (major >= 11 && major <= 13) setFlagsFromString('--liftoff-only')
}
