/**
 * A number JSON.parse cannot hold as written, found in the text: JSON.parse itself only shows the
 * double it made (1e400 is Infinity, 1e-400 is 0, 12345678901234567890 ends in 000), so a value
 * the CLI stores would differ from what the user typed without a word. A decimal fraction or an
 * exponent (0.1, 6.02e23) is taken as the nearest double, as JSON has always meant it; an integer
 * written out in digits must come through as written.
 */

/** The first number token in `json` (text that is JSON) that would not come through; undefined if none. */
export function inexactNumberIn(json: string): string | undefined {
  for (let at = 0; at < json.length; at++) {
    const char = json.charCodeAt(at);
    if (char === 0x22) {
      // a string: skipped whole, escapes included
      for (at++; json.charCodeAt(at) !== 0x22; at++) if (json.charCodeAt(at) === 0x5c) at++;
      continue;
    }
    if (char !== 0x2d && (char < 0x30 || char > 0x39)) continue;
    const token = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(json.slice(at, at + 1100))?.[0] ?? '';
    at += token.length - 1;
    const value = Number(token);
    if (!Number.isFinite(value)) return token;
    const [mantissa = ''] = token.split(/[eE]/);
    if (value === 0 && /[1-9]/.test(mantissa)) return token;
    // An integer comes through if it is the double exactly, or what the double is written as
    // (65308706726073690 is; 12345678901234567890 reads back as 12345678901234567000).
    if (/^-?\d+$/.test(token) && BigInt(token) !== BigInt(value) && JSON.stringify(value) !== token) return token;
  }
  return undefined;
}
