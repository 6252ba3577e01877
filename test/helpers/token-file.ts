/**
 * A Kubernetes projected service-account token as the kubelet writes it (its AtomicWriter): the
 * token in a timestamped folder, `..data` a symbolic link to the current folder, and `token` a link
 * to `..data/token`. A rotation writes a new folder and swaps `..data` in one rename, so a reader
 * sees the old token or the new one, never half of either — and must read the file again to see
 * the new one.
 */
import {mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

export interface RotatingTokenFile {
  /** What a pod's AZURE_FEDERATED_TOKEN_FILE names: `<folder>/token`. */
  path: string
  /** The token the file holds now. */
  current: string
  /** Writes this token as the kubelet would (the old one is gone); returns it. */
  rotate(token: string): string
}

export function rotatingTokenFile(directory: string, token: string): RotatingTokenFile {
  mkdirSync(directory, {recursive: true})
  let generation = 0
  const write = (value: string) => {
    const folder = `..${new Date().toISOString().replaceAll(/[:.]/g, '_')}.${generation++}`
    mkdirSync(join(directory, folder))
    writeFileSync(join(directory, folder, 'token'), value, {mode: 0o644})
    let previous: string | undefined
    try {
      previous = readlinkSync(join(directory, '..data'))
    } catch {
      // the first write: no previous generation
    }

    symlinkSync(folder, join(directory, '..data_tmp'))
    renameSync(join(directory, '..data_tmp'), join(directory, '..data'))
    if (previous) rmSync(join(directory, previous), {force: true, recursive: true})
  }

  write(token)
  symlinkSync(join('..data', 'token'), join(directory, 'token'))
  const file: RotatingTokenFile = {
    path: join(directory, 'token'),
    current: token,
    rotate(next) {
      write(next)
      file.current = next
      return next
    },
  }
  return file
}
