/**
 * Which commands `token user --browser` tries, in order (src/lib/oauth/browser.ts): `$BROWSER` as
 * Python's webbrowser, gh and git read it, then the system's opener.
 */
import {strict as assert} from 'node:assert'

import {browserCommands} from '../../src/lib/oauth/browser.js'

const URL = 'http://127.0.0.1:8400/auth?client_id=cli&scope=a%20b&state=x'

describe('the browser of a sign-in', () => {
  it('without $BROWSER: xdg-open, open on macOS, start on Windows', () => {
    assert.deepEqual(browserCommands(URL, {}, 'linux'), [['xdg-open', [URL]]])
    assert.deepEqual(browserCommands(URL, {BROWSER: ''}, 'linux'), [['xdg-open', [URL]]])
    assert.deepEqual(browserCommands(URL, {}, 'darwin'), [['open', [URL]]])
    assert.deepEqual(browserCommands(URL, {}, 'win32'), [['cmd', ['/c', 'start', '""', URL]]])
  })

  it('$BROWSER first: each entry given the URL, in place of %s where it says %s, else as its last argument', () => {
    assert.deepEqual(browserCommands(URL, {BROWSER: 'wslview'}, 'linux'), [
      ['wslview', [URL]],
      ['xdg-open', [URL]],
    ])
    assert.deepEqual(browserCommands(URL, {BROWSER: 'firefox --new-tab %s::  :open -a Safari'}, 'linux'), [
      ['firefox', ['--new-tab', URL]],
      ['open', ['-a', 'Safari', URL]],
      ['xdg-open', [URL]],
    ])
    assert.deepEqual(browserCommands(URL, {BROWSER: '/opt/browser --url=%s --profile %s-x'}, 'linux')[0], ['/opt/browser', [`--url=${URL}`, '--profile', `${URL}-x`]])
  })

  it('separates entries with ; on Windows, where : is part of a path', () => {
    assert.deepEqual(browserCommands(URL, {BROWSER: String.raw`C:\Browsers\chrome.exe %s;msedge`}, 'win32'), [
      [String.raw`C:\Browsers\chrome.exe`, [URL]],
      ['msedge', [URL]],
      ['cmd', ['/c', 'start', '""', URL]],
    ])
  })
})
