/**
 * A hostile resolver for end-to-end tests, preloaded into the CLI with
 * `NODE_OPTIONS=--import <this file>`: answers chosen names from TOKENCTL_TEST_RESOLVER_HOSTS the
 * way a hosts-file entry or a DNS server on the path would, without touching /etc/hosts.
 *
 *   TOKENCTL_TEST_RESOLVER_HOSTS='{"evil.localhost": [["192.0.2.2"]]}'            every lookup
 *   TOKENCTL_TEST_RESOLVER_HOSTS='{"flip.localhost": [["127.0.0.1"], ["192.0.2.2"]]}'  1st, then later ones
 *
 * Each lookup of a listed name is appended (one line, the name) to TOKENCTL_TEST_RESOLVER_LOG when
 * set, so a test can count lookups. Other names go to the real resolver.
 */
import dns from 'node:dns'
import {appendFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {syncBuiltinESMExports} from 'node:module'

const hosts = JSON.parse(process.env.TOKENCTL_TEST_RESOLVER_HOSTS ?? '{}')
const log = process.env.TOKENCTL_TEST_RESOLVER_LOG
const seen = new Map()

function answer(hostname) {
  const name = hostname.toLowerCase()
  const answers = hosts[name]
  if (!answers) return undefined
  const count = seen.get(name) ?? 0
  seen.set(name, count + 1)
  if (log) appendFileSync(log, `${name}\n`)
  return answers[Math.min(count, answers.length - 1)].map((address) => ({address, family: isIP(address)}))
}

const realLookup = dns.lookup
dns.lookup = function lookup(hostname, options, callback) {
  const done = typeof options === 'function' ? options : callback
  const opts = typeof options === 'function' ? {} : typeof options === 'number' ? {family: options} : (options ?? {})
  const addresses = answer(hostname)
  if (!addresses) return realLookup.call(this, hostname, options, callback)
  process.nextTick(() => {
    if (opts.all) done(null, addresses)
    else done(null, addresses[0].address, addresses[0].family)
  })
  return {}
}

const realPromisesLookup = dns.promises.lookup
dns.promises.lookup = async function lookup(hostname, options) {
  const addresses = answer(hostname)
  if (!addresses) return realPromisesLookup.call(this, hostname, options)
  return options?.all ? addresses : addresses[0]
}

syncBuiltinESMExports()
