/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries send them from `/v2/` and from
 * any endpoint that needs credentials:
 *
 *   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
 *   Basic realm="Registry Realm"
 *
 * One header may carry several challenges (Node joins repeated headers with ", "). Scheme names
 * compare case-insensitively and come back lower-cased; parameter names are lower-cased too.
 */

export interface Challenge {
  /** `bearer`, `basic`, … (lower case). */
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** Parses every challenge in the header; malformed trailing input is ignored. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  let current: Challenge | undefined;

  const skip = (chars: RegExp): void => {
    while (i < text.length && chars.test(text[i]!)) i++;
  };

  while (i < text.length) {
    skip(/[\s,]/);
    const m = TOKEN.exec(text.slice(i));
    if (!m) break;
    const word = m[0];
    const after = i + word.length;
    // `name=` starts a parameter of the current challenge; anything else starts a new challenge.
    let j = after;
    while (j < text.length && (text[j] === ' ' || text[j] === '\t')) j++;
    if (current && text[j] === '=' && text[j + 1] !== '=') {
      i = j + 1;
      skip(/[ \t]/);
      let value: string;
      if (text[i] === '"') {
        i++;
        value = '';
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++; // closing quote
      } else {
        // Servers should quote anything but a token; be lenient with unquoted URLs.
        const v = /^[^\s,]+/.exec(text.slice(i));
        value = v ? v[0] : '';
        i += value.length;
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    i = after;
  }
  return out;
}

/** The challenge Pallet can answer: Bearer first (it carries scope), then Basic. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
}
