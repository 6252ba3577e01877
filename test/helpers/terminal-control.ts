/**
 * Every class of character that src/lib/terminal-text.ts escapes before outside text reaches a
 * terminal, one hostile sample each, with the visible escape it must become. A test feeds HOSTILE_TEXT
 * (all of them) through a path and asserts with assertNoTerminalControl that none came out raw, and
 * that HOSTILE_TEXT_ESCAPED came out instead: a class the escaping lost fails the test.
 */
import {strict as assert} from 'node:assert'

export interface ControlSample {
  name: string
  raw: string
  escaped: string
}

export const CONTROL_SAMPLES: ControlSample[] = [
  {name: 'C0: NUL', raw: '\u0000', escaped: '\\x00'},
  {name: 'C0: BEL', raw: '\u0007', escaped: '\\x07'},
  {name: 'C0: backspace', raw: '\u0008', escaped: '\\x08'},
  {name: 'C0: tab', raw: '\t', escaped: '\\t'},
  {name: 'C0: carriage return (overwrites the line)', raw: '\r', escaped: '\\r'},
  {name: 'C0: unit separator', raw: '\u001f', escaped: '\\x1f'},
  {name: 'ESC: CSI clear screen', raw: '\u001b[2J', escaped: '\\x1b[2J'},
  {name: 'ESC: OSC set window title', raw: '\u001b]0;pwned\u0007', escaped: '\\x1b]0;pwned\\x07'},
  {name: 'ESC: OSC 8 link', raw: '\u001b]8;;https://evil.example\u001b\\', escaped: '\\x1b]8;;https://evil.example\\x1b\\'},
  {name: 'DEL', raw: '\u007f', escaped: '\\x7f'},
  {name: 'C1: NEL', raw: '\u0085', escaped: '\\u0085'},
  {name: 'C1: CSI (one character)', raw: '\u009b31m', escaped: '\\u009b31m'},
  {name: 'C1: APC', raw: '\u009f', escaped: '\\u009f'},
  {name: 'bidi: ALM', raw: '\u061c', escaped: '\\u061c'},
  {name: 'bidi: LRM', raw: '\u200e', escaped: '\\u200e'},
  {name: 'bidi: RLM', raw: '\u200f', escaped: '\\u200f'},
  {name: 'line separator', raw: '\u2028', escaped: '\\u2028'},
  {name: 'paragraph separator', raw: '\u2029', escaped: '\\u2029'},
  {name: 'bidi embedding: LRE', raw: '\u202a', escaped: '\\u202a'},
  {name: 'bidi embedding: RLE', raw: '\u202b', escaped: '\\u202b'},
  {name: 'bidi: PDF', raw: '\u202c', escaped: '\\u202c'},
  {name: 'bidi override: LRO', raw: '\u202d', escaped: '\\u202d'},
  {name: 'bidi override: RLO', raw: '\u202e', escaped: '\\u202e'},
  {name: 'bidi isolate: LRI', raw: '\u2066', escaped: '\\u2066'},
  {name: 'bidi isolate: RLI', raw: '\u2067', escaped: '\\u2067'},
  {name: 'bidi isolate: FSI', raw: '\u2068', escaped: '\\u2068'},
  {name: 'bidi isolate: PDI', raw: '\u2069', escaped: '\\u2069'},
]

/** Every sample in a row, between visible markers; no line feed, so no first-line cut drops a sample. */
export const HOSTILE_TEXT = `<${CONTROL_SAMPLES.map((sample) => sample.raw).join('|')}>`
/** HOSTILE_TEXT as it must appear on a terminal. */
export const HOSTILE_TEXT_ESCAPED = `<${CONTROL_SAMPLES.map((sample) => sample.escaped).join('|')}>`

// eslint-disable-next-line no-control-regex -- the control characters are what this pattern looks for
const TERMINAL_CONTROL = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/

/** No character a terminal would act on; `\n` (ours) is the only control allowed. Names the class found. */
export function assertNoTerminalControl(text: string, where: string): void {
  const found = TERMINAL_CONTROL.exec(text)?.[0]
  if (found === undefined) return
  const sample = CONTROL_SAMPLES.find((candidate) => candidate.raw.includes(found))
  const code = `U+${found.codePointAt(0)!.toString(16).padStart(4, '0')}`
  assert.fail(`${where} carries a raw control character ${code}${sample ? ` (${sample.name})` : ''}:\n${JSON.stringify(text)}`)
}
