/**
 * The suite skips nothing: every program a test needs is installed by .ci/run, and locally a missing
 * one is a failure too (not a skip that reads as green), whose message says what to install.
 */
export const DEBIAN_PACKAGES = 'apt-get install gnome-keyring dbus libsecret-tools redis-server redis-sentinel redis-tools openssl'

export function missingPrerequisite(reason: string, install = DEBIAN_PACKAGES): never {
  throw new Error(`missing prerequisite: ${reason}; install it (${install}) — .ci/run does, and no test is skipped for want of it`)
}
