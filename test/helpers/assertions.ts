import {strict as assert} from 'node:assert'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {ExitCode, type StoreError} from '../../src/lib/errors.js'
import type {CliResult} from './cli.js'

export function expectExit(result: CliResult, code: number): void {
  assert.equal(result.code, code, `expected exit ${code}, got ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
}

/** stdout parsed as JSON, or a failure that shows what came instead. */
export function stdoutJson(result: CliResult): any {
  try {
    return JSON.parse(result.stdout)
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

/** Every file under a directory, as one string: to prove a secret is in none of them. */
export function allFileContents(directory: string): string {
  let text = ''
  for (const entry of readdirSync(directory, {recursive: true}) as string[]) {
    const file = join(directory, entry)
    if (statSync(file).isFile()) text += readFileSync(file).toString('latin1')
  }

  return text
}

/** Polls until condition holds or timeoutMs passes; then the caller asserts what it waited for. */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; !condition() && waited < timeoutMs; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * The StoreError `code` a promise rejects with (exit code 7), returned for further checks. Judged by
 * name: a module imported dynamically (openStore's backends) is another instance under mocha's tsx.
 */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof Error && error.name === 'StoreError', `expected a StoreError, got ${String(error)}`)
    const storeError = error as StoreError
    assert.equal(storeError.code, code, storeError.message)
    assert.equal(storeError.exitCode, ExitCode.store)
    return storeError
  }

  assert.fail(`expected a StoreError ${code}`)
}
