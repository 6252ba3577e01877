/**
 * The small Response and Headers of src/lib/http/answer.ts, which the fast path's openid-client takes
 * for fetch's: each method that openid-client, oauth4webapi and tokenctl use is held to what fetch's
 * own class answers for the same input, side by side.
 */
import {strict as assert} from 'node:assert'

import {Answer, AnswerHeaders} from '../../src/lib/http/answer.js'

/** oauth4webapi's test of a Response or Headers: instanceof, or the same Symbol.toStringTag. */
function looseInstanceOf(input: unknown, expected: {prototype: object}): boolean {
  return input instanceof (expected as never) || Object.getPrototypeOf(input)[Symbol.toStringTag] === (expected.prototype as Record<symbol, unknown>)[Symbol.toStringTag]
}

const asPairs = (headers: Iterable<[string, string]>) => [...headers]

describe("the small Response and Headers (answer.ts), side by side with fetch's", () => {
  describe('headers', () => {
    const inputs: Array<[string, Record<string, string> | Array<[string, string]>]> = [
      ['an object, names in any case', {Accept: 'application/json', 'X-B': 'b', 'content-type': 'text/plain'}],
      [
        'pairs with a repeated name, joined by ", "',
        [
          ['x-a', '1'],
          ['X-A', '2'],
          ['b', 'c'],
        ],
      ],
      [
        'values with whitespace around them, dropped',
        [
          ['x', '  padded\t'],
          ['y', '\tinner value  '],
        ],
      ],
      [
        'empty values',
        [
          ['x', ''],
          ['y', '  '],
        ],
      ],
    ]
    for (const [what, input] of inputs) {
      it(`read from ${what}: get, has, entries (lower case, sorted), keys, values, forEach, as fetch's`, () => {
        const ours = new AnswerHeaders(input)
        const theirs = new Headers(input)
        assert.deepEqual(asPairs(ours), asPairs(theirs))
        assert.deepEqual(asPairs(ours.entries()), asPairs(theirs.entries()))
        assert.deepEqual([...ours.keys()], [...theirs.keys()])
        assert.deepEqual([...ours.values()], [...theirs.values()])
        const seen: Array<[string, string]> = []
        ours.forEach((value, name, headers) => {
          assert.equal(headers, ours)
          seen.push([name, value])
        })
        assert.deepEqual(seen, asPairs(theirs))
        for (const name of ['accept', 'ACCEPT', 'x-a', 'X-A', 'x', 'y', 'missing']) {
          assert.equal(ours.get(name), theirs.get(name), name)
          assert.equal(ours.has(name), theirs.has(name), name)
        }
      })
    }

    it("set, append and delete as fetch's; another Headers (ours or fetch's) as input", () => {
      const ours = new AnswerHeaders({a: '1'})
      const theirs = new Headers({a: '1'})
      for (const headers of [ours, theirs]) {
        headers.append('A', '2')
        headers.set('B', 'x')
        headers.set('b', 'y')
        headers.append('c', 'z')
        headers.delete('C')
      }

      assert.deepEqual(asPairs(ours), asPairs(theirs))
      assert.deepEqual(asPairs(new AnswerHeaders(theirs)), asPairs(theirs))
      assert.deepEqual(asPairs(new AnswerHeaders(ours)), asPairs(theirs))
      assert.deepEqual(asPairs(new Headers(ours as unknown as Headers)), asPairs(theirs), "fetch's Headers reads ours")
      assert.deepEqual(Object.fromEntries(new AnswerHeaders().entries()), {})
    })

    it("refuses what fetch's refuses: a name that is not a token, a value with CR, LF or NUL", () => {
      for (const [name, value] of [
        ['bad name', 'v'],
        ['x:y', 'v'],
        ['', 'v'],
        ['x', 'a\r\nb'],
        ['x', 'a\nb'],
        ['x', 'a\u0000b'],
      ]) {
        assert.throws(() => new Headers([[name, value]]), TypeError, `fetch's: ${JSON.stringify([name, value])}`)
        assert.throws(() => new AnswerHeaders([[name, value]]), TypeError, JSON.stringify([name, value]))
        assert.throws(() => new AnswerHeaders().set(name, value), TypeError)
        assert.throws(() => new AnswerHeaders().append(name, value), TypeError)
      }

      assert.doesNotThrow(() => new AnswerHeaders([["!#$%&'*+-.^_`|~09azAZ", 'any "text" \u00e9']]))
    })

    it("passes for a Headers where oauth4webapi looks for one, and fetch's passes for ours", () => {
      assert.ok(looseInstanceOf(new AnswerHeaders(), Headers))
      assert.ok(looseInstanceOf(new Headers(), AnswerHeaders))
      assert.equal(Object.prototype.toString.call(new AnswerHeaders()), '[object Headers]')
    })
  })

  describe('a response', () => {
    const bytes = Buffer.from('\uFEFF{"access_token":"t","é":"ü"}')
    const init = {
      headers: [
        ['Content-Type', 'application/json'],
        ['WWW-Authenticate', 'Bearer error="invalid_token"'],
      ] as Array<[string, string]>,
      status: 401,
      statusText: 'Unauthorized',
    }

    it("status, statusText, ok, headers, text and JSON (a byte-order mark dropped), as fetch's", async () => {
      const ours = new Answer(bytes, init)
      const theirs = new Response(bytes, init)
      assert.deepEqual([ours.status, ours.statusText, ours.ok, ours.redirected, ours.type], [theirs.status, theirs.statusText, theirs.ok, theirs.redirected, 'basic'])
      assert.deepEqual(asPairs(ours.headers), asPairs(theirs.headers))
      assert.deepEqual(await ours.clone().json(), await theirs.clone().json())
      assert.equal(await ours.clone().text(), await theirs.clone().text())
      assert.deepEqual(new Uint8Array(await ours.arrayBuffer()), new Uint8Array(await theirs.arrayBuffer()))
      for (const status of [200, 204, 299]) assert.equal(new Answer(Buffer.alloc(0), {status}).ok, true)
      for (const status of [199, 300, 999, 101]) assert.equal(new Answer(Buffer.alloc(0), {status}).ok, false)
      assert.equal(new Answer(Buffer.alloc(0), {status: 200}).statusText, '')
    })

    it("made as openid-client makes a Response of its own (a JSON text, headers, no status), or with no body, as fetch's", async () => {
      const text = '{"access_token":"decoy","token_type":"bearer"}'
      const ours = new Answer(text, {headers: new AnswerHeaders({'content-type': 'application/json'})})
      const theirs = new Response(text, {headers: new Headers({'content-type': 'application/json'})})
      assert.deepEqual([ours.status, ours.ok, ours.headers.get('content-type')], [theirs.status, theirs.ok, theirs.headers.get('content-type')])
      assert.deepEqual(await ours.json(), await theirs.json())
      const empty = new Answer(undefined)
      assert.deepEqual([empty.status, empty.body, await empty.text()], [200, null, ''])
    })

    it("is read once: a second read, or a clone after one, fails as fetch's does; a clone read first leaves it whole", async () => {
      const ours = new Answer(bytes, init)
      const theirs = new Response(bytes, init)
      for (const response of [ours, theirs]) {
        assert.equal(response.bodyUsed, false)
        await response.clone().text()
        assert.equal(response.bodyUsed, false)
        await response.text()
        assert.equal(response.bodyUsed, true)
        await assert.rejects(response.text(), TypeError)
        await assert.rejects(response.json(), TypeError)
        assert.throws(() => response.clone(), TypeError)
      }
    })

    it("JSON that does not parse rejects with a SyntaxError, as fetch's does; text that is not UTF-8 is replaced, not refused", async () => {
      await assert.rejects(new Answer(Buffer.from('<html>'), {status: 200}).json(), SyntaxError)
      await assert.rejects(new Response('<html>').json(), SyntaxError)
      const invalid = Buffer.from([0x61, 0xff, 0x62])
      assert.equal(await new Answer(invalid, {status: 200}).text(), await new Response(invalid).text())
    })

    it('its body is a stream of the same bytes, made when asked for; none when there are none', async () => {
      const ours = new Answer(Buffer.from('error page'), {status: 500})
      const reader = ours.body!.getReader()
      const chunks: Uint8Array[] = []
      for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value)
      assert.equal(Buffer.concat(chunks).toString(), 'error page')
      assert.equal(ours.body, ours.body, 'one stream')
      assert.equal(new Answer(Buffer.alloc(0), {status: 204}).body, null)
      await new Answer(Buffer.from('x'), {status: 503}).body?.cancel()
    })

    it("passes for a Response where oauth4webapi looks for one, and fetch's passes for ours", () => {
      assert.ok(looseInstanceOf(new Answer(Buffer.alloc(0), {status: 200}), Response))
      assert.ok(looseInstanceOf(new Response(), Answer))
      assert.equal(Object.prototype.toString.call(new Answer(Buffer.alloc(0), {status: 200})), '[object Response]')
    })
  })
})
