/**
 * The sealed envelope of the encrypted stores (src/lib/store/envelope.ts): its layout is a file
 * format that existing stores depend on, so a store sealed by an earlier tokenctl is kept here as a
 * fixture and must keep opening (one sealed with a passphrase, one with a key); every way an envelope
 * can be damaged has its own one-line reason.
 */
import {strict as assert} from 'node:assert'
import {createHash, hkdfSync, scryptSync} from 'node:crypto'

import {
  DEFAULT_KDF_PARAMS,
  deriveKey,
  kdfParamsProblem,
  type KdfParams,
  keyCheck,
  memoisedDerive,
  NO_KDF_PARAMS,
  type OpenResult,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  sealingParams,
  secretKind,
  type StoreSecret,
} from '../../src/lib/store/envelope.js'

/** Sealed by tokenctl 0.1 under FIXTURE_PASSPHRASE with N=1024, r=4, p=2 (distinct, so a swap of two shows). */
const FIXTURE = Buffer.from(
  'VEtTRQEBAAAEAAAAAAQAAAAC845D3rkZSKTcKFdHvkvL9MsKf1Jt7ylhPUkV6he4DSXxr5giwmxDqpLQHXoAAAApnQEAF8TmBMg1CAoO8DZ7hEfuTjeaLtJUBNUAP1OSgKpc7k7kAtcejJO/vbxsGC4RTLoqfQp7ltreJwfQeAE234U=',
  'base64',
)
const FIXTURE_PASSPHRASE = 'fixture passphrase ü'
const FIXTURE_PLAINTEXT = '{"entries":{"client-secret:ci":"s3cret"}}'
const FIXTURE_PARAMS = {N: 1024, p: 2, r: 4}

/** Sealed by tokenctl 0.1 under KEY_FIXTURE_KEY (the bytes 0 to 31), with HKDF: kdf 2, no parameters. */
const KEY_FIXTURE = Buffer.from(
  'VEtTRQECAAAAAAAAAAAAAAAAiULffYBaCqfLYqUijO2mZqbNKTtOJsgn4sg3gf17IyiyilQSFV++0rsIdPsAAAApAMem9htBvRQ4Sc5i5WHSgEbO7UxP/lSlMFlmfryJP5WsNMNF68Wb05BKnbv4LqXpibun8+qvwY6JGJe9dp4PR9c=',
  'base64',
)
const KEY_FIXTURE_KEY = {key: Buffer.from(Array.from({length: 32}, (_, index) => index))}

const CHEAP: KdfParams = {N: 1024, p: 1, r: 8}
const HEADER_BYTES = 66
const DIGEST_BYTES = 8

/** A copy of data with its header edited and its header digest recomputed: damage the digest cannot tell. */
function withHeader(data: Buffer, edit: (header: Buffer) => void): Buffer {
  const copy = Buffer.from(data)
  const header = copy.subarray(0, HEADER_BYTES)
  edit(header)
  createHash('sha256').update(header).digest().copy(copy, HEADER_BYTES, 0, DIGEST_BYTES)
  return copy
}

function parseFails(data: Buffer, message: string | RegExp): void {
  assert.throws(
    () => parseEnvelope(data),
    (error: Error) => (typeof message === 'string' ? error.message === message : message.test(error.message)),
  )
}

async function opensAs(data: Buffer, secret: StoreSecret, failure: 'corrupt' | 'wrong_secret', reason: string): Promise<void> {
  assert.deepEqual(await openEnvelope(data, secret), {failure, ok: false, reason})
}

const aKey = (fill: number) => ({key: Buffer.alloc(32, fill)})

