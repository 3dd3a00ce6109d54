/**
 * A clamp given as a command-line flag value (`--clamp SPEC`, spec §4), parsed with the clamps module's
 * short-form parser. Its errors are re-worded to name the flag and the value given: the parser validates
 * through the run.json list path, so its messages start with "clamps[0]", which a user of the flag never
 * wrote.
 */
import { parseClampFlag, type ClampSpec, type ModelShape } from './clamps/spec';

/** The error message for a flag value: `--clamp "path-patch:L1H2>L1H3": a path-patch edge's receiver …`. */
function clampArgMessage(flag: string, text: string, message: string): string {
  const quoted = `clamp "${text}": `;
  const body = message.startsWith(quoted)
    ? message.slice(quoted.length)
    : message.replace(/^clamps\[0\](?:\.|: )?/, '');
  return `${flag} ${JSON.stringify(text)}: ${body}`;
}

/** Parses one `--clamp` value; throws an Error whose message names the flag and its value. */
export function parseClampArg(text: string, m: ModelShape, flag = '--clamp'): ClampSpec {
  try {
    return parseClampFlag(text, m);
  } catch (e) {
    throw new Error(clampArgMessage(flag, text, (e as Error).message));
  }
}
