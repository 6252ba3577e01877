/**
 * Text from outside (a server's error_description, a device code, a trace line, a claims challenge)
 * is data, not terminal control: before it reaches a person's terminal, every character a terminal
 * would act on is shown as a visible escape instead. What is escaped:
 * - C0 controls and DEL: `\n`, `\r`, `\t`, else `\xHH` (ESC is `\x1b`): cursor moves, colours,
 *   clearing the screen, setting the window title, OSC 8 links, a carriage return that overwrites;
 * - C1 controls U+0080–U+009F as `\u00HH` (U+009B is a one-character CSI on some terminals);
 * - the Unicode controls that reorder or break what is shown (bidi embeddings, overrides and
 *   isolates, LRM/RLM/ALM, the line and paragraph separators) as `\uHHHH`.
 * A backslash itself is left as it is: the output is for people, not for a parser.
 */

// eslint-disable-next-line no-control-regex -- the control characters are what this pattern is for
const TERMINAL_CONTROL = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g
// JSON.stringify already escapes C0 (as \u001b, \n…); what it leaves raw is the rest.
const JSON_LEFT_RAW = /[\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g

const SHORT: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

const hex = (character: string, width: number) => character.codePointAt(0)!.toString(16).padStart(width, '0')

function escapeOne(character: string): string {
  const code = character.codePointAt(0)!
  if (SHORT[character]) return SHORT[character]
  if (code < 0x80) return `\\x${hex(character, 2)}`
  return `\\u${hex(character, 4)}`
}

/** One piece of outside text, safe to show on a terminal: line breaks in it are escaped too. */
export function escapeControls(text: string): string {
  return text.replace(TERMINAL_CONTROL, escapeOne)
}

/** Several lines that are ours, joined by `\n`, each escaped as outside text. */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeControls).join('\n')
}

/**
 * JSON text with what JSON.stringify leaves raw (DEL, C1, bidi controls, U+2028/U+2029) written as
 * `\uHHHH`: the same JSON to any parser, harmless on a terminal. These characters can only occur
 * inside JSON strings, where `\uHHHH` means exactly them.
 */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_LEFT_RAW, (character) => `\\u${hex(character, 4)}`)
}