describe('store envelope', () => {
  describe('the format', () => {
    it('opens an envelope an earlier tokenctl sealed, recording its parameters, salt, nonce and lengths', async () => {
      const opened = await openEnvelope(FIXTURE, FIXTURE_PASSPHRASE)
      assert.ok(opened.ok)
      assert.equal(opened.plaintext.toString('utf8'), FIXTURE_PLAINTEXT)

      const parsed = parseEnvelope(FIXTURE)
      assert.equal(parsed.version, 1)
      assert.deepEqual(parsed.params, FIXTURE_PARAMS)
      assert.equal(parsed.header.length, HEADER_BYTES)
      assert.ok(parsed.header.equals(FIXTURE.subarray(0, HEADER_BYTES)))
      assert.equal(parsed.salt.length, 16)
      assert.equal(parsed.nonce.length, 12)
      assert.equal(parsed.check.length, 16)
      assert.equal(parsed.tag.length, 16)
      assert.equal(parsed.ciphertext.length, FIXTURE_PLAINTEXT.length)
      assert.ok(parsed.salt.equals(FIXTURE.subarray(18, 34)))
      assert.ok(parsed.nonce.equals(FIXTURE.subarray(34, 46)))
      assert.ok(parsed.check.equals(FIXTURE.subarray(46, 62)))
      assert.ok(parsed.tag.equals(FIXTURE.subarray(-16)))
    })

    it('seals what it opens: a fresh salt and nonce each time, the parameters recorded, the plaintext nowhere', async () => {
      const plaintext = Buffer.from('{"entries":{"a":"recognisable plaintext"}}')
      const first = await sealEnvelope(plaintext, 'p', CHEAP)
      const second = await sealEnvelope(plaintext, 'p', CHEAP)
      assert.equal(first.length, HEADER_BYTES + DIGEST_BYTES + plaintext.length + 16)
      assert.equal(first.subarray(0, 6).toString('latin1'), 'TKSE\x01\x01')
      assert.ok(!first.includes(plaintext), 'the plaintext is not in the envelope')
      const [a, b] = [parseEnvelope(first), parseEnvelope(second)]
      assert.ok(!a.salt.equals(b.salt), 'salt reused')
      assert.ok(!a.nonce.equals(b.nonce), 'nonce reused')
      assert.deepEqual(a.params, CHEAP)
      for (const sealed of [first, second]) {
        const opened = await openEnvelope(sealed, 'p')
        assert.ok(opened.ok && opened.plaintext.equals(plaintext))
      }
    })

    it('seals an empty plaintext', async () => {
      const sealed = await sealEnvelope(Buffer.alloc(0), 'p', CHEAP)
      const opened = await openEnvelope(sealed, 'p')
      assert.ok(opened.ok && opened.plaintext.length === 0)
    })

    it('seals with the default parameters when given none', async function () {
      this.timeout(10_000)
      const sealed = await sealEnvelope(Buffer.from('x'), 'p')
      assert.deepEqual(parseEnvelope(sealed).params, {N: 2 ** 14, p: 1, r: 8})
      assert.deepEqual(DEFAULT_KDF_PARAMS, {N: 2 ** 14, p: 1, r: 8})
      assert.ok(Object.isFrozen(DEFAULT_KDF_PARAMS))
    })

    it('seals under a given salt (the Redis store shares one per store) and refuses a salt of another size', async () => {
      const salt = Buffer.alloc(16, 7)
      const sealed = await sealEnvelope(Buffer.from('x'), 'p', CHEAP, {salt})
      assert.ok(parseEnvelope(sealed).salt.equals(salt))
      await assert.rejects(sealEnvelope(Buffer.from('x'), 'p', CHEAP, {salt: Buffer.alloc(15)}), {message: 'a salt is 16 bytes', name: 'RangeError'})
      await assert.rejects(sealEnvelope(Buffer.from('x'), 'p', CHEAP, {salt: Buffer.alloc(17)}), RangeError)
    })

    it('seals and opens with the key a given derivation returns, for the salt and parameters it records', async () => {
      const calls: Array<{params: KdfParams; salt: Buffer}> = []
      const key = await deriveKey('p', Buffer.alloc(16, 1), CHEAP)
      const derive = async (salt: Buffer, params: KdfParams) => {
        calls.push({params, salt})
        return key
      }

      const sealed = await sealEnvelope(Buffer.from('derived'), 'not the passphrase', CHEAP, {derive, salt: Buffer.alloc(16, 1)})
      assert.deepEqual(calls, [{params: CHEAP, salt: Buffer.alloc(16, 1)}])
      const opened = await openEnvelope(sealed, 'p')
      assert.ok(opened.ok && opened.plaintext.toString() === 'derived', "the derived key is the passphrase's")
      const again = await openEnvelope(sealed, 'also not the passphrase', derive)
      assert.ok(again.ok && again.plaintext.toString() === 'derived')
      assert.equal(calls.length, 2)
      assert.ok(calls[1].salt.equals(Buffer.alloc(16, 1)))
      assert.deepEqual(calls[1].params, CHEAP)
    })
  })

  describe('opening', () => {
    it('a wrong passphrase is told apart from damage', async () => {
      await opensAs(FIXTURE, 'not the passphrase', 'wrong_secret', 'wrong passphrase')
    })

    it('takes the passphrase as Unicode text: NFC and NFD spellings open the same store', async () => {
      const nfd = FIXTURE_PASSPHRASE.normalize('NFD')
      assert.notEqual(nfd, FIXTURE_PASSPHRASE)
      assert.ok((await openEnvelope(FIXTURE, nfd)).ok)
    })

    it('a damaged body under the right passphrase fails authentication', async () => {
      const damaged = Buffer.from(FIXTURE)
      damaged[HEADER_BYTES + DIGEST_BYTES] ^= 1
      await opensAs(damaged, FIXTURE_PASSPHRASE, 'corrupt', 'the contents fail authentication (damaged or altered)')
      const tag = Buffer.from(FIXTURE)
      tag[tag.length - 1] ^= 1
      await opensAs(tag, FIXTURE_PASSPHRASE, 'corrupt', 'the contents fail authentication (damaged or altered)')
    })

    it('a header changed consistently (digest recomputed) fails authentication: the header is authenticated data', async () => {
      const nonce = withHeader(FIXTURE, (header) => (header[34] ^= 1))
      await opensAs(nonce, FIXTURE_PASSPHRASE, 'corrupt', 'the contents fail authentication (damaged or altered)')
    })

    it('a damaged check under the right passphrase reads as a wrong passphrase only when the digest was recomputed', async () => {
      const check = Buffer.from(FIXTURE)
      check[46] ^= 1
      await opensAs(check, FIXTURE_PASSPHRASE, 'corrupt', 'the header is damaged')
      await opensAs(
        withHeader(FIXTURE, (header) => (header[46] ^= 1)),
        FIXTURE_PASSPHRASE,
        'wrong_secret',
        'wrong passphrase',
      )
    })

    it('an envelope that does not parse is corrupt, with the reason', async () => {
      await opensAs(Buffer.from('garbage'), 'p', 'corrupt', 'not a tokenctl store (unknown format)')
    })
  })

  describe('parsing a damaged envelope', () => {
    it('not ours: too short for the magic, or another magic', () => {
      for (const data of [Buffer.alloc(0), Buffer.from('TKS'), Buffer.from('TKSX'), Buffer.concat([Buffer.from('XKSE'), FIXTURE.subarray(4)])]) {
        parseFails(data, 'not a tokenctl store (unknown format)')
      }
    })

    it('truncated inside the header or its digest', () => {
      for (const length of [4, 10, HEADER_BYTES, HEADER_BYTES + DIGEST_BYTES - 1]) parseFails(FIXTURE.subarray(0, length), 'truncated (the header is incomplete)')
    })

    it('a header with its digest and nothing else is a truncated body', () => {
      parseFails(FIXTURE.subarray(0, HEADER_BYTES + DIGEST_BYTES), `truncated (${HEADER_BYTES + DIGEST_BYTES} of ${FIXTURE.length} bytes)`)
    })

    it('another format version', () => {
      parseFails(
        withHeader(FIXTURE, (header) => (header[4] = 2)),
        'format version 2 is not supported by this tokenctl',
      )
      parseFails(
        withHeader(FIXTURE, (header) => (header[4] = 0)),
        'format version 0 is not supported by this tokenctl',
      )
    })

    it('a header that does not match its digest', () => {
      for (const at of [5, 6, 18, 33, 34, 62, 65]) {
        const damaged = Buffer.from(FIXTURE)
        damaged[at] ^= 0x10
        parseFails(damaged, 'the header is damaged')
      }

      const digest = Buffer.from(FIXTURE)
      digest[HEADER_BYTES + DIGEST_BYTES - 1] ^= 1
      parseFails(digest, 'the header is damaged')
    })

    it('another key derivation', () => {
      for (const kdf of [0, 3, 255])
        parseFails(
          withHeader(FIXTURE, (header) => (header[5] = kdf)),
          `key derivation ${kdf} is not supported by this tokenctl`,
        )
    })

    it('an HKDF envelope that records parameters, or a scrypt one that records none', () => {
      parseFails(
        withHeader(FIXTURE, (header) => (header[5] = 2)),
        'key derivation HKDF takes no parameters, not N=1024 r=4 p=2',
      )
      for (const at of [6, 10, 14]) {
        parseFails(
          withHeader(KEY_FIXTURE, (header) => header.writeUInt32BE(1, at)),
          /^key derivation HKDF takes no parameters, not N=[01] r=[01] p=[01]$/,
        )
      }

      parseFails(
        withHeader(KEY_FIXTURE, (header) => (header[5] = 1)),
        'scrypt N=0 is not a power of two between 2^10 and 2^22',
      )
    })

    it('a body shorter or longer than the header says', () => {
      parseFails(FIXTURE.subarray(0, FIXTURE.length - 1), `truncated (${FIXTURE.length - 1} of ${FIXTURE.length} bytes)`)
      parseFails(Buffer.concat([FIXTURE, Buffer.from('xyz')]), '3 unexpected bytes after the end')
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(FIXTURE_PLAINTEXT.length + 1, 62)),
        `truncated (${FIXTURE.length} of ${FIXTURE.length + 1} bytes)`,
      )
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(FIXTURE_PLAINTEXT.length - 2, 62)),
        '2 unexpected bytes after the end',
      )
    })

    it('parameters no derivation should run with, whatever the header says', () => {
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(3000, 6)),
        'scrypt N=3000 is not a power of two between 2^10 and 2^22',
      )
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(0, 10)),
        'scrypt r=0 is out of range',
      )
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(99, 14)),
        'scrypt p=99 is out of range',
      )
      parseFails(
        withHeader(FIXTURE, (header) => header.writeUInt32BE(2 ** 22, 6)),
        'scrypt N=4194304 r=4 needs more than 256 MiB',
      )
    })
  })

  describe('a store key instead of a passphrase', () => {
    it('opens an envelope an earlier tokenctl sealed with a key: kdf 2 (HKDF), no parameters', async () => {
      const opened = await openEnvelope(KEY_FIXTURE, KEY_FIXTURE_KEY)
      assert.ok(opened.ok)
      assert.equal(opened.plaintext.toString('utf8'), FIXTURE_PLAINTEXT)
      const parsed = parseEnvelope(KEY_FIXTURE)
      assert.equal(KEY_FIXTURE[5], 2)
      assert.equal(parsed.sealedWith, 'key')
      assert.deepEqual(parsed.params, {N: 0, p: 0, r: 0})
      assert.equal(parseEnvelope(FIXTURE).sealedWith, 'passphrase')
    })

    it('seals with a key: kdf 2, the parameters it is given left out, a fresh salt and nonce each time', async () => {
      const plaintext = Buffer.from('{"entries":{"a":"recognisable plaintext"}}')
      const first = await sealEnvelope(plaintext, aKey(1), CHEAP)
      const second = await sealEnvelope(plaintext, aKey(1))
      assert.equal(first.subarray(0, 6).toString('latin1'), 'TKSE\x01\x02')
      assert.ok(first.subarray(6, 18).equals(Buffer.alloc(12)), 'N, r and p are zero')
      assert.ok(!first.includes(plaintext))
      const [a, b] = [parseEnvelope(first), parseEnvelope(second)]
      assert.ok(!a.salt.equals(b.salt), 'salt reused')
      assert.ok(!a.nonce.equals(b.nonce), 'nonce reused')
      for (const sealed of [first, second]) {
        const opened = await openEnvelope(sealed, aKey(1))
        assert.ok(opened.ok && opened.plaintext.equals(plaintext))
      }
    })

    it('the key is HKDF-SHA256 of the store key, the salt and "tokenctl-store-envelope", 32 bytes: no scrypt', async () => {
      const salt = Buffer.alloc(16, 9)
      const derived = await deriveKey(aKey(2), salt, DEFAULT_KDF_PARAMS)
      assert.ok(derived.equals(Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), salt, 'tokenctl-store-envelope', 32))))
      assert.ok(!derived.equals(await deriveKey(aKey(2), Buffer.alloc(16, 8), DEFAULT_KDF_PARAMS)), 'each salt has its own key')
      const {salt: fixtureSalt, check} = parseEnvelope(KEY_FIXTURE)
      assert.ok(keyCheck(await deriveKey(KEY_FIXTURE_KEY, fixtureSalt, NO_KDF_PARAMS)).equals(check))
    })

    it('refuses a key that is not 32 bytes', async () => {
      for (const length of [0, 16, 31, 33, 64]) {
        await assert.rejects(deriveKey({key: Buffer.alloc(length, 1)}, Buffer.alloc(16), NO_KDF_PARAMS), {message: 'a store key is 32 bytes', name: 'RangeError'})
      }
    })

    it('a wrong key is told apart from damage', async () => {
      await opensAs(KEY_FIXTURE, aKey(0), 'wrong_secret', 'wrong key')
      const damaged = Buffer.from(KEY_FIXTURE)
      damaged[damaged.length - 1] ^= 1
      await opensAs(damaged, KEY_FIXTURE_KEY, 'corrupt', 'the contents fail authentication (damaged or altered)')
    })

    it('a store sealed with a passphrase does not open with a key, nor the reverse: which one it needs, before any derivation', async () => {
      const derived: unknown[] = []
      const derive = async (salt: Buffer) => {
        derived.push(salt)
        return Buffer.alloc(32)
      }

      const withKey: OpenResult = await openEnvelope(FIXTURE, aKey(3), derive)
      assert.deepEqual(withKey, {failure: 'other_secret', ok: false, reason: 'sealed with a passphrase, not a key', sealedWith: 'passphrase'})
      const withPassphrase = await openEnvelope(KEY_FIXTURE, FIXTURE_PASSPHRASE, derive)
      assert.deepEqual(withPassphrase, {failure: 'other_secret', ok: false, reason: 'sealed with a key, not a passphrase', sealedWith: 'key'})
      assert.deepEqual(derived, [], 'no derivation ran')
    })

    it('a string is a passphrase, an object a key; a key seal records no parameters', () => {
      assert.equal(secretKind('p'), 'passphrase')
      assert.equal(secretKind(aKey(1)), 'key')
      assert.deepEqual(sealingParams('p', CHEAP), CHEAP)
      assert.deepEqual(sealingParams('p'), DEFAULT_KDF_PARAMS)
      assert.deepEqual(sealingParams(aKey(1), CHEAP), {N: 0, p: 0, r: 0})
      assert.ok(Object.isFrozen(NO_KDF_PARAMS))
    })

    it('a memoised derivation of a key derives as deriveKey does, once per salt', async () => {
      const derive = memoisedDerive(aKey(4))
      const salt = Buffer.alloc(16, 5)
      const first = derive(salt, NO_KDF_PARAMS)
      assert.equal(derive(salt, {...NO_KDF_PARAMS}), first)
      assert.ok((await first).equals(await deriveKey(aKey(4), salt, NO_KDF_PARAMS)))
      assert.ok(!(await derive(Buffer.alloc(16, 6), NO_KDF_PARAMS)).equals(await first))
    })
  })

  describe('scrypt parameters', () => {
    it('N is a power of two from 2^10 to 2^22', () => {
      for (const N of [2 ** 10, 2 ** 11, 2 ** 14, 2 ** 20]) assert.equal(kdfParamsProblem({N, p: 1, r: 1}), undefined, `N=${N}`)
      // 2^22 is in range, though at r=1 it already needs 512 MiB.
      assert.equal(kdfParamsProblem({N: 2 ** 22, p: 1, r: 1}), 'scrypt N=4194304 r=1 needs more than 256 MiB')
      for (const N of [0, 2 ** 9, 2 ** 23, 1023, 1025, 3 * 2 ** 10, 1024.5, Number.NaN, -1024]) {
        assert.equal(kdfParamsProblem({N, p: 1, r: 1}), `scrypt N=${N} is not a power of two between 2^10 and 2^22`, `N=${N}`)
      }
    })

    it('r is an integer from 1 to 64, p from 1 to 16', () => {
      for (const r of [1, 8, 64]) assert.equal(kdfParamsProblem({N: 1024, p: 1, r}), undefined, `r=${r}`)
      for (const r of [0, 65, 1.5, -1]) assert.equal(kdfParamsProblem({N: 1024, p: 1, r}), `scrypt r=${r} is out of range`, `r=${r}`)
      for (const p of [1, 2, 16]) assert.equal(kdfParamsProblem({N: 1024, p, r: 8}), undefined, `p=${p}`)
      for (const p of [0, 17, 1.5, -1]) assert.equal(kdfParamsProblem({N: 1024, p, r: 8}), `scrypt p=${p} is out of range`, `p=${p}`)
    })

    it('the memory a derivation takes stays under 256 MiB (128·r·(N+2) + 128·r·p bytes)', () => {
      assert.equal(kdfParamsProblem({N: 2 ** 17, p: 16, r: 8}), undefined, '128 MiB')
      assert.equal(kdfParamsProblem({N: 2 ** 20, p: 16, r: 1}), undefined, '128 MiB')
      // 128·8·2^18 is 256 MiB exactly: the two extra blocks of N+2 tip it over.
      assert.equal(kdfParamsProblem({N: 2 ** 18, p: 1, r: 8}), 'scrypt N=262144 r=8 needs more than 256 MiB')
      assert.equal(kdfParamsProblem({N: 2 ** 21, p: 1, r: 1}), 'scrypt N=2097152 r=1 needs more than 256 MiB')
      assert.equal(kdfParamsProblem({N: 2 ** 10, p: 16, r: 64}), undefined)
      // 128·64·(2^15+2) is 16 KiB over 256 MiB, and B's 128·64·2 is added to it, not taken away.
      assert.equal(kdfParamsProblem({N: 2 ** 15, p: 2, r: 64}), 'scrypt N=32768 r=64 needs more than 256 MiB')
    })
  })

  describe('key derivation', () => {
    it('is scrypt with the recorded parameters, 32 bytes, whatever the parameters', async () => {
      const salt = Buffer.alloc(16, 3)
      for (const params of [CHEAP, {N: 2048, p: 2, r: 4}, {N: 2 ** 18 / 2, p: 1, r: 8}]) {
        const key = await deriveKey('pass', salt, params)
        assert.equal(key.length, 32)
        const expected = scryptSync('pass', salt, 32, {...params, maxmem: 512 * 1024 * 1024})
        assert.ok(key.equals(expected), JSON.stringify(params))
      }
    })

    it('refuses parameters out of range before running anything', async () => {
      await assert.rejects(deriveKey('pass', Buffer.alloc(16), {N: 2 ** 18, p: 1, r: 8}), {message: 'scrypt N=262144 r=8 needs more than 256 MiB', name: 'RangeError'})
    })

    it('the key check is recorded in the header: a wrong passphrase is known before decrypting', async () => {
      const key = await deriveKey(FIXTURE_PASSPHRASE, parseEnvelope(FIXTURE).salt, FIXTURE_PARAMS)
      assert.ok(keyCheck(key).equals(parseEnvelope(FIXTURE).check))
      assert.equal(keyCheck(key).length, 16)
      assert.ok(!keyCheck(Buffer.alloc(32)).equals(keyCheck(key)))
    })

    it('a memoised derivation derives the same keys as deriveKey, one per salt and parameters', async () => {
      const derive = memoisedDerive('pass')
      const salt = Buffer.alloc(16, 5)
      const otherSalt = Buffer.alloc(16, 6)
      const first = derive(salt, CHEAP)
      assert.equal(derive(salt, {...CHEAP}), first, 'the same salt and parameters: the same derivation')
      assert.ok((await first).equals(await deriveKey('pass', salt, CHEAP)))
      const variants = [derive(otherSalt, CHEAP), derive(salt, {...CHEAP, N: 2048}), derive(salt, {...CHEAP, r: 4}), derive(salt, {...CHEAP, p: 2})]
      const keys = await Promise.all([first, ...variants])
      assert.equal(new Set(keys.map((key) => key.toString('hex'))).size, keys.length, 'each salt and parameter set has its own key')
      assert.ok(keys[4].equals(await deriveKey('pass', salt, {...CHEAP, p: 2})))
    })

    it('a memoised derivation that failed is tried again, not remembered', async () => {
      const derive = memoisedDerive('pass')
      const bad = {N: 3, p: 1, r: 1}
      const failed = derive(Buffer.alloc(16), bad)
      await assert.rejects(failed, RangeError)
      await new Promise((resolve) => setImmediate(resolve))
      assert.notEqual(derive(Buffer.alloc(16), bad), failed)
      await assert.rejects(derive(Buffer.alloc(16), bad), RangeError)
    })
  })
})
