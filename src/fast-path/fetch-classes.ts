/**
 * What the fast path's openid-client (scripts/build.mjs: dist/fast-path/openid-client.cjs) takes for
 * the Headers and Response of fetch: the small ones of ../lib/http/answer.ts, so that a token request
 * never loads the module of Node's fetch (README, "Performance"). A Response from that fetch (through
 * a proxy, with --ca-file) still passes for one: both say what they are in Symbol.toStringTag.
 */
export {Answer as Response, AnswerHeaders as Headers} from '../lib/http/answer.js'
