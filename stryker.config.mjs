// @ts-check
/**
 * `npm run mutation`: StrykerJS on the safety-critical modules. Not part of CI's run (too slow for
 * it); part of the bench. The score is printed at the end (clear-text reporter) and kept in
 * reports/mutation/ (mutation.html, mutation.json; `npm run bench` prints the last one's scores).
 *
 * How the suite runs under Stryker:
 *  - the mocha runner, in process, TypeScript through tsx (testRunnerNodeArgs);
 *  - tests that start child processes (the file-store workers on src/, the CLI on dist/) hand the
 *    active mutant down through __STRYKER_ACTIVE_MUTANT__, which Stryker's instrumented code reads
 *    at start-up: test/mutation-hooks.cjs sets it before each test;
 *  - end-to-end tests run dist/, so a set that includes them builds the instrumented sources into
 *    the sandbox's dist/ first (buildCommand), and needs coverageAnalysis "off": a child process
 *    reports no coverage, so per-test coverage would call every mutant it reaches "not covered".
 *
 * One set at a time, by MUTATION_SET (default "core"): `MUTATION_SET=sessions npm run mutation`.
 * To add a module: a set naming it and the tests that can kill its mutants (few: each mutant runs them).
 */
const SETS = {
  // The modules least likely to change now: retries, the token cache, the cross-process file lock (and its liveness check).
  core: {
    mutate: ['src/lib/http/retry.ts', 'src/lib/oauth/token-cache.ts', 'src/lib/store/file-lock.ts', 'src/lib/process-alive.ts'],
    spec: ['test/unit/retry.test.ts', 'test/unit/token-cache.test.ts', 'test/unit/file-lock.test.ts', 'test/unit/file-store.test.ts'],
  },
  // The local stores: the envelope both encrypted stores seal with, the file store, its passphrase or
  // key, the per-entry locks, private files under TOKENCTL_HOME. Focused unit tests first: a mutant
  // they kill never reaches file-store.test.ts's multi-process tests.
  stores: {
    mutate: ['src/lib/store/envelope.ts', 'src/lib/store/passphrase.ts', 'src/lib/store/store-secret.ts', 'src/lib/store/local-lock.ts', 'src/lib/private-files.ts', 'src/lib/store/file-store.ts'],
    spec: [
      'test/unit/envelope.test.ts',
      'test/unit/private-files.test.ts',
      'test/unit/passphrase.test.ts',
      'test/unit/local-lock.test.ts',
      'test/unit/file-store-details.test.ts',
      'test/unit/file-store.test.ts',
    ],
  },
  // TOKENCTL_REDIS_URL and the settings beside it: pure functions, minutes.
  'redis-url': {
    mutate: ['src/lib/store/redis-url.ts'],
    spec: ['test/unit/redis-url.test.ts', 'test/unit/redis-store-details.test.ts'],
    options: {incremental: true, incrementalFile: 'reports/stryker-incremental-redis-url.json'},
  },
  // The Redis store against one real redis-server (plain and TLS, test/helpers/redis.ts) in the test
  // process; the fast files first. Sentinel and Cluster are the redis-topologies set's.
  redis: {
    mutate: ['src/lib/store/redis-store.ts'],
    spec: ['test/unit/redis-store-details.test.ts', 'test/unit/redis-store.test.ts', 'test/unit/redis-tls.test.ts'],
    options: {incremental: true, incrementalFile: 'reports/stryker-incremental-redis.json'},
  },
  // The connection to each topology, against a real Sentinel set and Cluster (test/helpers/
  // redis-topologies.ts) after the single-server tests. An hour or two from scratch (failovers in the tests):
  // a run retests only the mutants a change touched.
  'redis-topologies': {
    mutate: ['src/lib/store/redis-topology.ts'],
    spec: ['test/unit/redis-store-details.test.ts', 'test/unit/redis-store.test.ts', 'test/unit/redis-tls.test.ts', 'test/unit/redis-topologies.test.ts'],
    options: {incremental: true, incrementalFile: 'reports/stryker-incremental-redis-topologies.json'},
  },
  // Long-running OBO sessions, in one process against the tests' real authorization server
  // (test/e2e/obo-sessions.test.ts runs the same through the CLI, too slowly for every mutant).
  sessions: {
    mutate: ['src/lib/oauth/sessions.ts'],
    spec: ['test/unit/sessions.test.ts'],
  },
  // The refusal of a secret typed as a flag (moved out of base-command.ts so that it can be mutated alone).
  'secret-flags': {
    mutate: ['src/lib/secret-flags.ts'],
    spec: ['test/unit/secret-flags.test.ts'],
  },
  // The OS keychain, against a private Secret Service (test/helpers/keyring.ts). libdbus binds a
  // process to the first session bus it meets and each run of the suite starts a bus of its own, so
  // every mutant gets a fresh test process (maxTestRunnerReuse 1).
  keychain: {
    mutate: ['src/lib/store/keychain-store.ts'],
    spec: ['test/unit/keychain-store.test.ts'],
    options: {maxTestRunnerReuse: 1},
  },
  // The same module through the built CLI (end-to-end: the sandbox's dist/ is built from the mutated
  // sources first), narrowed by grep to the tests that type a secret as a flag. Slower; it shows the
  // unit set's verdicts hold for the command-line path.
  'secret-flags-cli': {
    mutate: ['src/lib/secret-flags.ts'],
    spec: ['test/e2e/first-hour.test.ts'],
    grep: 'secret_on_command_line|--token VALUE names',
    e2e: true,
  },
  // token verify's checks, verdict, input and Entra knowledge, by unit tests (verifyJwt and
  // introspectToken against issuers in the test process). Not jwks.ts and signature.ts: the key fetching.
  verify: {
    mutate: ['src/lib/verify/checks.ts', 'src/lib/verify/verify.ts', 'src/lib/verify/input.ts', 'src/lib/verify/entra.ts', 'src/lib/verify/report.ts', 'src/lib/verify/embedded-keys.ts'],
    spec: ['test/unit/verify-checks.test.ts', 'test/unit/token-verify.test.ts'],
  },
  // What reaches a terminal from outside: pure functions, each code point checked (test/e2e/hostile-answers.test.ts runs the same samples through the CLI).
  'terminal-text': {
    mutate: ['src/lib/terminal-text.ts'],
    spec: ['test/unit/untrusted-text.test.ts'],
  },
  // The HTTP failure policy: which answers each kind of request retries, what a failure to reach a
  // server means in a user's words, how much of an answer is read (the retry loop itself is in core).
  http: {
    mutate: ['src/lib/http/policy.ts', 'src/lib/http/failure.ts', 'src/lib/http/bodies.ts'],
    spec: ['test/unit/http-policy.test.ts'],
  },
  // Sender-constrained tokens (DPoP, mutual TLS): the keys and where they live, the nonces remembered,
  // the proofs, --format header --url, the proof and binding checks of token verify and dev idp's API,
  // the client certificate presented. In one process (test/e2e/dpop.test.ts and mtls.test.ts run the
  // same through the CLI against the strict servers, too slowly for every mutant).
  'sender-constrained': {
    mutate: [
      'src/lib/oauth/dpop-keys.ts',
      'src/lib/oauth/dpop.ts',
      'src/lib/http/dpop-nonces.ts',
      'src/lib/oauth/token-header.ts',
      'src/lib/verify/binding.ts',
      'src/lib/verify/binding-input.ts',
      'src/lib/devidp/sender-constraints.ts',
      'src/lib/http/mtls.ts',
    ],
    spec: ['test/unit/dpop.test.ts', 'test/unit/sender-binding.test.ts'],
  },
  // What --verbose may show: pure functions, killed by unit tests (test/e2e/redaction.test.ts runs the same names through the CLI).
  trace: {
    mutate: ['src/lib/http/trace.ts'],
    spec: ['test/unit/trace.test.ts', 'test/unit/building-blocks.test.ts'],
  },
  // Which destinations count as this machine (plain http allowed, never through a proxy) and the
  // lookup that holds a localhost name to it; the loopback listener every local server uses.
  destination: {
    mutate: ['src/lib/http/destination.ts', 'src/lib/http/loopback.ts'],
    spec: ['test/unit/destination.test.ts'],
  },
  // Discovery of an issuer's metadata (the locations asked, what counts as "not here", the issuer
  // and endpoint checks) and its cache in TOKENCTL_HOME, against servers in the test process.
  discovery: {
    mutate: ['src/lib/oauth/discovery.ts', 'src/lib/oauth/metadata.ts', 'src/lib/document-cache.ts'],
    spec: ['test/unit/discovery.test.ts', 'test/unit/discovery-locations.test.ts', 'test/unit/document-cache.test.ts'],
  },
  // Workload identity federation: where the federated token is read from, where the runner's
  // request token goes, and the advice on a refusal.
  federation: {
    mutate: ['src/lib/oauth/federated.ts'],
    spec: ['test/unit/federated-token.test.ts', 'test/unit/federation.test.ts'],
  },
  // On-behalf-of from a shell: the flavor (decided before the cache is read) and the cache key.
  obo: {
    mutate: ['src/lib/oauth/obo.ts', 'src/lib/oauth/flavor.ts'],
    spec: ['test/unit/obo-token.test.ts'],
  },
  // --output: the file replaced whole or left as it was, never written through a link, and no
  // temporary file left by a signal or an exit (those tests stop a process of their own: coverage
  // "off", as a child process reports none).
  'output-file': {
    mutate: ['src/lib/output-file.ts'],
    spec: ['test/unit/output-file.test.ts'],
    options: {coverageAnalysis: 'off'},
  },
  // Settings in whole layers (flags, a named client, the variables) and the connection checked from them.
  connection: {
    mutate: ['src/lib/config/connection.ts', 'src/lib/config/settings.ts'],
    spec: ['test/unit/connection-settings.test.ts', 'test/unit/connection-layers.test.ts', 'test/unit/federation.test.ts'],
  },
  // token verify's key fetching (jose's remote key set with tokenctl's fetch and cache) and the signature line.
  'verify-keys': {
    mutate: ['src/lib/verify/jwks.ts', 'src/lib/verify/signature.ts'],
    spec: ['test/unit/verify-keys.test.ts', 'test/unit/token-verify.test.ts'],
  },
  // The fast path's recogniser of command lines: what it reads must be what oclif reads, anything else undefined.
  'fast-path': {
    mutate: ['src/fast-path/argv.ts'],
    spec: ['test/unit/fast-path-argv.test.ts'],
  },
  // Client authentication (a secret, a key or a certificate's assertion, none) and the advice on a
  // refused assertion, by unit tests that run openid-client's authentication on a request of their own.
  'client-auth': {
    mutate: ['src/lib/oauth/client-auth.ts'],
    spec: ['test/unit/client-auth.test.ts'],
  },
  // Every grant's request and how its answer is read, against the tests' real authorization server
  // (and purpose-made token endpoints) in the test process.
  grants: {
    mutate: ['src/lib/oauth/grants.ts'],
    spec: ['test/unit/grants.test.ts'],
  },
  // tokenctl call (headers, method, body, one renewal on a 401, retries) and the dispatcher every
  // request goes through (loopback directly, the rest through a proxy variable), against servers and
  // a proxy in the test process.
  'http-call': {
    mutate: ['src/lib/http/call.ts', 'src/lib/http/dispatcher.ts'],
    spec: ['test/unit/call.test.ts'],
  },
}

const name = process.env.MUTATION_SET ?? 'core'
const set = SETS[/** @type {keyof typeof SETS} */ (name)]
if (!set) throw new Error(`MUTATION_SET=${name}: no such set (${Object.keys(SETS).join(', ')})`)
const e2e = 'e2e' in set && set.e2e

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'mocha',
  testRunnerNodeArgs: ['--import', 'tsx'],
  mochaOptions: {spec: set.spec, extension: ['ts'], require: ['test/mutation-hooks.cjs'], ...('grep' in set ? {grep: set.grep} : {})},
  mutate: set.mutate,
  coverageAnalysis: e2e ? 'off' : 'perTest',
  ...(e2e ? {buildCommand: 'npm run build'} : {}),
  // The machine is shared: one test process unless MUTATION_CONCURRENCY says 2.
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 1),
  timeoutMS: 20_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: {fileName: `reports/mutation/${name}.html`},
  jsonReporter: {fileName: `reports/mutation/${name}.json`},
  clearTextReporter: {allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true},
  thresholds: {high: 90, low: 80, break: null},
  tempDirName: '.stryker-tmp',
  ...('options' in set ? set.options : {}),
}
